"""Evaluation and training inputs are checked for what they are; the command line answers like Processing;
a killed run's staging is cleaned by the next; CV with one seed is bit-identical.

Each refusal asserts the message, that nothing under the watched folder changed and that nothing
partial was left.
"""

from __future__ import annotations

import datetime as dt
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import rasterio
from osgeo import gdal, ogr, osr
from rel_fixtures import snapshot
from shapely.geometry import Point, box

from conftest import train_params

ROOT = Path(__file__).resolve().parents[2]


def _cli(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "core", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )


def _one_line_error(r: subprocess.CompletedProcess, match: str) -> None:
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert match in r.stderr, r.stderr
    assert "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines()[-1].startswith(("error:", "python -m core"))


def write_layer(path: Path, wkt: str, geoms: list, fields: dict[str, tuple[int, list]] | None = None) -> str:
    """Shapely geometries with typed fields (OGR type, values; None = NULL) in a GeoPackage."""
    ds = ogr.GetDriverByName("GPKG").CreateDataSource(str(path))
    srs = osr.SpatialReference()
    srs.ImportFromWkt(wkt)
    lyr = ds.CreateLayer("landslides", srs, ogr.wkbUnknown)
    for name, (kind, _) in (fields or {}).items():
        lyr.CreateField(ogr.FieldDefn(name, kind))
    for i, g in enumerate(geoms):
        f = ogr.Feature(lyr.GetLayerDefn())
        f.SetGeometry(ogr.CreateGeometryFromWkb(g.wkb))
        for name, (_kind, values) in (fields or {}).items():
            v = values[i]
            if v is None:
                f.SetFieldNull(name)
            elif isinstance(v, dt.date):
                f.SetField(name, v.year, v.month, v.day, 0, 0, 0, 0)
            else:
                f.SetField(name, v)
        lyr.CreateFeature(f)
    ds = None  # closes the file
    return str(path)


@pytest.fixture
def grid(world):
    with rasterio.open(world["cf_zoning"]) as ds:
        return ds.transform, ds.width, ds.height, ds.crs.to_wkt()


def _eval(raster: str, inv: str, out: Path, **extra) -> dict:
    return {"SUSCEPTIBILITY": raster, "INVENTORY": inv, "OUTPUT_HTML": str(out / "r.html"), **extra}


# -- the raster --------------------------------------------------------------------------------


def test_a_factor_stack_is_not_a_susceptibility_map(refused, world, tmp_path):
    msg = refused("lsm_evaluate", _eval(world["stack"], world["inventory"], tmp_path), "has 3 bands", tmp_path)
    assert "lsm_predict" in msg and "elev" in msg


def test_a_score_outside_0_1_is_evaluated_and_said(run_fb, world, tmp_path):
    from rel_fixtures import Recorder

    rec = Recorder()
    run_fb(
        "lsm_evaluate",
        _eval(str(Path(world["cf_zoning"]).with_name("cf_score.tif")), world["inventory"], tmp_path),
        rec,
    )
    assert "not probabilities in [0, 1]" in rec.text()


# -- polygon inventories -----------------------------------------------------------------------


def _small_polygons(transform, width, height, n: int, seed: int = 0) -> list:
    """``n`` 8 m squares placed in cell corners: none holds a cell centre."""
    rng = np.random.default_rng(seed)
    res = transform.a
    out = []
    for r, c in zip(rng.integers(1, height - 1, n), rng.integers(1, width - 1, n)):
        x0, y0 = transform * (int(c), int(r))
        out.append(box(x0 + 1, y0 - 9, x0 + 9, y0 - 1))
        assert res > 18
    return out


def test_every_small_polygon_is_used(world, grid):
    """Core: polygons holding no cell centre count with the cell under them (used n of n)."""
    from landslide_ai.core.susceptibility.map_evaluation import LandslideSet, landslide_values

    transform, w, h, _ = grid
    polys = _small_polygons(transform, w, h, 40)
    vals, used = landslide_values(world["cf_zoning"], LandslideSet("p", None, polys))
    assert used == 40 and vals.size == 40


def test_polygons_report_used_of_given_through_processing(run_fb, world, grid, tmp_path):
    from rel_fixtures import Recorder

    transform, w, h, wkt = grid
    x0, y0 = transform * (0, 0)
    outside = box(x0 - 5000, y0 + 5000, x0 - 4000, y0 + 6000)  # beyond the raster: the one not used
    big = box(*(transform * (10, 20)), *(transform * (14, 16)))
    inv = write_layer(tmp_path / "poly.gpkg", wkt, [*_small_polygons(transform, w, h, 25), big, outside])
    rec = Recorder()
    run_fb("lsm_evaluate", _eval(world["cf_zoning"], inv, tmp_path), rec)
    assert "26 of 27 landslides used" in rec.text()
    assert "1 of 27 landslides fall on no valid cell" in rec.text()


