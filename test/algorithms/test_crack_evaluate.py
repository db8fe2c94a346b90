"""crack_evaluate in real QGIS and both evaluation commands of ``python -m core``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from processing_chain import crack_map_params

from conftest import ROOT


def test_crack_evaluate_labelled_folder(run_alg, world, tmp_path):
    r = run_alg(
        "crack_evaluate",
        {
            "MODEL": world["crack_card"],
            "IMAGES": str(world["crack_images"]),
            "OUTPUT_HTML": str(tmp_path / "ev.html"),
            "IMAGES_CSV": str(tmp_path / "ev.csv"),
            "GALLERY": str(tmp_path / "gallery"),
            "GALLERY_N": 3,
        },
    )
    rows = Path(r["IMAGES_CSV"]).read_text().splitlines()
    head = "image,label,probability,raw_probability,domain_distance,unfamiliar,predicted,correct"
    assert rows[0] == head and len(rows) == 1 + 24
    wrong = sum(1 for row in rows[1:] if row.endswith(",0"))
    page = Path(r["OUTPUT_HTML"]).read_text()
    assert "roc_auc" in page and "95 % CI" in page and "24 images (12 crack, 12 crack-free images)" in page
    pngs = list((tmp_path / "gallery").glob("*.png"))
    assert len(pngs) == min(3, wrong)
    assert all(p.name.startswith(("gradcam_false_negative", "gradcam_false_positive")) for p in pngs)


def test_crack_evaluate_crack_free_images_only(run_alg, world, tmp_path):
    neg = world["crack_images"] / "no_crack"
    r = run_alg(
        "crack_evaluate",
        {"MODEL": world["crack_card"], "NEGATIVES": str(neg), "OUTPUT_HTML": str(tmp_path / "ev.html")},
    )
    page = Path(r["OUTPUT_HTML"]).read_text()
    assert "Only crack-free images" in page and "false_positive_rate" in page


def test_crack_evaluate_refuses_two_kinds_of_input(run_alg, world, tmp_path):
    from qgis.core import QgsProcessingException

    with pytest.raises(QgsProcessingException, match="not both"):
        run_alg(
            "crack_evaluate",
            {
                "MODEL": world["crack_card"],
                "IMAGES": str(world["crack_images"]),
                "POSITIVES": str(world["crack_images"] / "crack"),
                "OUTPUT_HTML": str(tmp_path / "ev.html"),
            },
        )
    assert not (tmp_path / "ev.html").exists()


def _cli(*args) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": "/usr/share/qgis/python/plugins"}
    return subprocess.run(
        [sys.executable, "-m", "core", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )


@pytest.mark.slow
def test_cli_crack_evaluate_and_map_evaluate(run_alg, world, tmp_path):
    r = _cli("crack-evaluate", world["crack_card"], str(tmp_path / "c.html"), "--images", str(world["crack_images"]))
    assert r.returncode == 0, r.stderr[-2000:]
    assert "recall:" in r.stdout and (tmp_path / "c.html").exists()
    p = run_alg(
        "lsm_predict",
        {
            "MODEL": world["rf"],
            "STACK": world["stack"],
            "OUTPUT": str(tmp_path / "p.tif"),
            "ZONING": str(tmp_path / "z.tif"),
        },
    )
    r = _cli("evaluate", p["OUTPUT"], world["samples"], str(tmp_path / "e.html"), "--where", "label = 1",
             "--split-field", "split")  # fmt: skip
    assert r.returncode == 0, r.stderr[-2000:]
    assert "held out (split = test): AUC" in r.stdout and (tmp_path / "e.html").exists()


def _chips(run_alg, world, tmp_path, mask_unfamiliar: bool = False) -> dict:
    """crack_predict of the world's model over its orthomosaic: 48 px chips that do not overlap."""
    params = crack_map_params(world["crack_card"], world["ortho"], tmp_path, 48, 48, MASK_UNFAMILIAR=mask_unfamiliar)
    return run_alg("crack_predict", params)


def _scene_params(chips: str, labels: str, out: Path) -> dict:
    """crack_evaluate_scene of a chip layer against labels, unfamiliar chips included, 60 crack px per chip."""
    return {
        "CHIPS": chips,
        "LABELS": labels,
        "MIN_CRACK_PX": 60,
        "INCLUDE_UNFAMILIAR": True,
        "OUTPUT_HTML": str(out) + ".html",
        "CHIPS_CSV": str(out) + ".csv",
    }


def _labels_like(ortho: str, path: Path, crack_rows: slice) -> str:
    """A label raster on the orthomosaic's grid with crack pixels in the given image rows."""
    import numpy as np
    import rasterio

    with rasterio.open(ortho) as src:
        prof = {**src.profile, "count": 1, "dtype": "uint8", "nodata": None}
        lab = np.zeros((src.height, src.width), np.uint8)
    lab[crack_rows, :] = 1
    with rasterio.open(path, "w", **prof) as d:
        d.write(lab, 1)
    return str(path)


