"""crack_evaluate in real QGIS and both evaluation commands of ``python -m core``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

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
    assert rows[0] == "image,label,probability,predicted,correct" and len(rows) == 1 + 24
    wrong = sum(1 for row in rows[1:] if row.endswith(",0"))
    page = Path(r["OUTPUT_HTML"]).read_text()
    assert "roc_auc" in page and "95 % CI" in page and "24 images (12 crack, 12 crack-free)" in page
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
