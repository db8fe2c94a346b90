"""The chip grid over an orthomosaic: 227 x 227 px classifier inputs with a stride, read window by window.

A chip is one classifier input. Its footprint is exactly its pixel window under the source
transform (no resampling unless a target ground resolution is asked for), so probabilities can
be stitched back onto the orthomosaic's own grid. Chips that are mostly nodata (alpha = 0, the
nodata value, or outside the image) are skipped.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from osgeo import ogr, osr
from rasterio.io import DatasetReader
from rasterio.windows import Window

from ..errors import InvalidInputError
from ..progress import NullProgress, Progress, check
from ..raster.grid import Grid
from ..raster.io import atomic_path, read_padded

#: ``ChipSpec.alpha_band`` value meaning "the band declared alpha in the file, else none".
AUTO_ALPHA = -1


def resolve_alpha(ds: DatasetReader, alpha_band: int) -> int:
    """The 1-based alpha band to use (0 = none): ``AUTO_ALPHA`` looks for a band declared alpha."""
    if alpha_band != AUTO_ALPHA:
        return alpha_band
    from rasterio.enums import ColorInterp

    for i, ci in enumerate(ds.colorinterp, start=1):
        if ci == ColorInterp.alpha:
            return i
    return 0


@dataclass(frozen=True)
class ChipSpec:
    """Chip geometry and band mapping.

    Attributes:
        chip_px: chip side in pixels (paper: 227).
        stride_px: step between chips; ``chip_px`` means no overlap.
        rgb_bands: 1-based bands mapped to R, G, B.
        alpha_band: 1-based alpha band; 0 = none; -1 (default) = the band the file declares as alpha,
            if any. Why auto: an orthomosaic with a declared alpha band scored with "no alpha" would
            classify its transparent (empty) margins as image.
        min_valid: minimum valid fraction for a chip to be kept.
    """

    chip_px: int = 227
    stride_px: int = 227
    rgb_bands: tuple[int, int, int] = (1, 2, 3)
    alpha_band: int = AUTO_ALPHA
    min_valid: float = 0.5


@dataclass(frozen=True)
class Chip:
    """One chip: its row/col in the chip grid, pixel window and valid fraction."""

    row: int
    col: int
    window: Window
    valid_fraction: float


def check_orthomosaic(path: str, spec: ChipSpec) -> Grid:
    """Refuse inputs the classifier cannot read correctly, with how to fix them."""
    with rasterio.open(path) as ds:
        grid = Grid.from_dataset(ds)
        if ds.count < 3:
            raise InvalidInputError(
                f"{path} has {ds.count} band(s); the crack classifiers need an RGB image (3 bands or more)."
            )
        alpha = resolve_alpha(ds, spec.alpha_band)
        if any(b < 1 or b > ds.count for b in (*spec.rgb_bands, alpha or 1)) or alpha < 0:
            raise InvalidInputError(
                f"Band mapping {spec.rgb_bands} / alpha {spec.alpha_band} outside 1..{ds.count} "
                "(alpha: -1 = auto, 0 = none)."
            )
        if alpha and alpha in spec.rgb_bands:
            raise InvalidInputError(f"Band {alpha} is both an RGB band and the alpha band: map R,G,B to other bands.")
        dtypes = {ds.dtypes[b - 1] for b in spec.rgb_bands}
        if dtypes != {"uint8"}:
            raise InvalidInputError(
                f"{path} has {sorted(dtypes)} RGB bands; the models were trained on 8-bit photos. Convert it to "
                "8-bit (Raster > Conversion > Translate with scaling) first."
            )
        if ds.crs.is_geographic:
            raise InvalidInputError(
                f"{path} is in a geographic CRS; chip sizes in cm/px need a projected CRS. Reproject it (e.g. UTM)."
            )
    if spec.chip_px < 8 or spec.stride_px < 1:
        raise InvalidInputError("Chip size must be at least 8 px and the stride at least 1 px.")
    return grid


def chip_windows(grid: Grid, spec: ChipSpec) -> Iterator[tuple[int, int, Window]]:
    """Every chip window covering the image (the last row/column may extend past the edge)."""
    rows = max(1, int(np.ceil((grid.height - spec.chip_px) / spec.stride_px)) + 1)
    cols = max(1, int(np.ceil((grid.width - spec.chip_px) / spec.stride_px)) + 1)
    for r in range(rows):
        for c in range(cols):
            yield r, c, Window(c * spec.stride_px, r * spec.stride_px, spec.chip_px, spec.chip_px)


def read_chip(ds: DatasetReader, win: Window, spec: ChipSpec) -> tuple[np.ndarray, np.ndarray]:
    """(3, H, W) uint8 RGB and the (H, W) valid mask of one chip window (outside the image = invalid)."""
    rgb = read_padded(ds, win, 0, indexes=list(spec.rgb_bands)).astype(np.uint8)
    valid = read_padded_mask(ds, win)
    alpha = resolve_alpha(ds, spec.alpha_band)
    if alpha:
        valid = valid & (read_padded(ds, win, 0, indexes=alpha) > 0)
    nod = ds.nodata
    if nod is not None:
        valid = valid & ~np.all(rgb == nod, axis=0)
    return rgb, valid


def read_padded_mask(ds: DatasetReader, win: Window) -> np.ndarray:
    """True where the window lies inside the raster."""
    r0, c0, h, w = int(win.row_off), int(win.col_off), int(win.height), int(win.width)
    m = np.zeros((h, w), bool)
    m[max(0, -r0) : max(0, min(h, ds.height - r0)), max(0, -c0) : max(0, min(w, ds.width - c0))] = True
    return m


def iter_chips(path: str, spec: ChipSpec) -> Iterator[tuple[Chip, np.ndarray]]:
    """Valid chips with their RGB arrays, read one window at a time (bounded memory)."""
    grid = check_orthomosaic(path, spec)
    with rasterio.open(path) as ds:
        for r, c, win in chip_windows(grid, spec):
            rgb, valid = read_chip(ds, win, spec)
            frac = float(valid.mean())
            if frac >= spec.min_valid:
                yield Chip(r, c, win, frac), rgb


def chip_footprint(grid: Grid, win: Window) -> tuple[float, float, float, float]:
    """(left, bottom, right, top) of a chip window under the grid's transform."""
    a = grid.affine
    left, top = a * (win.col_off, win.row_off)
    right, bottom = a * (win.col_off + win.width, win.row_off + win.height)
    return left, bottom, right, top


