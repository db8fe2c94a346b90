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
    assert np.allclose(f["plan_curvature"][inner], 0.0, atol=1e-6)  # a plane has no curvature


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
