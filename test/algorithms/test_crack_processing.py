"""Crack algorithms in real QGIS: tile, predict, Grad-CAM; bad inputs leave no output."""

from pathlib import Path

import numpy as np
import pytest
import rasterio
from test_crack_predict import ortho
from test_crack_training import make_set


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
    g = run_alg(
        "crack_gradcam",
        {
            "MODEL": model,
            "INPUT": o,
            "ALPHA_BAND": 4,
            "CHIP_PX": 48,
            "STRIDE_PX": 24,
            "OUTPUT": str(tmp_path / "p.tif"),
            "CHIPS": str(tmp_path / "pc.gpkg"),
            "GRADCAM": str(tmp_path / "cam.tif"),
        },
    )
    with rasterio.open(g["OUTPUT"]) as p, rasterio.open(o) as src:
        assert p.transform == src.transform and p.crs == src.crs
    assert (tmp_path / "p.qml").exists() and (tmp_path / "cam.qml").exists()
    assert QgsVectorLayer(g["CHIPS"], "c").fields().indexOf("probability") >= 0


def test_geographic_orthomosaic_and_wrong_model_are_refused(run_alg, model, tmp_path):
    from qgis.core import QgsProcessingException

    geo = tmp_path / "geo.tif"
    with rasterio.open(
        geo,
        "w",
        driver="GTiff",
        width=60,
        height=60,
        count=3,
        dtype="uint8",
        crs="EPSG:4326",
        transform=rasterio.Affine(1e-6, 0, 16.0, 0, -1e-6, 52.0),
    ) as ds:
        ds.write(np.full((3, 60, 60), 100, np.uint8))
    with pytest.raises(QgsProcessingException, match="geographic"):
        run_alg(
            "crack_predict",
            {
                "MODEL": model,
                "INPUT": str(geo),
                "CHIP_PX": 48,
                "STRIDE_PX": 48,
                "OUTPUT": str(tmp_path / "a.tif"),
                "CHIPS": str(tmp_path / "a.gpkg"),
            },
        )
    assert not (tmp_path / "a.tif").exists()
    card = Path(model).with_name("fake.json")
    card.write_text(Path(model).read_text().replace('"task": "crack"', '"task": "susceptibility"'))
    with pytest.raises(QgsProcessingException, match="not a crack classifier"):
        run_alg(
            "crack_predict",
            {
                "MODEL": str(card),
                "INPUT": ortho(tmp_path / "o.tif"),
                "CHIP_PX": 48,
                "STRIDE_PX": 48,
                "OUTPUT": str(tmp_path / "b.tif"),
                "CHIPS": str(tmp_path / "b.gpkg"),
            },
        )
    assert not (tmp_path / "b.tif").exists()