def write_chip_layer(path: str, grid: Grid, chips: list, probability: bool = True) -> None:
    """Chip footprints (exact pixel windows) with row, col, valid fraction and probability, as GeoPackage."""
    srs = osr.SpatialReference()
    srs.ImportFromWkt(grid.crs_wkt)
    with atomic_path(path) as tmp:
        ds = ogr.GetDriverByName("GPKG").CreateDataSource(str(tmp))
        lyr = ds.CreateLayer(Path(path).stem, srs, ogr.wkbPolygon)
        for name, t in (("row", ogr.OFTInteger), ("col", ogr.OFTInteger), ("valid_fraction", ogr.OFTReal)):
            lyr.CreateField(ogr.FieldDefn(name, t))
        if probability:
            lyr.CreateField(ogr.FieldDefn("probability", ogr.OFTReal))
            lyr.CreateField(ogr.FieldDefn("domain_distance", ogr.OFTReal))
            lyr.CreateField(ogr.FieldDefn("image_distance", ogr.OFTReal))
            lyr.CreateField(ogr.FieldDefn("unfamiliar", ogr.OFTInteger))
        ds.StartTransaction()
        for c in chips:
            win = Window(*c.window) if isinstance(c.window, tuple) else c.window
            left, bottom, right, top = chip_footprint(grid, win)
            ring = ogr.Geometry(ogr.wkbLinearRing)
            for x, y in ((left, top), (right, top), (right, bottom), (left, bottom), (left, top)):
                ring.AddPoint_2D(x, y)
            poly = ogr.Geometry(ogr.wkbPolygon)
            poly.AddGeometry(ring)
            f = ogr.Feature(lyr.GetLayerDefn())
            f.SetField("row", int(c.row))
            f.SetField("col", int(c.col))
            f.SetField("valid_fraction", float(c.valid_fraction))
            if probability:
                f.SetField("probability", float(c.probability))
                if np.isfinite(c.domain_distance):
                    f.SetField("domain_distance", float(c.domain_distance))
                if np.isfinite(c.image_distance):
                    f.SetField("image_distance", float(c.image_distance))
                f.SetField("unfamiliar", int(c.unfamiliar))
            f.SetGeometry(poly)
            lyr.CreateFeature(f)
        ds.CommitTransaction()
        ds = None


def tile_orthomosaic(
    path: str, spec: ChipSpec, out_layer: str, image_folder: str | None = None, progress: Progress | None = None
) -> list[Chip]:
    """The chip index layer (GeoPackage) over an orthomosaic, and optionally each chip as a PNG for labelling.

    Why in the engine: ``crack_tile`` and ``python -m core crack-tile`` give the same chips and
    files; the images are named ``chip_r<row>_c<col>.png`` after the chip's pixel offsets.
    """
    progress = progress or NullProgress()
    chips = []
    for chip, rgb in iter_chips(path, spec):
        check(progress)
        chips.append(chip)
        if image_folder:
            from PIL import Image

            Path(image_folder).mkdir(parents=True, exist_ok=True)
            with atomic_path(Path(image_folder) / f"chip_r{chip.row:04d}_c{chip.col:04d}.png") as tmp:
                Image.fromarray(rgb.transpose(1, 2, 0)).save(tmp, format="PNG")
    if not chips:
        raise InvalidInputError("No chip has enough valid pixels: the area is all nodata.")
    write_chip_layer(out_layer, Grid.from_path(path), chips, probability=False)
    progress.log(f"{len(chips)} chips")
    return chips
