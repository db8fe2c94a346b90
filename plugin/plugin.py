"""Plugin lifecycle: the Processing provider, the "Landslide AI" menu and toolbar, the dock, Diagnostics.

Everything the user runs goes through Processing (``processing.execAlgorithmDialog``), so the menu
is a shortcut into the toolbox, not a second code path: batch mode, models, history and
``qgis_process`` all see the same algorithms.
"""

from __future__ import annotations

from qgis.core import QgsApplication

from ..algorithms.base import GROUPS, RESOURCES
from ..algorithms.provider import LandslideAIProvider


def icon_path(name: str) -> str:
    """Path of an SVG icon in resources/icons."""
    return str(RESOURCES / "icons" / f"{name}.svg")


#: toolbar shortcuts, in the order of the work
TOOLBAR_ALGORITHMS = ("lsm_stack_factors", "lsm_train", "lsm_predict", "crack_predict", "crack_gradcam")


class LandslideAIPlugin:
    """What QGIS instantiates through ``classFactory``."""

    MENU = "&Landslide AI"

    def __init__(self, iface) -> None:
        if iface is not None:  # the desktop (GL driver loaded), not qgis_process
            from .triton_guard import block_triton

            self.triton_blocked = block_triton()
        self.iface = iface
        self.provider: LandslideAIProvider | None = None
        self.actions: list = []
        self.menu = None
        self.toolbar = None
        self.dock = None
        self.dock_action = None
        self.label_action = None
        self.label_tool = None

    def initProcessing(self) -> None:
        """Register the provider (also called by qgis_process, which has no GUI)."""
        if self.provider is None:
            self.provider = LandslideAIProvider()
            QgsApplication.processingRegistry().addProvider(self.provider)

    def initGui(self) -> None:
        """Provider, menu (one submenu per toolbox group), toolbar, dock and the load-time dependency check."""
        self.initProcessing()
        if self.iface is None:
            return
        from qgis.PyQt.QtGui import QIcon
        from qgis.PyQt.QtWidgets import QAction, QMenu

        main = self.iface.mainWindow()
        self.menu = QMenu("Landslide AI", main)
        self.menu.setObjectName("LandslideAIMenu")
        self.menu.setIcon(QIcon(icon_path("landslideai")))
        by_id: dict[str, QAction] = {}
        for group_id, group_name in GROUPS.items():
            sub = self.menu.addMenu(QIcon(icon_path(group_id)), group_name.replace("&", "&&"))  # "&" is a mnemonic
            for alg in self.provider.algorithms():
                if alg.group() != group_name:  # models report their group name as id
                    continue
                action = QAction(alg.icon(), alg.displayName(), main)
                action.setObjectName(f"LandslideAI_{alg.name()}")
                alg_id = alg.id()
                action.triggered.connect(lambda _=False, a=alg_id: self._open(a))
                sub.addAction(action)
                by_id[alg.name()] = action
                self.actions.append(action)
        self.menu.addSeparator()
        self.dock_action = QAction(QIcon(icon_path("dock")), "Results dock (plots)", main)
        self.dock_action.setObjectName("LandslideAI_dock")
        self.dock_action.setCheckable(True)
        self.dock_action.toggled.connect(self._toggle_dock)
        diag = QAction(QIcon(icon_path("diagnostics")), "Diagnostics…", main)
        diag.setObjectName("LandslideAI_diagnostics")
        diag.triggered.connect(self.show_diagnostics)
        packages = QAction(QIcon(icon_path("diagnostics")), "Install Python packages…", main)
        packages.setObjectName("LandslideAI_install_packages")
        packages.triggered.connect(self.show_installer)
        self.menu.addAction(self.dock_action)
        self.menu.addAction(diag)
        self.menu.addAction(packages)
        self.actions += [self.dock_action, diag, packages]
        self.iface.pluginMenu().addMenu(self.menu)

        self.toolbar = self.iface.addToolBar("Landslide AI")
        self.toolbar.setObjectName("LandslideAIToolbar")
        for name in TOOLBAR_ALGORITHMS:
            if name in by_id:
                self.toolbar.addAction(by_id[name])
        self.label_action = QAction(QIcon(icon_path("cracks")), "Label crack chips on the map", main)
        self.label_action.setObjectName("LandslideAI_label_chips")
        self.label_action.setCheckable(True)
        self.label_action.setToolTip(
            "Label crack chips: left click = crack, right click = crack-free, Shift + click = clear "
            "(on the active chip layer), then run 'Adapt the crack model to labelled chips'"
        )
        self.label_action.toggled.connect(self._toggle_label_tool)
        self.menu.addAction(self.label_action)
        self.actions.append(self.label_action)
        self.toolbar.addAction(self.label_action)
        if "crack_adapt" in by_id:
            self.toolbar.addAction(by_id["crack_adapt"])
        self.toolbar.addSeparator()
        self.toolbar.addAction(self.dock_action)
        self.toolbar.addAction(diag)

        self._create_dock()
        self._warn_missing_dependencies()

    # -- dock ------------------------------------------------------------------------------------
    def _create_dock(self) -> None:
        """The dock listens from load on, so that runs started before opening it still show."""
        from qgis.PyQt.QtCore import Qt

        from ..core.dependencies import status

        if not status("pyqtgraph").ok:
            self.dock_action.setEnabled(False)
            self.dock_action.setToolTip("The results dock needs pyqtgraph (" + status("pyqtgraph").problem + ")")
            return
        from ..ui.dock import LandslideAIDock

        self.dock = LandslideAIDock(self.iface.mainWindow())
        self.iface.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.dock)
        self.dock.hide()
        self.dock.visibilityChanged.connect(self.dock_action.setChecked)

    def _toggle_dock(self, on: bool) -> None:
        if self.dock is not None:
            self.dock.setVisible(on)

    # -- diagnostics -----------------------------------------------------------------------------
    def show_diagnostics(self):
        """Open the Diagnostics dialog (non-modal); returns it."""
        from qgis.core import QgsApplication

        from ..ui.diagnostics import DiagnosticsDialog
        from .installer import Layout, folder_state

        layout = Layout.for_profile(QgsApplication.qgisSettingsDirPath())
        self._diagnostics = DiagnosticsDialog(self.iface.mainWindow(), folder_state(layout), self.show_installer)
        self._diagnostics.show()
        return self._diagnostics

    def show_installer(self):
        """Open the package installer (non-modal); returns it."""
        from .installer_dialog import InstallerDialog

        self._installer = InstallerDialog(self.iface.mainWindow())
        self._installer.show()
        return self._installer

    def _warn_missing_dependencies(self) -> None:
        """One message-bar warning at load when packages are missing, with a button to Diagnostics."""
        from qgis.core import Qgis
        from qgis.PyQt.QtWidgets import QPushButton

        from ..core.dependencies import all_status

        bad = [s.dependency.distribution for s in all_status() if not s.ok]
        if not bad:
            return
        bar = self.iface.messageBar()
        widget = bar.createMessage(
            "Landslide AI",
            f"Missing or outdated: {', '.join(bad)}. Every algorithm is listed; the models and steps that need "
            "these packages say so when chosen.",
        )
        button = QPushButton("Install Python packages…")
        button.clicked.connect(self.show_installer)
        widget.layout().addWidget(button)
        button = QPushButton("Diagnostics…")
        button.clicked.connect(self.show_diagnostics)
        widget.layout().addWidget(button)
        bar.pushWidget(widget, Qgis.Warning, 0)

    def _toggle_label_tool(self, on: bool) -> None:
        """Switch the chip-labelling map tool on (and back to panning off)."""
        from ..ui.label_tool import ChipLabelTool

        canvas = self.iface.mapCanvas()
        if on:
            self.label_tool = ChipLabelTool(canvas, self.iface)
            self.label_tool.setAction(self.label_action)
            canvas.setMapTool(self.label_tool)
        elif getattr(self, "label_tool", None) is not None and canvas.mapTool() is self.label_tool:
            canvas.unsetMapTool(self.label_tool)

    def _open(self, alg_id: str) -> None:
        import processing

        processing.execAlgorithmDialog(alg_id, {})

    def unload(self) -> None:
        """Remove everything initGui/initProcessing added."""
        if self.iface is not None:
            if self.menu is not None:
                self.iface.pluginMenu().removeAction(self.menu.menuAction())
                self.menu.deleteLater()
            if self.label_tool is not None and self.iface.mapCanvas().mapTool() is self.label_tool:
                self.iface.mapCanvas().unsetMapTool(self.label_tool)
            self.label_tool = None
            if self.toolbar is not None:
                self.toolbar.deleteLater()
            if self.dock is not None:
                self.dock.shutdown()
                self.iface.removeDockWidget(self.dock)
                self.dock.deleteLater()
        self.menu = self.toolbar = self.dock = None
        self.actions = []
        if self.provider is not None:
            QgsApplication.processingRegistry().removeProvider(self.provider)
            self.provider = None
