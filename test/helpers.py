"""Helpers shared by the test tiers (plain functions; the shared fixtures are in conftest.py).

Why one module: tests used to import helpers and fixtures from each other's modules (three
``sys.path`` inserts, ``noqa: F811`` on every use), so a fixture imported into another module was
trained again under that module's scope and the imports hid which test owned what.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from osgeo import ogr, osr
from PIL import Image

from conftest import ORTHO_TRANSFORM, write_raster


def make_set(root, n=20, seed=0, names=("crack", "no_crack")):
    """Textured 48 px images; crack images carry a dark random line."""
    rng = np.random.default_rng(seed)
    for cls in names:
        (root / cls).mkdir(parents=True)
        for i in range(n):
            img = rng.integers(120, 200, (48, 48, 3), dtype=np.uint8)
            if cls in ("crack", "Positive"):
                r = rng.integers(5, 43)
                img[r : r + 2, :, :] = 20
            Image.fromarray(img).save(root / cls / f"{i}.png")
    return str(root)


def ortho(path, h=100, w=150, alpha=True):
    rng = np.random.default_rng(3)
    data = rng.integers(120, 200, (4, h, w), dtype=np.uint8)
    data[:3, 40:42, :] = 20  # a dark "crack" line
    data[3] = 255
    if alpha:
        data[3, :, 120:] = 0
    return write_raster(path, data, ORTHO_TRANSFORM, "EPSG:32633")


def write_polygons(path: Path, wkt_crs: str, polygons: list, fields: dict | None = None) -> str:
    """Polygons (shapely) to a GeoPackage with optional fields (int, float or str)."""
    drv = ogr.GetDriverByName("GPKG")
    ds = drv.CreateDataSource(str(path))
    srs = osr.SpatialReference()
    srs.ImportFromWkt(wkt_crs)
    lyr = ds.CreateLayer("polygons", srs, ogr.wkbPolygon)
    fields = fields or {}
    for name, values in fields.items():
        kind = ogr.OFTInteger if isinstance(values[0], int | np.integer) else ogr.OFTReal
        kind = ogr.OFTString if isinstance(values[0], str) else kind
        lyr.CreateField(ogr.FieldDefn(name, kind))
    for i, g in enumerate(polygons):
        f = ogr.Feature(lyr.GetLayerDefn())
        f.SetGeometry(ogr.CreateGeometryFromWkb(g.wkb))
        for name, values in fields.items():
            v = values[i]
            f.SetField(name, v.item() if hasattr(v, "item") else v)
        lyr.CreateFeature(f)
    ds = None
    return str(path)
