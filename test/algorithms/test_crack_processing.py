"""Crack algorithms in real QGIS: tile, predict, Grad-CAM; bad inputs leave no output."""

from pathlib import Path

import numpy as np
import pytest
import rasterio
from helpers import make_set, ortho
from processing_chain import crack_map_params

from conftest import write_raster


@pytest.fixture(scope="module")
def model(run_alg, tmp_path_factory):
    d = tmp_path_factory.mktemp("cracks")
    r = run_alg(
        "crack_train",
        {
            "TARGET_FOLDER": make_set(d / "t", n=12),
            "SOURCE_FOLDER": make_set(d / "s", n=12),
            "ARCHITECTURE": 0,
            "EPOCHS": 1,
            "INPUT_PX": 48,
            "OUTPUT_FOLDER": str(d / "m"),
        },
    )
    # the pretraining stage's card is an output of its own (a later run can fine-tune from it)
    assert Path(r["STAGE1_CARD"]).name == "cnn_tl_stage1.json" and Path(r["STAGE1_CARD"]).exists()
    return r["MODEL_CARD"]


def test_tile_predict_gradcam(run_alg, model, tmp_path):
    o = ortho(tmp_path / "o.tif")
    t = run_alg(
        "crack_tile",
        {
            "INPUT": o,
            "ALPHA_BAND": 4,
            "CHIP_PX": 48,
            "STRIDE_PX": 48,
            "OUTPUT": str(tmp_path / "chips.gpkg"),
            "IMAGE_FOLDER": str(tmp_path / "imgs"),
        },
    )
    from qgis.core import QgsVectorLayer

    lyr = QgsVectorLayer(t["OUTPUT"], "c")
    assert lyr.featureCount() == len(list((tmp_path / "imgs").glob("*.png"))) > 0
    g = run_alg("crack_gradcam", crack_map_params(model, o, tmp_path, 48, 24, alpha_band=4, gradcam=True))
    with rasterio.open(g["OUTPUT"]) as p, rasterio.open(o) as src:
        assert p.transform == src.transform and p.crs == src.crs
    assert (tmp_path / "crack_probability.qml").exists() and (tmp_path / "crack_gradcam.qml").exists()
    assert QgsVectorLayer(g["CHIPS"], "c").fields().indexOf("probability") >= 0


def test_geographic_orthomosaic_and_wrong_model_are_refused(run_alg, model, tmp_path):
    from qgis.core import QgsProcessingException

    geo = tmp_path / "geo.tif"
    write_raster(geo, np.full((3, 60, 60), 100, np.uint8), (1e-6, 0, 16.0, 0, -1e-6, 52.0), "EPSG:4326")
    with pytest.raises(QgsProcessingException, match="geographic"):
        run_alg("crack_predict", crack_map_params(model, str(geo), tmp_path, 48, 48, prefix="a"))
    assert not (tmp_path / "a_probability.tif").exists()
    card = Path(model).with_name("fake.json")
    card.write_text(Path(model).read_text().replace('"task": "crack"', '"task": "susceptibility"'))
    with pytest.raises(QgsProcessingException, match="not a crack classifier"):
        run_alg("crack_predict", crack_map_params(str(card), ortho(tmp_path / "o.tif"), tmp_path, 48, 48, prefix="b"))
    assert not (tmp_path / "b_probability.tif").exists()
