"""The headless command line runs the same engine calls without QGIS."""

import subprocess
import sys
from pathlib import Path

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
    assert r.returncode == 2 and "would overwrite the input" in r.stderr, r.stderr
    assert sorted(p.name for p in dem.parent.iterdir()) == ["slope.tif"]
