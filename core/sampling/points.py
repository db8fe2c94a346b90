"""Reading and writing sample points (landslide inventory, samples) with OGR.

The engine reads point layers through GDAL/OGR (already a dependency), so the same code serves
QGIS (which hands us a file path) and the command line.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from osgeo import ogr, osr

from ..errors import InvalidInputError
from ..raster.grid import Grid
from ..raster.io import atomic_path

ogr.UseExceptions()


@dataclass
class Points:
    """Point coordinates in the grid CRS plus attribute columns."""

    x: np.ndarray
    y: np.ndarray
    attrs: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.x)

    def subset(self, mask: np.ndarray) -> Points:
        """The points (and their attributes) where ``mask`` is true."""
        return Points(self.x[mask], self.y[mask], {k: np.asarray(v)[mask] for k, v in self.attrs.items()})


def layer_transform(lyr: ogr.Layer, crs_wkt: str) -> tuple[osr.SpatialReference, osr.CoordinateTransformation | None]:
    """The target CRS (x, y axis order) and the transformation of ``lyr`` into it (None: none needed)."""
    target = osr.SpatialReference()
    target.ImportFromWkt(crs_wkt)
    target.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    src = lyr.GetSpatialRef()
    if src is None:
        return target, None
    src.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    return target, None if src.IsSame(target) else osr.CoordinateTransformation(src, target)


def read_points(path: str, crs_wkt: str, where: str | None = None, layer: str | None = None) -> Points:
    """Read a point layer (GPKG, SHP, GeoJSON, CSV with x,y) reprojected to ``crs_wkt``.

    Args:
        path: vector file.
        crs_wkt: target CRS (the stack's).
        where: optional OGR attribute filter, e.g. ``"lslpts = 1"`` for an inventory that also
            holds non-landslide points.
        layer: layer name inside multi-layer files.
    """
    if str(path).lower().endswith(".csv"):
        opts = ["X_POSSIBLE_NAMES=x,X,lon,longitude,easting", "Y_POSSIBLE_NAMES=y,Y,lat,latitude,northing"]
        ds = gdal_open_csv(path, opts)
    else:
        try:
            ds = ogr.Open(str(path))
        except RuntimeError as exc:
            raise InvalidInputError(f"Cannot open the point layer {path}: {exc}") from exc
    if ds is None:
        raise InvalidInputError(f"Cannot open the point layer {path}.")
    lyr = ds.GetLayerByName(layer) if layer else ds.GetLayer(0)
    if where:
        try:
            lyr.SetAttributeFilter(where)
        except RuntimeError as exc:
            raise InvalidInputError(f"Invalid filter '{where}' on {path}: {exc}") from exc
    _, ct = layer_transform(lyr, crs_wkt)
    defn = lyr.GetLayerDefn()
    names = [defn.GetFieldDefn(i).GetName() for i in range(defn.GetFieldCount())]
    xs: list[float] = []
    ys: list[float] = []
    cols: dict[str, list] = {n: [] for n in names}
    for feat in lyr:
        geom = feat.GetGeometryRef()
        if geom is None:
            continue
        geom = geom.Clone()
        if ct is not None:
            geom.Transform(ct)
        if geom.GetGeometryType() not in (ogr.wkbPoint, ogr.wkbPoint25D, ogr.wkbPointM, ogr.wkbPointZM):
            geom = geom.Centroid()
        xs.append(geom.GetX())
        ys.append(geom.GetY())
        for n in names:
            cols[n].append(feat.GetField(n))
    return Points(np.asarray(xs, float), np.asarray(ys, float), {k: np.asarray(v) for k, v in cols.items()})


def gdal_open_csv(path: str, opts: list[str]) -> ogr.DataSource:
    """Open a CSV of points through OGR's CSV driver, detecting the coordinate columns."""
    from osgeo import gdal

    return gdal.OpenEx(str(path), gdal.OF_VECTOR, open_options=opts)


def points_on_grid(pts: Points, grid: Grid) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows, cols and the inside mask of points on ``grid``."""
    rows, cols = grid.rowcol(pts.x, pts.y)
    return rows, cols, grid.inside(rows, cols)


def write_points(
    path: str, crs_wkt: str, x: np.ndarray, y: np.ndarray, fields: dict[str, np.ndarray], layer: str = "samples"
) -> None:
    """Write points with integer/float/string fields to a GeoPackage, atomically."""
    srs = osr.SpatialReference()
    srs.ImportFromWkt(crs_wkt)
    with atomic_path(path) as tmp:
        drv = ogr.GetDriverByName("GPKG" if Path(path).suffix.lower() == ".gpkg" else "ESRI Shapefile")
        ds = drv.CreateDataSource(str(tmp))
        lyr = ds.CreateLayer(layer, srs, ogr.wkbPoint)
        kinds = {}
        for name, arr in fields.items():
            if np.issubdtype(arr.dtype, np.integer) or arr.dtype == bool:
                t = ogr.OFTInteger
            elif np.issubdtype(arr.dtype, np.floating):
                t = ogr.OFTReal
            else:
                t = ogr.OFTString
            kinds[name] = t
            lyr.CreateField(ogr.FieldDefn(name, t))
        ds.StartTransaction()
        for i in range(len(x)):
            f = ogr.Feature(lyr.GetLayerDefn())
            for name, arr in fields.items():
                v = arr[i]
                f.SetField(
                    name,
                    int(v) if kinds[name] == ogr.OFTInteger else float(v) if kinds[name] == ogr.OFTReal else str(v),
                )
            g = ogr.Geometry(ogr.wkbPoint)
            g.AddPoint_2D(float(x[i]), float(y[i]))
            f.SetGeometry(g)
            lyr.CreateFeature(f)
        ds.CommitTransaction()
        ds = None
