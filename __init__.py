"""Landslide AI QGIS plugin entry point.

Only ``classFactory`` lives here, importing the plugin lazily so that QGIS start-up does not pay
for torch or the engine until the plugin is actually loaded.
"""


def classFactory(iface):  # noqa: N802 - QGIS API name
    """Create the plugin instance (called by QGIS, and by qgis_process with ``iface=None``).

    First, the packages the user installed with the plugin's installer (a private folder of the
    QGIS profile) are put on ``sys.path``, so that every algorithm sees them (``plugin/installer.py``).
    """
    from qgis.core import QgsApplication

    from .plugin.installer import Layout, activate

    activate(Layout.for_profile(QgsApplication.qgisSettingsDirPath()))
    from .plugin.plugin import LandslideAIPlugin

    return LandslideAIPlugin(iface)