# -- dates -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "values,split,held",
    [
        (["15/06/2021", "2020-01-01", "31/12/2019"], "2021-01-01", [True, False, False]),
        (["06/15/2021", "01/02/2020"], "2021-01-01", [True, False]),
        ([dt.date(2021, 3, 1), dt.datetime(2020, 5, 5, 12)], "2021", [True, False]),
        ([2019, "2022", 2021.0], "2021", [False, True, True]),
        (["2021-06-15T10:00:00", "2021/06/14"], "15/06/2021", [True, False]),
    ],
)
def test_dates_are_compared_as_dates(values, split, held):
    from landslide_ai.core.dates import split_by_date

    assert split_by_date(values, split).held == held


@pytest.mark.parametrize(
    "values,split,match",
    [
        (["2021-01-05", None, ""], "2021-01-01", "2 empty date"),
        (["2021-01-05", "yesterday"], "2021-01-01", "1 unreadable date"),
        (["03/04/2021", "05/06/2020"], "2021-01-01", "day/month and month/day cannot be told apart"),
        (["2021", "2020-03-03"], "2021-06-01", "year only, in the split year"),
        (["25/12/2020", "12/25/2020"], "2021-01-01", "mixes day/month/year and month/day/year"),
        (["2021-01-05"], "June 2021", "is not a date"),
        (["2021-02-30"], "2021-01-01", "1 unreadable date"),
    ],
)
def test_dates_that_cannot_be_placed_are_refused(values, split, match):
    from landslide_ai.core.dates import split_by_date
    from landslide_ai.core.errors import InvalidInputError

    with pytest.raises(InvalidInputError, match=match):
        split_by_date(values, split)


def _dated_points(tmp_path: Path, world: dict, kind: int, values: list) -> str:
    with rasterio.open(world["cf_zoning"]) as ds:
        t, wkt = ds.transform, ds.crs.to_wkt()
    pts = [Point(*(t * (5 + 3 * i, 5 + 2 * i))) for i in range(len(values))]
    return write_layer(tmp_path / "dated.gpkg", wkt, pts, {"when": (kind, values)})


def test_text_dates_day_first_split_through_processing(run_fb, world, tmp_path):
    from rel_fixtures import Recorder

    values = ["15/06/2021", "20/01/2020", "13/02/2019", "01/07/2022", "30/12/2020", "14/03/2021"]
    inv = _dated_points(tmp_path, world, ogr.OFTString, values)
    rec = Recorder()
    run_fb("lsm_evaluate", _eval(world["cf_zoning"], inv, tmp_path, DATE_FIELD="when", SPLIT_DATE="2021-01-01"), rec)
    assert "DD/MM/YYYY (6)" in rec.text()
    assert "3 of 3 landslides used" in rec.text()  # 3 held out, 3 before: text order would give 5 / 1


def test_null_dates_are_refused_through_processing(refused, world, tmp_path):
    values = [dt.date(2021, 5, 1), None, dt.date(2019, 1, 1), dt.date(2022, 1, 1)]
    inv = _dated_points(tmp_path, world, ogr.OFTDate, values)
    params = _eval(world["cf_zoning"], inv, tmp_path / "out", DATE_FIELD="when", SPLIT_DATE="2021")
    msg = refused("lsm_evaluate", params, "1 empty date", tmp_path)
    assert "feature id 2" in msg


def test_split_field_without_test_rows_is_refused(refused, world, tmp_path):
    inv = _dated_points(tmp_path, world, ogr.OFTString, ["train", "train", "val"])
    params = _eval(world["cf_zoning"], inv, tmp_path / "out", SPLIT_FIELD="when")
    refused("lsm_evaluate", params, "nothing is held out", tmp_path)


# -- the command line --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args,match",
    [
        (["--method", "user", "--thresholds", "a,b,c,d"], "expected comma-separated numbers"),
        (["--method", "user", "--thresholds", "0.2,x,0.6,0.8"], "'x' is not a number"),
        (["--method", "user", "--thresholds", "0.2,nan,0.6,0.8"], "not a finite number"),
    ],
)
def test_cli_bad_thresholds_are_one_line(world, tmp_path, args, match):
    r = _cli("predict", world["rf"], world["stack"], str(tmp_path / "p.tif"), str(tmp_path / "z.tif"), *args)
    _one_line_error(r, match)
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    "value,match", [("nan", "not a finite number"), ("-30", "greater than 0"), ("x", "not a number")]
)
def test_cli_bad_resolution_is_one_line(world, tmp_path, value, match):
    r = _cli("stack", str(tmp_path / "s.tif"), f"a={world['factors']['elev']}", "--resolution", value)
    _one_line_error(r, match)
    assert not list(tmp_path.iterdir())


def test_cli_split_field_that_does_not_exist(world, tmp_path):
    r = _cli("evaluate", world["cf_zoning"], world["inventory"], str(tmp_path / "r.html"), "--split-field", "nosuch")
    _one_line_error(r, "has no field 'nosuch'")
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("how", ["truncated", "missing"])
def test_cli_unreadable_input_is_called_unreadable(world, tmp_path, how):
    bad = tmp_path / "in" / "stack.tif"
    bad.parent.mkdir()
    if how == "truncated":
        bad.write_bytes(Path(world["stack"]).read_bytes()[:3000])
    before = snapshot(tmp_path)
    out = tmp_path / "out"
    r = _cli("predict", world["rf"], str(bad), str(out / "p.tif"), str(out / "z.tif"))
    _one_line_error(r, "Cannot read the input" if how == "truncated" else "Cannot open the stack")
    assert "Could not write" not in r.stderr
    assert snapshot(tmp_path) == before


