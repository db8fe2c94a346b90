"""The headless command line runs the same engine calls without QGIS."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "core", *args], cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_cli_stack_and_cf_map(tiny_factors, tmp_path):
    paths, inv = tiny_factors
    r = _cli("stack", str(tmp_path / "s.tif"), *[f"{n}={p}" for n, p in paths.items()])
    assert r.returncode == 0, r.stderr
    assert "3600 valid of 3600 cells" in r.stdout
    r = _cli("cf-map", str(tmp_path / "s.tif"), inv, str(tmp_path / "cf"))
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "cf_zoning.tif").exists() and "slope" in r.stdout


def test_cli_reports_bad_input_with_exit_code_2(tmp_path):
    r = _cli("stack", str(tmp_path / "s.tif"), f"a={tmp_path / 'missing.tif'}")
    assert r.returncode == 2 and "Cannot open factor 'a'" in r.stderr
    assert not (tmp_path / "s.tif").exists()


def test_cli_refuses_outputs_that_would_overwrite_inputs(tiny_factors, tmp_path):
    """The command line has the Processing guard too: an output naming an input is refused, untouched."""
    import shutil

    paths, inv = tiny_factors
    mine = {n: tmp_path / f"{n}.tif" for n in paths}
    for n, p in paths.items():
        shutil.copy(p, mine[n])
    before = mine["elev"].read_bytes()
    r = _cli("stack", str(mine["elev"]), *[f"{n}={p}" for n, p in mine.items()])
    assert r.returncode == 2 and "would overwrite the input" in r.stderr, r.stderr
    assert mine["elev"].read_bytes() == before
    # a DEM named like a derivative inside the output folder
    dem = tmp_path / "terrain" / "slope.tif"
    dem.parent.mkdir()
    shutil.copy(paths["elev"], dem)
    r = _cli("derive-terrain", str(dem), str(tmp_path / "terrain"))
    assert r.returncode == 2 and "replacing the input" in r.stderr, r.stderr
    assert sorted(p.name for p in dem.parent.iterdir()) == ["slope.tif"]


def test_cli_crack_tile_writes_the_same_chips_as_the_algorithm_engine(tmp_path):
    """``crack-tile`` = ``tile_orthomosaic``: one chip per valid window, a PNG per chip, alpha strip skipped."""
    import numpy as np
    from osgeo import ogr

    from conftest import write_raster

    data = np.full((4, 100, 150), 150, np.uint8)
    data[3, :, 120:] = 0  # alpha: the right strip is nodata
    o = write_raster(tmp_path / "o.tif", data, (0.02, 0, 638838.7, 0, -0.02, 5802604.9), "EPSG:32633")
    sizes = ("--chip-px", "50", "--stride-px", "50")
    r = _cli("crack-tile", o, str(tmp_path / "chips.gpkg"), "--images", str(tmp_path / "img"), *sizes)
    assert r.returncode == 0, r.stderr
    ds = ogr.Open(str(tmp_path / "chips.gpkg"))
    cols = sorted({f.GetField("col") for f in ds.GetLayer()})
    assert ds.GetLayer().GetFeatureCount() == 4 and cols == [0, 1]  # 2 x 2 chips; the third column is 40 % valid
    assert sorted(p.name for p in (tmp_path / "img").glob("*.png")) == [
        "chip_r0000_c0000.png",
        "chip_r0000_c0001.png",
        "chip_r0001_c0000.png",
        "chip_r0001_c0001.png",
    ]


@pytest.mark.slow
def test_cli_susceptibility_chain_sample_train_predict_evaluate(tiny_factors, tmp_path):
    """stack -> sample -> train (CV, refit, mapped by CV) -> predict (card zoning) -> evaluate, and a bad threshold."""
    paths, inv = tiny_factors
    stack = str(tmp_path / "s.tif")
    assert _cli("stack", stack, *[f"{n}={p}" for n, p in paths.items()]).returncode == 0
    samples = str(tmp_path / "samples.gpkg")
    r = _cli("sample", stack, inv, samples, "--strategy", "buffer", "--buffer-m", "90", "--min-spacing-m", "30",
             "--block-size-m", "450")  # fmt: skip
    assert r.returncode == 0, r.stderr
    r = _cli(
        "train", stack, samples, str(tmp_path / "m"), "--models", "rf,glm", "--cv-folds", "3", "--cv-block-m", "450"
    )
    assert r.returncode == 0, r.stderr
    assert "prediction-rate AUC" in r.stdout and "Mapped model:" in r.stdout
    card = r.stdout.strip().splitlines()[-1].removeprefix("model card to map: ")
    assert Path(card).name in ("rf.json", "glm.json")
    r = _cli("predict", card, stack, str(tmp_path / "p.tif"), str(tmp_path / "z.tif"))
    assert r.returncode == 0, r.stderr
    breaks = [float(v) for v in r.stdout.split("zone breaks:")[1].split(",")]
    import json

    assert breaks == pytest.approx(
        json.loads(Path(card).read_text())["training"]["zoning"]["breaks"], abs=5e-5
    )  # printed to 4 decimals
    r = _cli("evaluate", str(tmp_path / "p.tif"), samples, str(tmp_path / "e.html"), "--where", "label = 1",
             "--split-field", "split")  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "not held out" in r.stdout and "held out (split = test)" not in r.stdout
    r = _cli("predict", card, stack, str(tmp_path / "p2.tif"), str(tmp_path / "z2.tif"), "--method", "user",
             "--thresholds", "0.2,x,0.6,0.8")  # fmt: skip
    assert r.returncode == 2 and "Traceback" not in r.stderr and "comma-separated numbers" in r.stderr
    assert not (tmp_path / "p2.tif").exists()


def test_every_command_of_the_parser_has_one_function_and_no_function_is_orphaned():
    """The CLI is a table: one function per sub-command (issue 22), the parser and the table agree."""
    import argparse

    from landslide_ai.core.__main__ import COMMANDS, _parser

    sub = next(a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction))
    assert set(sub.choices) == set(COMMANDS)
    r = _cli("--help")
    assert r.returncode == 0 and all(c in r.stdout for c in COMMANDS)


@pytest.mark.slow
def test_cli_crack_train_writes_the_card_and_the_same_metrics_page_as_processing(tmp_path):
    from helpers import make_set

    target = make_set(tmp_path / "imgs", n=12)
    out = tmp_path / "m"
    r = _cli("crack-train", target, str(out), "--arch", "cnn", "--epochs", "1", "--input-px", "48")
    assert r.returncode == 0, r.stderr
    card, page = (Path(x.strip()) for x in r.stdout.strip().splitlines()[-3:-1])
    assert card.name == "cnn.json" and card.exists()
    assert page.name == "cnn_metrics.html" and "cnn test metrics" in page.read_text()
