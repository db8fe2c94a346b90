"""The plugin loads through classFactory like QGIS loads it, and metadata is valid."""

import configparser
from pathlib import Path

from conftest import MENU_ORDER

ROOT = Path(__file__).resolve().parents[2]


def test_metadata_is_valid_for_the_plugin_repository():
    cp = configparser.ConfigParser()
    cp.read(ROOT / "metadata.txt")
    g = cp["general"]
    for key in (
        "name",
        "qgisMinimumVersion",
        "description",
        "about",
        "version",
        "author",
        "email",
        "repository",
        "tracker",
    ):
        assert g.get(key), key
    assert g["qgisMinimumVersion"] == "3.22" and g["hasProcessingProvider"] == "yes"
    assert "torch" in g["about"] and (ROOT / "LICENSE").exists()
    assert (ROOT / g["icon"]).exists()


def test_the_version_is_one_version_everywhere():
    """metadata.txt (what the plugin repository shows), core.__version__ (cards, logs), the CHANGELOG's top
    entry and metadata's changelog line name the same release."""
    import re

    from landslide_ai.core import __version__

    cp = configparser.ConfigParser()
    cp.read(ROOT / "metadata.txt")
    top = re.search(r"^## (\S+)", (ROOT / "CHANGELOG.md").read_text(encoding="utf-8"), re.M)
    assert top is not None
    assert cp["general"]["version"] == __version__ == top.group(1)
    assert cp["general"]["changelog"].startswith(f"{__version__}:")


_KEEP: list = []


def _restore_provider(reg) -> None:
    """Leave the registry as the session fixture expects; the registry does not own Python objects."""
    from landslide_ai.algorithms.provider import LandslideAIProvider

    _KEEP.append(LandslideAIProvider())
    reg.addProvider(_KEEP[-1])


def test_class_factory_registers_provider_and_unloads(qgis_app):
    from qgis.core import QgsApplication

    import landslide_ai

    plugin = landslide_ai.classFactory(None)
    reg = QgsApplication.processingRegistry()
    before = {p.id() for p in reg.providers()}
    if "landslideai" in before:  # the session fixture registered one already: use a fresh registry view
        reg.removeProvider(reg.providerById("landslideai"))
    plugin.initGui()
    try:
        prov = reg.providerById("landslideai")
        assert prov is not None
        ids = {a.name() for a in prov.algorithms()}
        assert {
            "lsm_derive_terrain",
            "lsm_stack_factors",
            "lsm_cf_map",
            "lsm_sample_absences",
            "lsm_train",
            "lsm_predict",
        } <= ids
        for a in prov.algorithms():
            assert a.shortHelpString() and "Method:" in a.shortHelpString()
            assert a.group().split(" ")[0] in {"1", "2", "3", "4", "5", "Cracks"}
    finally:
        plugin.unload()
        unloaded = reg.providerById("landslideai") is None
        _restore_provider(reg)  # a failure here must not take every later Processing test with it
    assert unloaded


def test_missing_package_disables_only_the_algorithms_that_need_it(qgis_app):
    from landslide_ai.algorithms.lsm_stack_factors import StackFactorsAlgorithm
    from landslide_ai.algorithms.lsm_train import TrainAlgorithm

    class Needy(TrainAlgorithm):
        REQUIRES = ("torch", "package_that_is_not_installed")

    ok, msg = Needy().canExecute()
    assert not ok and "package_that_is_not_installed" in msg and "pip install" in msg
    assert StackFactorsAlgorithm().canExecute() == (True, "")


class FakeIface:
    """The part of QgisInterface the plugin uses, over a real QMainWindow (no QGIS desktop needed)."""

    def __init__(self):
        from qgis.gui import QgsMessageBar
        from qgis.PyQt.QtWidgets import QMainWindow, QMenu

        self._main = QMainWindow()
        self._plugin_menu = QMenu("Plugins", self._main)
        self._bar = QgsMessageBar(self._main)
        self.docks = []

    def mainWindow(self):
        return self._main

    def pluginMenu(self):
        return self._plugin_menu

    def addToolBar(self, name):
        return self._main.addToolBar(name)

    def addDockWidget(self, area, dock):
        self.docks.append(dock)
        self._main.addDockWidget(area, dock)

    def removeDockWidget(self, dock):
        self.docks.remove(dock)
        self._main.removeDockWidget(dock)

    def messageBar(self):
        return self._bar


def test_menu_has_one_submenu_per_group_plus_dock_and_diagnostics(qgis_app):
    from qgis.core import QgsApplication

    import landslide_ai
    from landslide_ai.algorithms import events

    reg = QgsApplication.processingRegistry()
    if reg.providerById("landslideai") is not None:
        reg.removeProvider("landslideai")
    iface = FakeIface()
    plugin = landslide_ai.classFactory(iface)
    plugin.initGui()
    try:
        menu = next(a.menu() for a in iface.pluginMenu().actions() if a.text() == "Landslide AI")
        # "&" is doubled in menu titles: a single one would be taken as a keyboard mnemonic ("3 Train _evaluate")
        subs = {a.text().replace("&&", "&"): [x.text() for x in a.menu().actions()] for a in menu.actions() if a.menu()}
        assert "3 Train && evaluate" in [a.text() for a in menu.actions()]
        assert list(subs) == MENU_ORDER
        assert sorted(subs["5 Workflows (models)"]) == ["Crack mapping workflow", "Susceptibility mapping workflow"]
        assert "Train and compare susceptibility models" in subs["3 Train & evaluate"]
        assert "Evaluate a susceptibility map" in subs["3 Train & evaluate"]
        assert "Aggregate susceptibility to mapping units" in subs["4 Map & interpret"]
        assert len(subs["Cracks"]) == 7 and "Adapt the crack model to labelled chips" in subs["Cracks"]
        assert "Evaluate crack map against pixel labels" in subs["Cracks"]
        names = [a.text() for a in menu.actions() if not a.menu() and not a.isSeparator()]
        assert names == [
            "Results dock (plots)",
            "Diagnostics…",
            "Install Python packages…",
            "Label crack chips on the map",
        ]
        assert plugin.label_action.isCheckable() and plugin.label_action in plugin.toolbar.actions()
        assert not plugin.toolbar.actions()[0].icon().isNull()
        # the dock exists from load on (hidden) and listens to run events
        assert iface.docks == [plugin.dock] and plugin.dock.isHidden() and events.has_listeners()
        plugin.dock_action.setChecked(True)
        assert not plugin.dock.isHidden()  # the main window itself is not shown here
        dlg = plugin.show_diagnostics()
        text = dlg.copy()
        from qgis.PyQt.QtGui import QGuiApplication

        assert QGuiApplication.clipboard().text() == text
        from landslide_ai.core.dependencies import all_status

        complete = all(s.ok for s in all_status())  # the developer environment; a bare QGIS lacks torch & co.
        verdict = "All dependencies satisfied" if complete else "dependency problem(s)"
        for word in ("QGIS", "Python", "GDAL", "torch", "Device", "xgboost", "Packages", verdict):
            assert word in text, word
        dlg.close()
    finally:
        plugin.unload()
        _restore_provider(reg)  # a failure here must not take every later Processing test with it
    assert not events.has_listeners() and iface.docks == []
    assert not any(a.text() == "Landslide AI" for a in iface.pluginMenu().actions())
