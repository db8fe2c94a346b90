"""QGIS Processing adapters over the engine in ``core``: parameters in, one engine call, outputs out."""
