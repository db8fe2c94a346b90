"""Grid, stacking and zoning."""

import json

import numpy as np
import pytest
import rasterio

from conftest import write_raster
from landslide_ai.core.errors import GridMismatchError, InvalidInputError
from landslide_ai.core.raster.grid import Grid
from landslide_ai.core.raster.io import FLOAT_NODATA, atomic_path
from landslide_ai.core.raster.stack import FactorSpec, open_stack, stack_factors
from landslide_ai.core.raster.zoning import ZoningMethod, classify, compute_breaks


def test_grid_snapping_and_rowcol():
    g = Grid.from_bounds("EPSG:32717", (1001.0, 2003.0, 1601.0, 2905.0), 30.0)
    assert g.transform[2] % 30 == 0 and g.transform[5] % 30 == 0
    r, c = g.rowcol(np.array([g.transform[2] + 45.0]), np.array([g.transform[5] - 75.0]))
    assert (int(r[0]), int(c[0])) == (2, 1)
    x, y = g.xy(np.array([2]), np.array([1]))
    assert x[0] == pytest.approx(g.transform[2] + 45.0) and y[0] == pytest.approx(g.transform[5] - 75.0)


def test_stack_resamples_onto_reference_and_masks_common_nodata(tmp_path):
    a = np.arange(100, dtype=np.float32).reshape(10, 10)
    a[0, 0] = -1  # nodata of factor a
    b = np.full((20, 20), 5.0, np.float32)  # 15 m cells, other nodata convention
    b[-1, -1] = np.nan
    pa = write_raster(tmp_path / "a.tif", a, nodata=-1)
    pb = write_raster(tmp_path / "b.tif", b, transform=(15.0, 0, 500000.0, 0, -15.0, 9560000.0), nodata=np.nan)
    cat = np.repeat(np.repeat(np.array([[1, 2], [3, 4]], np.float32), 5, 0), 5, 1)
    pc = write_raster(tmp_path / "c.tif", cat, nodata=0)
    out = tmp_path / "stack.tif"
    st = stack_factors(
        [FactorSpec(pa, "a"), FactorSpec(pb, "b"), FactorSpec(pc, "landuse", categorical=True)],
        str(out),
        resolution_m=30.0,
        block=4,
    )
    with rasterio.open(out) as ds:
        data = ds.read()
        assert ds.descriptions == ("a", "b", "landuse")
        assert ds.nodata == FLOAT_NODATA and ds.count == 3 and (ds.width, ds.height) == (10, 10)
    assert np.all(data[:, 0, 0] == FLOAT_NODATA)  # a's nodata masks every band
    assert np.all(data[:, -1, -1] == FLOAT_NODATA)  # b's NaN (bilinear neighbourhood) masks too
    assert set(np.unique(data[2][data[2] != FLOAT_NODATA])) <= {1, 2, 3, 4}  # nearest keeps codes
    assert data[0, 5, 5] == pytest.approx(55.0, abs=1e-4)
    report = json.loads((tmp_path / "stack.tif.json").read_text())
    assert st.report is not None and report["valid_cells"] == st.report.valid_cells < 100
    # the returned value is the stack as open_stack reads it back (band metadata included)
    assert st == open_stack(str(out)) and st.names == ["a", "b", "landuse"] and st.categorical == ("landuse",)
    assert [f["resampling"] for f in report["factors"]] == ["bilinear", "bilinear", "nearest"]


def test_geographic_factor_next_to_projected_is_refused_and_leaves_nothing(tmp_path):
    pa = write_raster(tmp_path / "a.tif", np.ones((10, 10)))
    pg = write_raster(
        tmp_path / "g.tif", np.ones((10, 10)), transform=(0.001, 0, -79.0, 0, -0.001, -3.9), crs="EPSG:4326"
    )
    out = tmp_path / "stack.tif"
    with pytest.raises(GridMismatchError, match="geographic"):
        stack_factors([FactorSpec(pa, "a"), FactorSpec(pg, "g")], str(out))
    assert not out.exists() and list(tmp_path.glob(".stack*")) == []


