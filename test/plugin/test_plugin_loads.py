"""The plugin loads through classFactory like QGIS loads it, and metadata is valid."""

import configparser
from pathlib import Path

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


def test_class_factory_registers_provider_and_unloads(qgis_app):
    from qgis.core import QgsApplication

    import landslide_ai

    plugin = landslide_ai.classFactory(None)
    reg = QgsApplication.processingRegistry()
    before = {p.id() for p in reg.providers()}
    if "landslideai" in before:  # the session fixture registered one already: use a fresh registry view
        reg.removeProvider(reg.providerById("landslideai"))
    plugin.initGui()
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
        assert a.group().split(" ")[0] in {"1", "2", "3", "4", "Cracks"}
    plugin.unload()
    assert reg.providerById("landslideai") is None
    from landslide_ai.algorithms.provider import LandslideAIProvider

    reg.addProvider(LandslideAIProvider())  # leave the registry as the session fixture expects


def test_missing_package_disables_only_the_algorithms_that_need_it(qgis_app):
    from landslide_ai.algorithms.lsm_stack_factors import StackFactorsAlgorithm
    from landslide_ai.algorithms.lsm_train import TrainAlgorithm

    class Needy(TrainAlgorithm):
        REQUIRES = ("torch", "package_that_is_not_installed")

    ok, msg = Needy().canExecute()
    assert not ok and "package_that_is_not_installed" in msg and "pip install" in msg
    assert StackFactorsAlgorithm().canExecute() == (True, "")