def test_processing_truncated_input_is_called_unreadable(refused, world, tmp_path):
    bad = tmp_path / "stack.tif"
    data = Path(world["stack"]).read_bytes()
    bad.write_bytes(data[: len(data) // 2])
    params = {
        "MODEL": world["rf"],
        "STACK": str(bad),
        "OUTPUT": str(tmp_path / "p.tif"),
        "ZONING": str(tmp_path / "z.tif"),
    }
    refused("lsm_predict", params, "Cannot read the input|cannot be read|not a valid", tmp_path)


# -- sample sizes ------------------------------------------------------------------------------


def _subset_samples(world: dict, out: Path, n_pos: int, n_neg: int) -> str:
    src = ogr.Open(world["samples"])
    lyr = src.GetLayer(0)
    keep = {1: n_pos, 0: n_neg}
    fids = []
    for f in lyr:
        if keep[f["label"]] > 0:
            keep[f["label"]] -= 1
            fids.append(f.GetFID())
    gdal.VectorTranslate(str(out), world["samples"], where=f"fid IN ({','.join(map(str, fids))})")
    return str(out)


def test_training_on_three_landslides_is_refused(refused, world, tmp_path):
    samples = _subset_samples(world, tmp_path / "few.gpkg", 3, 6)
    msg = refused("lsm_train", train_params(world["stack"], samples, tmp_path / "m", [4]), "Too few samples", tmp_path)
    assert "at least 10 needed" in msg and "at least 5 needed" in msg


def test_cv_with_too_few_landslides_per_fold_is_refused(refused, world, tmp_path):
    params = train_params(world["stack"], world["samples"], tmp_path / "m", [4], CV_FOLDS=30)
    refused("lsm_train", params, "too few for 30-fold cross-validation", tmp_path)


# -- staging of a killed run; CV determinism -------------------------------------------------------


@pytest.mark.slow
def test_staging_of_a_killed_run_is_cleaned_by_the_next(world, tmp_path):
    out = tmp_path / "models"
    cmd = [sys.executable, "-m", "core", "train", world["stack"], world["samples"], str(out), "--models", "cnn"]
    cmd += ["--epochs", "500", "--patch-size", "8", "--temporal-mode", "none", "--cv-folds", "0"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(600):
            if list(tmp_path.glob(".landslideai-staging-*")):
                break
            time.sleep(0.1)
        time.sleep(1.0)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    left = list(tmp_path.glob(".landslideai-staging-*"))
    assert left, "the killed run left no staging folder: the test did not test anything"
    r = _cli("train", world["stack"], world["samples"], str(out), "--models", "glm", "--cv-folds", "0")
    assert r.returncode == 0, r.stderr
    assert not list(tmp_path.glob(".landslideai-staging-*"))
    assert (out / "glm.json").exists()


def test_an_unknown_staging_folder_of_a_live_process_is_kept(tmp_path):
    """Only dead runs' staging is removed: one of this very process (a parallel run) stays."""
    import os

    from landslide_ai.core.outputs import STAGING_PREFIX, _host_tag, clean_stale_staging

    mine = tmp_path / f"{STAGING_PREFIX}{_host_tag()}-{os.getpid()}-abc"
    other_host = tmp_path / f"{STAGING_PREFIX}0badc0de-1-abc"
    with_backup = tmp_path / f"{STAGING_PREFIX}{_host_tag()}-999999999-abc"
    for d in (mine, other_host, with_backup):
        d.mkdir()
    (with_backup / ".backup-0").write_text("the user's previous file")
    assert clean_stale_staging(tmp_path) == []
    assert mine.exists() and other_host.exists() and with_backup.exists()


@pytest.mark.slow
def test_cv_with_one_seed_is_bit_identical(world, tmp_path):
    for k in (1, 2):
        r = _cli(
            "train", world["stack"], world["samples"], str(tmp_path / f"r{k}"), "--models", "rf,glm", "--cv-folds", "3"
        )
        assert r.returncode == 0, r.stderr
    for name in ("cv_comparison.csv", "cv_folds.csv", "rf.npz", "glm.npz"):
        assert (tmp_path / "r1" / name).read_bytes() == (tmp_path / "r2" / name).read_bytes(), name


@pytest.mark.parametrize("address", ["tcp//nohost", "localhost:notaport:1"])
def test_cli_bad_dask_address_is_named(world, tmp_path, address):
    pytest.importorskip("dask.distributed")
    r = _cli(
        "predict", world["rf"], world["stack"], str(tmp_path / "p.tif"), str(tmp_path / "z.tif"), "--dask", address
    )
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert address in r.stderr and ("scheduler" in r.stderr), r.stderr
    assert not list(tmp_path.iterdir())