def test_stack_with_mixed_band_nodata_is_refused(tmp_path):
    """A hand-built VRT of factors with different nodata values has no common mask: refused."""
    from osgeo import gdal

    pa = write_raster(tmp_path / "a.tif", np.ones((4, 4)), nodata=-9999)
    pb = write_raster(tmp_path / "b.tif", np.ones((4, 4)), nodata=0)
    vrt = str(tmp_path / "factors.vrt")
    gdal.BuildVRT(vrt, [pa, pb], separate=True)
    with pytest.raises(GridMismatchError, match="different nodata"):
        open_stack(vrt)


def test_atomic_path_removes_partial_output(tmp_path):
    dest = tmp_path / "x.tif"
    with pytest.raises(RuntimeError):
        with atomic_path(dest) as tmp:
            tmp.write_bytes(b"partial")
            raise RuntimeError("boom")
    assert not dest.exists() and list(tmp_path.iterdir()) == []


def test_breaks_quantile_user_and_natural():
    v = np.arange(1000, dtype=float)
    q = compute_breaks(v, ZoningMethod.QUANTILE)
    assert q == pytest.approx([199.8, 399.6, 599.4, 799.2])
    assert list(np.bincount(classify(v, q))[1:]) == [200, 200, 200, 200, 200]
    nb = compute_breaks(
        np.concatenate([np.full(50, 0.1), np.full(50, 0.3), np.full(50, 0.5), np.full(50, 0.7), np.full(50, 0.9)]),
        ZoningMethod.NATURAL_BREAKS,
    )
    assert all(lo < b <= hi for b, lo, hi in zip(nb, [0.1, 0.3, 0.5, 0.7], [0.3, 0.5, 0.7, 0.9]))
    with pytest.raises(InvalidInputError):
        compute_breaks(v, ZoningMethod.USER, user=[0.5, 0.2, 0.7, 0.9])


def test_a_factor_resampled_from_another_cell_size_is_said_with_its_native_size(tmp_path):
    from landslide_ai.core.progress import NullProgress

    class Log(NullProgress):
        def __init__(self) -> None:
            self.lines: list[str] = []

        def log(self, message: str) -> None:
            self.lines.append(message)

    t30 = (30.0, 0, 500000.0, 0, -30.0, 9560000.0)
    t20 = (20.0, 0, 500000.0, 0, -20.0, 9560000.0)
    a = write_raster(tmp_path / "a.tif", np.ones((40, 40), np.float32), t30)
    b = write_raster(tmp_path / "b.tif", np.ones((60, 60), np.float32), t20)
    log = Log()
    stack_factors([FactorSpec(a, "a"), FactorSpec(b, "b")], str(tmp_path / "s.tif"), resolution_m=30.0, progress=log)
    notes = [m for m in log.lines if m.startswith("Note: factor")]
    assert len(notes) == 1 and "'b'" in notes[0] and "native 20 m" in notes[0] and "30 m" in notes[0]


@pytest.mark.parametrize("answer", ["geometries (shapely 1.8)", "indices (shapely 2)"])
def test_polygon_index_gives_positions_whatever_shapely_answers(monkeypatch, answer):
    """Shapely 2's STRtree.query returns indices, 1.8's geometries (QGIS 3.40's shapely 2 made lsm_evaluate and
    lsm_aggregate_units fail); both answers become positions, and the point counts per unit agree."""
    import shapely.strtree
    from shapely.geometry import box

    from landslide_ai.core.raster import units

    geoms = [box(0, 0, 10, 10), box(10, 0, 20, 10), box(50, 50, 60, 60)]
    real = shapely.strtree.STRtree

    class Tree:
        def __init__(self, g):
            self.g, self.t = list(g), real(g)

        def query(self, geom):
            hits = [i for i, g in enumerate(self.g) if g.envelope.intersects(geom.envelope)]
            return np.asarray(hits, np.int64) if "indices" in answer else [self.g[i] for i in hits]

    monkeypatch.setattr(shapely.strtree, "STRtree", Tree)
    idx = units.GeomIndex(geoms)
    assert sorted(idx.query(box(9, 1, 11, 2))) == [0, 1] and idx.query(box(30, 30, 31, 31)) == []
    x, y = np.array([5.0, 15.0, 15.5, 55.0, 100.0]), np.array([5.0, 5.0, 6.0, 55.0, 100.0])
    assert units.units_with_points(geoms, x, y).tolist() == [1, 2, 1]
