"""Plugin lifecycle: register the Processing provider, add the menu and toolbar entries."""

from __future__ import annotations

from qgis.core import QgsApplication

from ..algorithms.provider import LandslideAIProvider


class LandslideAIPlugin:
    """What QGIS instantiates through ``classFactory``."""

    MENU = "&Landslide AI"

    def __init__(self, iface) -> None:
        self.iface = iface
        self.provider: LandslideAIProvider | None = None
        self.actions: list = []

    def initProcessing(self) -> None:  # noqa: N802 - QGIS API name
        """Register the provider (also called by qgis_process, which has no GUI)."""
        if self.provider is None:
            self.provider = LandslideAIProvider()
            QgsApplication.processingRegistry().addProvider(self.provider)

    def initGui(self) -> None:  # noqa: N802
        """Provider plus a menu with one entry per algorithm, opening its Processing dialog."""
        self.initProcessing()
        if self.iface is None:
            return
        from qgis.PyQt.QtGui import QIcon
        from qgis.PyQt.QtWidgets import QAction

        from ..algorithms.base import RESOURCES

        icon = QIcon(str(RESOURCES / "icons" / "landslideai.svg"))
        for alg in self.provider.algorithms():
            alg_id = alg.id()
            action = QAction(icon, alg.displayName(), self.iface.mainWindow())
            action.triggered.connect(lambda _=False, a=alg_id: self._open(a))
            self.iface.addPluginToMenu(self.MENU, action)
            self.actions.append(action)
        self.toolbar = self.iface.addToolBar("Landslide AI")
        self.toolbar.setObjectName("LandslideAIToolbar")
        if self.actions:
            self.toolbar.addAction(self.actions[0])

    def _open(self, alg_id: str) -> None:
        import processing

        processing.execAlgorithmDialog(alg_id, {})

    def unload(self) -> None:
        """Remove everything initGui/initProcessing added."""
        if self.iface is not None:
            for a in self.actions:
                self.iface.removePluginMenu(self.MENU, a)
            if getattr(self, "toolbar", None) is not None:
                self.toolbar.deleteLater()
        self.actions = []
        if self.provider is not None:
            QgsApplication.processingRegistry().removeProvider(self.provider)
            self.provider = None