def test_crack_evaluate_scene_truth_from_pixel_labels(run_alg, world, tmp_path):
    """Chip truth follows the pixel counts exactly: crack rows 40-41 across the image make the chips of
    chip row 0 (pixels 0-47) crack chips when they hold >= min crack pixels, and chip row 1 crack-free."""
    import csv

    pred = _chips(run_alg, world, tmp_path)
    labels = _labels_like(world["ortho"], tmp_path / "lab.tif", slice(40, 42))
    r = run_alg("crack_evaluate_scene", _scene_params(pred["CHIPS"], labels, tmp_path / "scene"))
    rows = list(csv.DictReader(open(r["CHIPS_CSV"])))
    assert rows, "no chip rows"
    for row in rows:
        n = int(row["crack_pixels"])
        # a chip of chip row 0 spans image rows 0-47 and so holds 2 label rows x its valid width
        assert n == (96 if row["row"] == "0" else 0)
        assert row["label"] == ("1" if n >= 60 else "0")
    page = Path(r["OUTPUT_HTML"]).read_text()
    n_pos = sum(row["label"] == "1" for row in rows)
    assert f"({n_pos} crack, {len(rows) - n_pos} crack-free chips)" in page and "95 % CI" in page
    # the same chips with a stricter rule: every crack chip becomes ambiguous, so one class is left
    r2 = run_alg(
        "crack_evaluate_scene",
        {
            "CHIPS": pred["CHIPS"],
            "LABELS": labels,
            "MIN_CRACK_PX": 200,
            "INCLUDE_UNFAMILIAR": True,
            "OUTPUT_HTML": str(tmp_path / "scene2.html"),
        },
    )
    page2 = Path(r2["OUTPUT_HTML"]).read_text()
    assert f"{n_pos} ambiguous chip(s)" in page2 and "Only crack-free chips" in page2


def test_crack_evaluate_scene_refuses_labels_elsewhere(run_alg, world, tmp_path):
    """Labels that do not overlap the chips are refused with a sentence; no report is left."""
    import rasterio
    from qgis.core import QgsProcessingException

    pred = _chips(run_alg, world, tmp_path, mask_unfamiliar=True)
    labels = _labels_like(world["ortho"], tmp_path / "lab.tif", slice(40, 42))
    with rasterio.open(labels, "r+") as d:  # move the labels 1 km east
        d.transform = d.transform * rasterio.Affine.translation(50000, 0)
    with pytest.raises(QgsProcessingException, match="do not cover the same place"):
        run_alg(
            "crack_evaluate_scene",
            {"CHIPS": pred["CHIPS"], "LABELS": labels, "OUTPUT_HTML": str(tmp_path / "x.html")},
        )
    assert not (tmp_path / "x.html").exists()


def test_vector_inputs_keep_layer_name_and_filter(run_alg, world, tmp_path):
    """A chip layer that is the second layer of a GeoPackage, with a subset filter: the engine sees
    exactly the filtered features of that layer (not the first layer, not every feature)."""
    import csv

    from osgeo import gdal
    from qgis.core import QgsVectorLayer

    pred = _chips(run_alg, world, tmp_path)
    two = tmp_path / "two.gpkg"
    gdal.VectorTranslate(str(two), pred["CHIPS"], layerName="decoy", where="row = 1")
    gdal.VectorTranslate(str(two), pred["CHIPS"], layerName="chips", accessMode="append")
    layer = QgsVectorLayer(f"{two}|layername=chips", "chips", "ogr")
    assert layer.isValid()
    layer.setSubsetString('"row" = 0')
    labels = _labels_like(world["ortho"], tmp_path / "lab.tif", slice(40, 42))
    r = run_alg("crack_evaluate_scene", _scene_params(layer, labels, tmp_path / "s"))
    rows = list(csv.DictReader(open(r["CHIPS_CSV"])))
    assert rows and {row["row"] for row in rows} == {"0"}


def test_gallery_folder_without_any_mistake_is_created_empty(run_alg, world, tmp_path):
    """Threshold 0 on crack images only: no mistake to show; the run succeeds and the folder exists."""
    res = run_alg(
        "crack_evaluate",
        {
            "MODEL": world["crack_card"],
            "POSITIVES": str(world["crack_images"] / "crack"),
            "THRESHOLD": 0.0,
            "OUTPUT_HTML": str(tmp_path / "r.html"),
            "GALLERY": str(tmp_path / "new_gallery"),
        },
    )
    assert Path(res["OUTPUT_HTML"]).exists()
    assert (tmp_path / "new_gallery").is_dir()
    assert not list((tmp_path / "new_gallery").glob("*.png"))
