"""A QGIS whose Python has none of the optional packages: every algorithm is listed, the torch-free chain runs.

The chain runs in a fresh interpreter (``chain_without_optional.py``) in which torch, torchvision,
timm, xgboost, shap, optuna, captum, onnx, onnxruntime, dask, pysheds, jenkspy and skops cannot be
imported, as in a QGIS a geologist has just installed the plugin into.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import rasterio

HERE = Path(__file__).resolve().parent

ALL_ALGORITHMS = {
    "lsm_derive_terrain",
    "lsm_stack_factors",
    "lsm_cf_map",
    "lsm_sample_absences",
    "lsm_train",
    "lsm_evaluate",
    "lsm_predict",
    "lsm_aggregate_units",
    "model_export_onnx",
    "model_convert",
    "crack_tile",
    "crack_train",
    "crack_predict",
    "crack_gradcam",
    "crack_adapt",
    "crack_evaluate",
    "crack_evaluate_scene",
    "susceptibility_workflow",
    "crack_workflow",
}


@pytest.fixture(scope="module")
def chain(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("no_torch")
    proc = subprocess.run(
        [sys.executable, str(HERE / "chain_without_optional.py"), str(out)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_every_algorithm_is_listed_without_torch(chain):
    assert set(chain["algorithms"]) == ALL_ALGORITHMS
    assert not chain["optional_module_loaded"]


def test_algorithms_that_need_torch_say_which_package_and_how_to_get_it(chain):
    can = chain["can_execute"]
    for name in ("crack_train", "crack_predict", "crack_gradcam", "crack_evaluate", "model_export_onnx"):
        ok, msg = can[name]
        assert not ok and "torch is not installed" in msg and "Install Python packages" in msg, (name, msg)
    for name in ("lsm_derive_terrain", "lsm_stack_factors", "lsm_cf_map", "lsm_sample_absences", "lsm_train"):
        assert can[name][0], (name, can[name])
    assert "torch" in chain["crack_refused"] and "not installed" in chain["crack_refused"]
    assert "<h3>Python packages</h3>" in chain["help_lsm_train"] and "missing" in chain["help_lsm_train"]


def test_terrain_without_pysheds_keeps_the_other_factors_and_says_what_was_skipped(chain):
    assert chain["terrain"] == [
        "slope.tif",
        "aspect.tif",
        "northness.tif",
        "eastness.tif",
        "plan_curvature_convex_pos.tif",
    ]
    assert any("wetness index" in line and "pysheds" in line for line in chain["log"])


def test_tree_glm_and_gam_train_map_and_evaluate_without_torch(chain):
    rows = {line.split(",")[0]: line.split(",") for line in chain["trained_csv"].strip().splitlines()[1:]}
    assert set(rows) == {"Random Forest", "GLM (logistic)", "GAM (splines + logistic)"}
    for r in rows.values():
        assert 0.5 < float(r[1]) <= 1.0  # AUC of a real fit on the held-out split
    with rasterio.open(chain["susceptibility"]) as ds:
        a = ds.read(1, masked=True)
    assert a.count() > 1000 and 0.0 <= float(a.min()) < float(a.max()) <= 1.0
    assert Path(chain["evaluation_html"]).stat().st_size > 0


def test_a_deep_model_without_torch_is_refused_before_any_work(chain):
    msg = chain["deep_refused"]
    assert "torch is not installed" in msg and "train only RF, GLM or GAM" in msg and "Nothing was written" in msg
    assert not chain["deep_folder_exists"]
