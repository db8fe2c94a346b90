"""Terrain derivation against analytic surfaces: planes, a flat area, nodata."""

import numpy as np
import pytest
import rasterio

from conftest import write_raster
from landslide_ai.core.terrain.derive import TERRAIN_FACTORS, derive_terrain


def _derive(tmp_path, z, name="dem"):
    dem = write_raster(tmp_path / f"{name}.tif", z)
    out = derive_terrain(dem, str(tmp_path / name))
    return {k: rasterio.open(v).read(1) for k, v in out.items()}


@pytest.mark.parametrize(
    ("gx", "gy", "north", "east"),
    [
        (0.5, 0.0, 0.0, -1.0),  # rising to the east: faces west
        (-0.5, 0.0, 0.0, 1.0),  # rising to the west: faces east
        (0.0, 0.5, -1.0, 0.0),  # rising to the north (row 0 is north): faces south
        (0.0, -0.5, 1.0, 0.0),  # rising to the south: faces north
    ],
)
def test_plane_slope_and_aspect_components(tmp_path, gx, gy, north, east):
    """z = gx * x + gy * y on a 30 m grid: slope = atan(|g|) everywhere, the components point downslope."""
    yy, xx = np.mgrid[0:20, 0:20].astype(float)
    z = 1000 + gx * 30 * xx + gy * 30 * (19 - yy)  # y grows northwards
    f = _derive(tmp_path, z)
    inner = (slice(2, -2), slice(2, -2))
    assert np.allclose(f["slope"][inner], np.degrees(np.arctan(np.hypot(gx, gy))), atol=1e-3)
    assert np.allclose(f["northness"][inner], north, atol=1e-4)
    assert np.allclose(f["eastness"][inner], east, atol=1e-4)
    assert np.allclose(f["plan_curvature_convex_pos"][inner], 0.0, atol=1e-6)  # a plane has no curvature


def test_flat_cells_have_no_direction_but_stay_valid(tmp_path):
    """GDAL gives flat cells no aspect (nodata); northness/eastness are 0 there, not nodata,
    so a floodplain is not dropped from the stack. DEM nodata stays nodata."""
    z = np.full((20, 20), 500.0)
    z[:, 12:] += np.arange(8) * 10.0  # a slope in the east, flat in the west
    z[0, 0] = -9999.0
    f = _derive(tmp_path, z)
    assert (f["aspect"][5:15, 2:9] == -9999).all()  # GDAL: flat = no aspect
    for k in ("northness", "eastness"):
        assert (f[k][5:15, 2:9] == 0).all()
        assert f[k][0, 0] == -9999
    assert np.allclose(f["eastness"][5:15, 14:18], -1.0, atol=1e-4)
    assert set(TERRAIN_FACTORS) == set(f)


def _xy(n: int = 41, cell: float = 30.0) -> tuple[np.ndarray, np.ndarray]:
    """Cell-centre coordinates about the grid centre, y north-positive (row 0 is north)."""
    r, c = np.mgrid[0:n, 0:n].astype(float)
    return (c - n // 2) * cell, (n // 2 - r) * cell


@pytest.mark.parametrize("theta", [0, 30, 45, 90, 135, 200])
@pytest.mark.parametrize(("a", "sign"), [(0.004, -1), (-0.004, 1)], ids=["valley", "ridge"])
def test_plan_curvature_sign_of_valleys_and_ridges(tmp_path, theta, a, sign):
    """z = a v^2 + b u along a downslope axis u at any bearing: a valley (a > 0) converges, so its plan
    curvature is negative (concave), a ridge's positive; its value on the axis is -200 a (1/100 m units).

    Why many bearings: the cross term F G H of Zevenbergen & Thorne only matters off the grid axes.
    """
    x, y = _xy()
    t = np.deg2rad(theta)
    u, v = x * np.cos(t) + y * np.sin(t), -x * np.sin(t) + y * np.cos(t)
    f = _derive(tmp_path, 1000 + a * v**2 + 0.3 * u)
    on_axis = f["plan_curvature_convex_pos"][20, 20]
    assert np.sign(on_axis) == sign and on_axis == pytest.approx(-200 * a, rel=1e-3)


def test_paraboloid_bowl_is_concave_everywhere_and_dome_convex(tmp_path):
    """z = a r^2: every contour is a circle; water converges into the bowl (plan curvature -200 a off the
    flat centre) and diverges from the dome (+200 a)."""
    x, y = _xy()
    for a, name in ((0.002, "bowl"), (-0.002, "dome")):
        pc = _derive(tmp_path, 1000 + a * (x**2 + y**2), name)["plan_curvature_convex_pos"]
        ring = (np.hypot(x, y) > 60) & (np.hypot(x, y) < 500)
        assert np.allclose(pc[ring], -200 * a, rtol=1e-3), name


def test_twi_is_highest_along_the_valley_axis(tmp_path):
    """A V-shaped valley draining east: flow gathers on the axis, so TWI there exceeds its flanks'."""
    x, y = _xy()
    f = _derive(tmp_path, 1000 + 0.2 * np.abs(y) - 0.05 * x)
    twi = f["twi"]
    axis, flank = twi[20, 10:30], twi[8, 10:30]
    assert np.all(axis > flank + 1.0)  # ln(a / tan b): many more upslope cells on the axis
    assert np.all(np.diff(twi[20, 5:35]) >= -1e-6)  # accumulation grows downstream (eastwards)


def test_twi_runs_on_a_numpy_without_in1d(tmp_path, monkeypatch):
    """numpy 2.4 removed ``np.in1d``, which pysheds 0.5 calls (QGIS 3.44 on Debian sid): TWI is the same
    with the name put back for the call only, and the name is gone again afterwards."""
    x, y = _xy()
    want = _derive(tmp_path, 1000 + 0.2 * np.abs(y) - 0.05 * x, "with")["twi"]
    if hasattr(np, "in1d"):
        monkeypatch.delattr(np, "in1d")
    got = _derive(tmp_path, 1000 + 0.2 * np.abs(y) - 0.05 * x, "without")["twi"]
    np.testing.assert_array_equal(got, want)
    assert not hasattr(np, "in1d")
