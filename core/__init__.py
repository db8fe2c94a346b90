"""Landslide AI engine: QGIS-free numerics for susceptibility mapping and crack classification.

Nothing under ``core`` may import ``qgis`` or Qt: the same calls back the Processing algorithms,
the command line (``python -m core``) and the tests.
"""

__all__ = ["__version__"]

__version__ = "0.4.0"
