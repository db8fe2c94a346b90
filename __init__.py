"""Landslide AI QGIS plugin entry point.

Only ``classFactory`` lives here, importing the plugin lazily so that QGIS start-up does not pay
for torch or the engine until the plugin is actually loaded.
"""


def classFactory(iface):  # noqa: N802 - QGIS API name
    """Create the plugin instance (called by QGIS)."""
    from .plugin.plugin import LandslideAIPlugin

    return LandslideAIPlugin(iface)
