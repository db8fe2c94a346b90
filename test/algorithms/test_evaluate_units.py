"""lsm_evaluate and lsm_aggregate_units in real QGIS, on the reliability tier's small real pipeline."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from helpers import write_polygons
from osgeo import ogr

from conftest import write_raster


@pytest.fixture(scope="module")
def mapped(run_alg, world, tmp_path_factory):
    d = tmp_path_factory.mktemp("mapped")
    r = run_alg(
        "lsm_predict",
        {"MODEL": world["rf"], "STACK": world["stack"], "OUTPUT": str(d / "p.tif"), "ZONING": str(d / "z.tif")},
    )
    with rasterio.open(r["OUTPUT"]) as ds:
        b, wkt = ds.bounds, ds.crs.to_wkt()
    return d, r["OUTPUT"], b, wkt


def test_evaluate_held_out_area_report(run_alg, world, mapped, tmp_path):
    from shapely.geometry import box

    d, prob, b, wkt = mapped
    area = write_polygons(tmp_path / "area.gpkg", wkt, [box(b.left, b.bottom, (b.left + b.right) / 2, b.top)])
    r = run_alg(
        "lsm_evaluate",
        {
            "SUSCEPTIBILITY": prob,
            "INVENTORY": world["inventory"],
            "TEST_AREA": area,
            "OUTPUT_HTML": str(tmp_path / "ev.html"),
            "CURVES_CSV": str(tmp_path / "curves.csv"),
            "ZONES_CSV": str(tmp_path / "zones.csv"),
        },
    )
    page = Path(r["OUTPUT_HTML"]).read_text()
    assert page.index("held-out area") < page.index("training area")  # independent figures first
    assert "prediction" in page and (tmp_path / "ev.png").stat().st_size > 0
    rows = Path(r["ZONES_CSV"]).read_text().splitlines()
    assert len(rows) == 1 + 2 * 5
    held = [row.split(",") for row in rows[1:] if row.startswith("held-out")]
    # area shares of the held-out area sum to 1, up to the CSV's 4 decimals (5 values rounded: < 2.5e-4)
    assert abs(sum(float(x[5]) for x in held) - 1) <= 2.5e-4
    curves = Path(r["CURVES_CSV"]).read_text().splitlines()
    last = [c for c in curves if c.startswith("held-out")][-1].split(",")
    assert float(last[1]) == pytest.approx(1.0) and float(last[2]) == pytest.approx(1.0)


def test_rate_auc_of_a_perfect_and_a_random_map(run_alg, tmp_path):
    """A map equal to the column index with landslides on the last columns: AUC ~ 1; a random map: chance."""
    from rasterio.crs import CRS

    from landslide_ai.core.sampling.points import write_points

    xx = np.tile(np.arange(60, dtype=float), (60, 1))
    good = write_raster(tmp_path / "good.tif", xx)
    rnd = write_raster(tmp_path / "rnd.tif", np.random.default_rng(0).random((60, 60)))
    cols = np.repeat([58, 59], 15)
    rows = np.tile(np.arange(0, 60, 4), 2)
    xs, ys = 500000.0 + (cols + 0.5) * 30, 9560000.0 - (rows + 0.5) * 30
    inv = str(tmp_path / "inv.gpkg")
    write_points(inv, CRS.from_epsg(32717).to_wkt(), xs, ys, {"id": np.arange(xs.size)})
    for raster, check in ((good, lambda a: a > 0.97), (rnd, lambda a: 0.3 < a < 0.7)):
        r = run_alg(
            "lsm_evaluate", {"SUSCEPTIBILITY": raster, "INVENTORY": inv, "OUTPUT_HTML": str(tmp_path / "e.html")}
        )
        page = Path(r["OUTPUT_HTML"]).read_text()
        auc = float(page.split("<td><b>")[1].split("<")[0])
        assert check(auc), auc
        assert "success rates (fit)" in page  # no held-out set given: said in the product
    assert "chance" in page


def test_evaluate_polygon_inventory_with_a_date_split(run_alg, world, mapped, tmp_path):
    from landslide_ai.core.sampling.points import read_points

    d, prob, b, wkt = mapped
    pts = read_points(world["inventory"], wkt)
    from shapely.geometry import Point

    polys = [Point(x, y).buffer(40) for x, y in zip(pts.x, pts.y)]
    years = [2010 + (i % 4) for i in range(len(polys))]
    inv = write_polygons(tmp_path / "inv.gpkg", wkt, polys, {"year": years})
    r = run_alg(
        "lsm_evaluate",
        {
            "SUSCEPTIBILITY": prob,
            "INVENTORY": inv,
            "DATE_FIELD": "year",
            "SPLIT_DATE": "2012",
            "OUTPUT_HTML": str(tmp_path / "e.html"),
            "ZONES_CSV": str(tmp_path / "z.csv"),
        },
    )
    page = Path(r["OUTPUT_HTML"]).read_text()
    assert "from 2012 (held out)" in page and "before 2012" in page
    zones = Path(r["ZONES_CSV"]).read_text().splitlines()[1:]
    held = sum(int(z.split(",")[6]) for z in zones if z.startswith("from 2012"))
    assert held > sum(1 for y in years if y >= 2012)  # polygons count with all their cells


def test_evaluate_refuses_half_a_temporal_split(run_alg, world, mapped, tmp_path):
    from qgis.core import QgsProcessingException

    with pytest.raises(QgsProcessingException, match="needs both"):
        run_alg(
            "lsm_evaluate",
            {
                "SUSCEPTIBILITY": mapped[1],
                "INVENTORY": world["inventory"],
                "SPLIT_DATE": "2012",
                "OUTPUT_HTML": str(tmp_path / "e.html"),
            },
        )
    assert not (tmp_path / "e.html").exists()


def test_aggregate_units_matches_numpy(run_alg, world, mapped, tmp_path):
    from qgis.core import QgsVectorLayer
    from shapely.geometry import box

    d, prob, b, wkt = mapped
    size = 300.0  # 10 x 10 cells per unit
    units = [
        box(b.left + i * size, b.bottom + j * size, b.left + (i + 1) * size, b.bottom + (j + 1) * size)
        for i in range(6)
        for j in range(6)
    ]
    path = write_polygons(tmp_path / "units.gpkg", wkt, units, {"name": [f"u{k}" for k in range(len(units))]})
    r = run_alg(
        "lsm_aggregate_units",
        {"SUSCEPTIBILITY": prob, "UNITS": path, "INVENTORY": world["inventory"], "OUTPUT": str(tmp_path / "out.gpkg")},
    )
    lyr = QgsVectorLayer(r["OUTPUT"], "u")
    feats = {f["name"]: f for f in lyr.getFeatures()}
    assert len(feats) == 36 and lyr.fields().indexOf("ls_p90") >= 0
    with rasterio.open(prob) as ds:
        a = ds.read(1)
        nod = ds.nodata
    # unit u0 is the lower-left 10 x 10 cells
    block = a[-10:, :10]
    ok = block != nod
    f = feats["u0"]
    assert f["ls_cells"] == int(ok.sum())
    assert f["ls_mean"] == pytest.approx(float(block[ok].mean()), abs=1e-5)
    assert f["ls_max"] == pytest.approx(float(block[ok].max()), abs=1e-5)
    assert {g["ls_zone"] for g in feats.values()} <= {0, 1, 2, 3, 4, 5} and len(
        {g["ls_zone"] for g in feats.values()}
    ) >= 4
    assert sum(g["landslides"] for g in feats.values()) == 40
    assert Path(r["OUTPUT"]).with_suffix(".qml").exists()
    # the command line gives every unit the same fields and values as the algorithm
    import subprocess
    import sys

    from conftest import ROOT

    cli_out = tmp_path / "cli.gpkg"
    cmd = [sys.executable, "-m", "core", "aggregate-units", prob, path, str(cli_out), "--inventory", world["inventory"]]
    run = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    cli_ds = ogr.Open(str(cli_out))  # held: a layer outlived by its dataset crashes GDAL
    cli = {f.GetField("name"): f for f in cli_ds.GetLayer()}
    assert set(cli) == set(feats)
    for name, g in feats.items():
        for k in ("ls_cells", "ls_zone", "landslides"):
            assert cli[name].GetField(k) == g[k], (name, k)
        for k in ("ls_mean", "ls_max", "ls_p50", "ls_p90"):
            assert cli[name].GetField(k) == pytest.approx(g[k], abs=1e-9), (name, k)


def test_cli_aggregate_units_refuses_points_and_missing_files_without_output(world, mapped, tmp_path):
    import subprocess
    import sys

    from conftest import ROOT

    _, prob, _, _ = mapped
    for units, match in ((world["inventory"], "must be polygons"), (str(tmp_path / "none.gpkg"), "Cannot open")):
        out = tmp_path / "u.gpkg"
        cmd = [sys.executable, "-m", "core", "aggregate-units", prob, units, str(out)]
        r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert r.returncode == 2 and match in r.stderr, r.stderr[-500:]
        assert not out.exists()
