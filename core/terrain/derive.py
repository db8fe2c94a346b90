"""Slope, aspect, plan curvature, topographic wetness index and distance rasters.

Slope and aspect come from GDAL's ``DEMProcessing`` (Horn's method), flow routing and
accumulation from pysheds (pit filling, depression filling, flat resolution, D8), distances from
GDAL's ``ComputeProximity``: maintained implementations rather than hand-rolled ones. Only plan
curvature, which GDAL does not offer, is computed here (Zevenbergen & Thorne, 1987), window by
window with a one-cell halo.

The DEM must be in a projected CRS with metre units: slope from degrees of longitude is wrong.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from osgeo import gdal, ogr, osr
from rasterio.windows import Window

from ..errors import InvalidInputError, MissingDependencyError
from ..progress import NullProgress, Progress, check
from ..raster.grid import Grid
from ..raster.io import FLOAT_NODATA, atomic_path, read_padded, valid_mask

gdal.UseExceptions()

_GTIFF_CO = ["TILED=YES", "COMPRESS=DEFLATE", "BIGTIFF=IF_SAFER"]


def _check_dem(dem: str) -> Grid:
    grid = Grid.from_path(dem)
    if grid.crs.is_geographic:
        raise InvalidInputError(
            f"The DEM {dem} is in a geographic CRS (degrees). Terrain derivatives need metres: "
            "reproject it to a projected CRS (e.g. UTM) first."
        )
    if grid.width < 3 or grid.height < 3:
        raise InvalidInputError(
            f"The DEM {dem} has {grid.width} x {grid.height} cells; derivatives need at least 3 x 3."
        )
    valid = 0
    with rasterio.open(dem) as ds:
        for win in grid.windows(1024):
            valid += int(valid_mask(ds.read(1, window=win), ds.nodata).sum())
            if valid >= 9:
                break
    if valid < 9:
        raise InvalidInputError(
            f"The DEM {dem} has {valid} valid cell(s): it is (almost) all nodata. Check its nodata value and extent."
        )
    return grid


def _declare_nan_as_nodata(path: str, block: int = 1024) -> None:
    """Replace NaN/inf cells by the declared nodata (GDAL propagates a DEM's undeclared NaN)."""
    with rasterio.open(path, "r+") as ds:
        ds.nodata = FLOAT_NODATA
        for win in Grid.from_dataset(ds).windows(block):
            a = ds.read(1, window=win)
            bad = ~np.isfinite(a)
            if bad.any():
                ds.write(np.where(bad, FLOAT_NODATA, a).astype(a.dtype), 1, window=win)


def slope_aspect(dem: str, slope_out: str | None, aspect_out: str | None) -> None:
    """Slope (degrees) and aspect (degrees clockwise from north, flat = -9999) with GDAL (Horn)."""
    _check_dem(dem)
    for mode, out in (("slope", slope_out), ("aspect", aspect_out)):
        if not out:
            continue
        with atomic_path(out) as tmp:
            opts = gdal.DEMProcessingOptions(
                computeEdges=True, alg="Horn", creationOptions=_GTIFF_CO, zeroForFlat=False, format="GTiff"
            )
            ds = gdal.DEMProcessing(str(tmp), dem, mode, options=opts)
            ds.GetRasterBand(1).SetNoDataValue(FLOAT_NODATA)
            ds = None
            _declare_nan_as_nodata(str(tmp))


def aspect_components(dem: str, aspect: str, northness_out: str, eastness_out: str, block: int = 512) -> None:
    """Northness cos(aspect) and eastness sin(aspect), 0 on flat cells, from an aspect raster.

    Why not aspect itself as a factor: degrees are circular (359 and 1 are neighbours, a model
    sees them as far apart) and GDAL leaves flat cells without aspect (nodata), so a stack with
    aspect loses every flat cell of the study area (a whole floodplain would be unmapped). The
    components are continuous, bounded, and 0 where there is no downslope direction.
    """
    grid = _check_dem(dem)
    prof = grid.profile(1, "float32", FLOAT_NODATA)
    with (
        rasterio.open(dem) as src,
        rasterio.open(aspect) as asp,
        atomic_path(northness_out) as tn,
        atomic_path(eastness_out) as te,
        rasterio.open(tn, "w", **prof) as dn,
        rasterio.open(te, "w", **prof) as de,
    ):
        for win in grid.windows(block):
            ok = valid_mask(src.read(1, window=win).astype(np.float64), src.nodata)
            a = asp.read(1, window=win).astype(np.float64)
            has = valid_mask(a, asp.nodata) & ok
            rad = np.deg2rad(np.where(has, a, 0.0))
            for dst, v in ((dn, np.cos(rad)), (de, np.sin(rad))):
                out = np.where(has, v, 0.0)  # flat: no direction
                dst.write(np.where(ok, out, FLOAT_NODATA).astype(np.float32), 1, window=win)


def plan_curvature(dem: str, out: str, block: int = 512, progress: Progress | None = None) -> None:
    """Plan curvature (1/100 m, positive = convex / divergent across the slope), windowed.

    Zevenbergen & Thorne (1987) second derivatives of the 3x3 neighbourhood; cells next to
    nodata are nodata. Units follow ArcGIS (x100) so values are of order 1. Sign: a valley or
    hollow (flow converging) is negative, a ridge or nose positive; tested on valleys and ridges
    at six bearings and on a paraboloid (versions before 2026-11-22 had the sign reversed).
    """
    progress = progress or NullProgress()
    grid = _check_dem(dem)
    rx, ry = grid.resolution
    with rasterio.open(dem) as src, atomic_path(out) as tmp:
        nodata = src.nodata
        prof = grid.profile(1, "float32", FLOAT_NODATA)
        with rasterio.open(tmp, "w", **prof) as dst:
            n = grid.n_windows(block)
            for k, win in enumerate(grid.windows(block)):
                check(progress)
                big = Window(win.col_off - 1, win.row_off - 1, win.width + 2, win.height + 2)
                z = read_padded(src, big, np.nan if nodata is None else nodata, indexes=1).astype(np.float64)
                ok = valid_mask(z, nodata)
                z = np.where(ok, z, np.nan)
                z1, z2, z3 = z[:-2, :-2], z[:-2, 1:-1], z[:-2, 2:]
                z4, z5, z6 = z[1:-1, :-2], z[1:-1, 1:-1], z[1:-1, 2:]
                z7, z8, z9 = z[2:, :-2], z[2:, 1:-1], z[2:, 2:]
                d = ((z4 + z6) / 2 - z5) / rx**2
                e = ((z2 + z8) / 2 - z5) / ry**2
                f = (-z1 + z3 + z7 - z9) / (4 * rx * ry)
                g = (-z4 + z6) / (2 * rx)
                h = (z2 - z8) / (2 * ry)
                with np.errstate(invalid="ignore", divide="ignore"):
                    p = g**2 + h**2
                    # flat cells (no gradient) have no plan curvature direction: 0 by convention; cells
                    # whose 3x3 neighbourhood touches nodata have p = NaN and stay nodata (was 0 before)
                    plan = np.where(p > 1e-12, 2 * (d * h**2 + e * g**2 - f * g * h) / p, 0.0) * -100.0
                    plan = np.where(np.isfinite(p) & np.isfinite(z5), plan, np.nan)
                out_arr = np.where(np.isfinite(plan), plan, FLOAT_NODATA).astype(np.float32)
                dst.write(out_arr, 1, window=win)
                progress.report((k + 1) / n, "plan curvature")


@contextlib.contextmanager
def _numpy_in1d_for_pysheds() -> Iterator[None]:
    """``numpy.in1d`` while pysheds accumulates flow, on a numpy that removed it (2.4+).

    Why: pysheds 0.5 (the newest) calls ``np.in1d``, which numpy 2.4 removed, so the wetness index
    failed on QGIS 3.44 (Debian sid). ``in1d(a, b)`` is ``isin(ravel(a), b)`` by numpy's own
    definition; the name is put back only for the call and only where numpy lacks it.
    """
    if hasattr(np, "in1d"):
        yield
        return

    def in1d(ar1: Any, ar2: Any, assume_unique: bool = False, invert: bool = False, **kw: Any) -> np.ndarray:
        return np.isin(np.ravel(ar1), ar2, assume_unique=assume_unique, invert=invert, **kw)

    np.__dict__["in1d"] = in1d  # (setattr spelled so that type checkers of either numpy accept it)
    try:
        yield
    finally:
        del np.__dict__["in1d"]


def twi(dem: str, out: str, progress: Progress | None = None) -> None:
    """Topographic wetness index ln(a / tan(beta)) with pysheds D8 flow accumulation.

    ``a`` is the specific catchment area (upslope cells x cell area / cell width) and ``beta``
    the local slope; slope is floored at 0.1 degree so flats do not divide by zero. Flow routing
    is global by nature, so the DEM is processed as one array (documented limit: DEMs up to a few
    hundred million cells).
    """
    progress = progress or NullProgress()
    try:
        from pysheds.grid import Grid as ShedGrid
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise MissingDependencyError("The topographic wetness index needs pysheds: pip install pysheds") from exc
    grid = _check_dem(dem)
    rx, _ = grid.resolution
    progress.report(0.05, "filling depressions")
    sg = ShedGrid.from_raster(dem)
    dem_r = sg.read_raster(dem)
    filled = sg.fill_depressions(sg.fill_pits(dem_r))
    inflated = sg.resolve_flats(filled)
    check(progress)
    progress.report(0.4, "flow direction and accumulation")
    fdir = sg.flowdir(inflated)
    with _numpy_in1d_for_pysheds():
        acc = np.asarray(sg.accumulation(fdir), dtype=np.float64)
    check(progress)
    with rasterio.open(dem) as src:
        z = src.read(1).astype(np.float64)
        ok = valid_mask(z, src.nodata)
        prof = grid.profile(1, "float32", FLOAT_NODATA)
    zz = np.where(ok, z, np.nan)
    gy, gx = np.gradient(zz, rx)
    slope = np.arctan(np.hypot(gx, gy))
    slope = np.where(np.isfinite(slope), np.maximum(slope, np.deg2rad(0.1)), np.nan)
    sca = (acc + 1.0) * rx  # upslope cells incl. itself x cell area / contour width
    with np.errstate(invalid="ignore", divide="ignore"):
        t = np.log(sca / np.tan(slope))
    t = np.where(ok & np.isfinite(t), t, FLOAT_NODATA).astype(np.float32)
    with atomic_path(out) as tmp, rasterio.open(tmp, "w", **prof) as dst:
        dst.write(t, 1)
    progress.report(1.0, "TWI done")


def distance_to_features(
    vector: str, reference: str, out: str, layer: str | None = None, progress: Progress | None = None
) -> None:
    """Euclidean distance (map units) from each cell of ``reference``'s grid to the nearest feature.

    Features are burned with ALL_TOUCHED so thin rivers and roads are not lost between cell
    centres; GDAL's ``ComputeProximity`` then computes distances in georeferenced units.
    """
    progress = progress or NullProgress()
    grid = Grid.from_path(reference)
    ds = ogr.Open(vector)
    if ds is None:
        raise InvalidInputError(f"Cannot open the vector layer {vector}.")
    lyr = ds.GetLayerByName(layer) if layer else ds.GetLayer(0)
    if lyr is None or lyr.GetFeatureCount() == 0:
        raise InvalidInputError(f"The vector layer {vector} has no features to measure distances to.")
    srs = lyr.GetSpatialRef()
    ref_srs = osr.SpatialReference()
    ref_srs.ImportFromWkt(grid.crs_wkt)
    mem = gdal.GetDriverByName("MEM").Create("", grid.width, grid.height, 1, gdal.GDT_Byte)
    mem.SetGeoTransform((grid.transform[2], grid.transform[0], 0, grid.transform[5], 0, grid.transform[4]))
    mem.SetProjection(grid.crs_wkt)
    if srs is not None and not srs.IsSame(ref_srs):
        # Reproject on the fly through a warped in-memory copy of the layer.
        srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
        ref_srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
        ct = osr.CoordinateTransformation(srs, ref_srs)
        mds = ogr.GetDriverByName("Memory").CreateDataSource("")
        mlyr = mds.CreateLayer("f", ref_srs, lyr.GetGeomType())
        for feat in lyr:
            geom = feat.GetGeometryRef().Clone()
            geom.Transform(ct)
            nf = ogr.Feature(mlyr.GetLayerDefn())
            nf.SetGeometry(geom)
            mlyr.CreateFeature(nf)
        lyr = mlyr
    gdal.RasterizeLayer(mem, [1], lyr, burn_values=[1], options=["ALL_TOUCHED=TRUE"])
    progress.report(0.3, "proximity")
    with atomic_path(out) as tmp:
        drv = gdal.GetDriverByName("GTiff")
        dst = drv.Create(str(tmp), grid.width, grid.height, 1, gdal.GDT_Float32, options=_GTIFF_CO)
        dst.SetGeoTransform(mem.GetGeoTransform())
        dst.SetProjection(grid.crs_wkt)
        gdal.ComputeProximity(mem.GetRasterBand(1), dst.GetRasterBand(1), ["VALUES=1", "DISTUNITS=GEO"])
        dst.GetRasterBand(1).SetNoDataValue(FLOAT_NODATA)
        dst = None
    progress.report(1.0, "distance done")


#: factors derived from a DEM, in the order they are written (file name = factor name + ".tif").
#: ``aspect`` is kept for maps and CF classes; models should use ``northness`` and ``eastness``.
#: Plan curvature's name carries its sign convention (positive = convex: ridges and noses), the
#: opposite of some lidar tools, so that a factor table or a SHAP chart cannot be misread.
TERRAIN_FACTORS = ("slope", "aspect", "northness", "eastness", "plan_curvature_convex_pos", "twi")


def derive_terrain(dem: str, out_dir: str, progress: Progress | None = None) -> dict[str, str]:
    """All DEM derivatives into ``out_dir``; returns factor name -> path.

    Without pysheds the wetness index is skipped with a warning in the log (it is the one factor
    that needs flow routing); the other factors need nothing beyond GDAL and numpy, and a user
    without pysheds should not lose them.
    """
    from ..dependencies import problems

    progress = progress or NullProgress()
    d = Path(out_dir)
    d.mkdir(parents=True, exist_ok=True)
    paths = {k: str(d / f"{k}.tif") for k in TERRAIN_FACTORS}
    slope_aspect(dem, paths["slope"], paths["aspect"])
    aspect_components(dem, paths["aspect"], paths["northness"], paths["eastness"])
    progress.report(0.3, "slope and aspect")
    plan_curvature(dem, paths["plan_curvature_convex_pos"])
    progress.report(0.5, "plan curvature")
    missing = problems(("pysheds",))
    if missing:
        del paths["twi"]
        progress.log(f"WARNING: the topographic wetness index (twi) was not derived: {missing[0]}.")
    else:
        twi(dem, paths["twi"])
    progress.report(1.0, "terrain factors")
    return paths
