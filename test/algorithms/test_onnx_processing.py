"""model_export_onnx through Processing and the command line, on the shipped crack model."""

import json
import subprocess
import sys
from pathlib import Path

import onnxruntime as ort
import pytest

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "resources" / "pretrained" / "crack_lite0.json"


def test_processing_exports_the_shipped_crack_model_for_deepness(run_alg, tmp_path):
    out = tmp_path / "crack.onnx"
    res = run_alg("model_export_onnx", {"MODEL": str(SHIPPED), "DEEPNESS": True, "OUTPUT": str(out)})
    assert res["OUTPUT"] == str(out)
    sess = ort.InferenceSession(str(out))
    meta = sess.get_modelmeta().custom_metadata_map
    px = json.loads(SHIPPED.read_text())["inputs"]["input_px"]
    assert json.loads(meta["model_type"]) == "Segmentor" and json.loads(meta["tile_size"]) == px
    assert json.loads(meta["landslide_ai_card"])["architecture"] == "efficientnet_lite0"
    assert sess.get_outputs()[0].shape == [1, 2, px, px]


def _export(*args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "core", "export-onnx", *args]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_cli_exports_and_refuses_to_overwrite_the_card(tmp_path):
    out = tmp_path / "c.onnx"
    r = _export(str(SHIPPED), str(out))
    assert r.returncode == 0, r.stderr
    assert "'crack' graph" in r.stdout and out.exists()
    before = SHIPPED.read_bytes()
    r = _export(str(SHIPPED), str(SHIPPED))
    assert r.returncode == 2 and "error" in r.stderr and SHIPPED.read_bytes() == before
