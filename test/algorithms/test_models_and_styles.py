"""The shipped Model Designer workflows run end to end; the shipped styles are current and load."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio
from helpers import make_set, ortho

from conftest import ROOT, write_raster


def test_shipped_resources_equal_what_their_sources_build(qgis_app, tmp_path):
    from qgis.core import Qgis

    if Qgis.QGIS_VERSION_INT // 100 != 322:
        # built with the oldest supported QGIS, which every later one reads; later writers spell XML otherwise
        pytest.skip(f"resources are built with QGIS 3.22; this is {Qgis.QGIS_VERSION}")
    sys.path.insert(0, str(ROOT / "scripts"))
    import build_resources

    from landslide_ai.algorithms.styling import STATIC_STYLES, style_file

    for name, make in STATIC_STYLES.items():
        assert style_file(name).read_text(encoding="utf-8") == make(), f"{name}: run scripts/build_resources.py"
    for name, make in build_resources.WORKFLOWS.items():
        assert make().toFile(str(tmp_path / name))
        shipped = _canonical(ROOT / "resources" / "workflows" / name)
        assert _canonical(tmp_path / name) == shipped, f"{name}: run scripts/build_resources.py"


def _canonical(path: Path) -> str:
    """C14N form: Qt writes XML attributes in a random (hash) order, so compare canonical XML."""
    from xml.etree.ElementTree import canonicalize

    text = path.read_text(encoding="utf-8").replace("<!DOCTYPE model>", "")
    return canonicalize(text, strip_text=True)


@pytest.mark.parametrize(
    "name, renderer, classes",
    [
        ("susceptibility_zones.qml", "paletted", 5),
        ("cf_zones.qml", "paletted", 5),
        ("susceptibility_probability.qml", "singlebandpseudocolor", 5),
        ("crack_probability.qml", "singlebandpseudocolor", 4),
        ("gradcam.qml", "singlebandpseudocolor", 5),
    ],
)
def test_static_styles_load_into_qgis(qgis_app, tmp_path, name, renderer, classes):
    from qgis.core import QgsRasterLayer

    from landslide_ai.algorithms.styling import style_file

    lyr = QgsRasterLayer(write_raster(tmp_path / "r.tif", np.linspace(0, 1, 100).reshape(10, 10)), "r")
    msg, ok = lyr.loadNamedStyle(str(style_file(name)))
    assert ok, msg
    assert lyr.renderer().type() == renderer
    items = lyr.renderer().legendSymbologyItems()
    assert len(items) == classes
    if name == "susceptibility_zones.qml":  # labels carry the thresholds
        assert items[0][0].startswith("Very low (min – 0.2)") and items[4][0] == "Very high (0.8 – max)"
    if name == "crack_probability.qml":  # transparent below the threshold
        shader = lyr.renderer().shader().rasterShaderFunction()
        assert shader.colorRampItemList()[1].color.alpha() == 0 and shader.colorRampItemList()[2].color.alpha() > 0


def test_workflows_are_in_the_toolbox(qgis_app):
    from qgis.core import QgsApplication

    reg = QgsApplication.processingRegistry()
    for name in ("susceptibility_workflow", "crack_workflow"):
        alg = reg.algorithmById(f"landslideai:{name}")
        assert alg is not None and alg.group() == "5 Workflows (models)"
        assert all(c.algorithm() is not None for c in alg.childAlgorithms().values())


@pytest.mark.slow
def test_susceptibility_workflow_runs(run_alg, tiny_factors, tmp_path):
    paths, inv = tiny_factors
    res = run_alg(
        "susceptibility_workflow",
        {
            "factors": list(paths.values()),
            "names": "elev,slope,twi",
            "inventory": inv,
            "presence_field": "lslpts",  # the inventory's 0/1 field: only its 1s are landslides
            "resolution": 30.0,
            "strategy": 2,
            "epochs": 1,
            "block_size": 450.0,
            "predict:Susceptibility": str(tmp_path / "s.tif"),
            "predict:Susceptibility zoning": str(tmp_path / "z.tif"),
            "predict:Zone table": str(tmp_path / "zones.csv"),
            "train:Models and comparison": str(tmp_path / "models"),
            "sample:Samples": str(tmp_path / "samples.gpkg"),
            "cf:CF zoning": str(tmp_path / "cfz.tif"),
            "evaluate:Evaluation report": str(tmp_path / "evaluation.html"),
        },
    )
    # the mapped model was refit on all samples after CV: the 'test' rows trained it, so the chained
    # evaluation must not call them held out
    page = Path(res["evaluate:Evaluation report"]).read_text()
    assert "held out (split = test)" not in page and "success rates" in page
    with rasterio.open(res["predict:Susceptibility"]) as s:
        p = s.read(1, masked=True)
        assert 0 <= p.min() and p.max() <= 1
    with rasterio.open(res["predict:Susceptibility zoning"]) as z:
        assert set(np.unique(z.read(1))) - {0} == {1, 2, 3, 4, 5}
    from landslide_ai.core.susceptibility.models import ALL_MODELS

    # every model was refit on all samples and its card carries the CV figures and the zoning breaks
    models = tmp_path / "models"
    cards = {k: json.loads((models / f"{k}.json").read_text()) for k in ALL_MODELS}
    for card in cards.values():
        assert card["training"]["fit_on"] == "all samples" and card["training"]["n_test"] == 0
        cv_fig = card["metrics"]["cv"]
        assert cv_fig["prediction_rate_ci"][0] <= cv_fig["prediction_rate_auc"] <= cv_fig["prediction_rate_ci"][1]
        assert len(card["training"]["zoning"]["breaks"]) == 4
    # the chained predict mapped a model refit on all samples (the best CV prediction rate: test_comparison)
    with rasterio.open(res["predict:Susceptibility"]) as s:
        assert s.tags()["LANDSLIDEAI_FIT_ON"] == "all samples"
    assert len((models / "comparison.csv").read_text().splitlines()) == 9  # header + 8 models
    # spatial CV ran by default (5 folds): it leads the comparison page, per model and per fold
    cv = (tmp_path / "models" / "cv_comparison.csv").read_text().splitlines()
    # header, 8 models, the mean of the top models when two or more cannot be told apart, 3 factors alone
    means = [r for r in cv if r.startswith("mean of ")]
    assert len(cv) == 1 + 8 + len(means) + 3 and len(means) <= 1 and "prediction-rate AUC" in cv[0]
    factor_rows = [r.split(",") for r in cv if r.startswith("factor alone: ")]
    assert sorted(r[0] for r in factor_rows) == ["factor alone: elev", "factor alone: slope", "factor alone: twi"]
    rates = [float(r[1]) for r in factor_rows]
    assert rates == sorted(rates, reverse=True)  # best factor first
    assert len((tmp_path / "models" / "cv_folds.csv").read_text().splitlines()) == 1 + 8 * 5
    page = (tmp_path / "models" / "comparison.html").read_text()
    assert page.index("Spatial cross-validation") < page.index("Saved models: refit on all samples")
    assert "Mapped model: " in page and "distinguishable" in page
    assert Path(res["predict:Zone table"]).exists()


def test_crack_workflow_runs(run_alg, tmp_path):
    card = run_alg(
        "crack_train",
        {"TARGET_FOLDER": make_set(tmp_path / "t", n=12), "EPOCHS": 1, "INPUT_PX": 48, "OUTPUT_FOLDER": str(tmp_path)},
    )["MODEL_CARD"]
    o = ortho(tmp_path / "o.tif")
    res = run_alg(
        "crack_workflow",
        {
            "orthomosaic": o,
            "model": card,
            "alpha": 4,
            "chip": 48,
            "stride": 24,
            "tile:Chip grid": str(tmp_path / "grid.gpkg"),
            "predict:Crack probability": str(tmp_path / "p.tif"),
            "predict:Chips with probability": str(tmp_path / "pc.gpkg"),
            "gradcam:Grad-CAM": str(tmp_path / "cam.tif"),
        },
    )
    with rasterio.open(res["predict:Crack probability"]) as p, rasterio.open(o) as src:
        assert p.transform == src.transform and p.read(1, masked=True).count() > 0
    with rasterio.open(res["gradcam:Grad-CAM"]) as c:
        v = c.read(1, masked=True)
        assert v.count() > 0 and 0 <= v.min() and v.max() <= 1
    assert Path(res["tile:Chip grid"]).exists()
