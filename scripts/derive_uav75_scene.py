"""Build the crack demo scene: UAV75's 15 *test* photos as one georeferenced mosaic with pixel labels.

UAV75 photos carry no georeference. The scene places them side by side (5 columns x 3 rows of
512 px photos, no gaps, no overlap) in EPSG:32632 (UTM 32N) at a *nominal* origin
(500 000 E, 5 000 000 N) with a nominal 1 mm pixel: close-range drone images of a concrete wall,
so map coordinates are a stand-in that lets QGIS overlay chips, probability and Grad-CAM on the
image. Nothing about the location is real; the geometry within each photo is.

Outputs (both the same grid):
- ``scene_rgb.tif``: RGB, JPEG-compressed (quality 90) tiled GeoTIFF;
- ``crack_labels.tif``: uint8, 1 = crack pixel (UAV75 label white), 0 = not crack (background and the
  grey "planking" class), deflate-compressed.

Chips of 227 px with a stride of 256 px (offsets 0 and 256 in each photo) never straddle two
photos; that is the layout the demo evaluates. Usage:

    python scripts/derive_uav75_scene.py ../shared/data/uav75_drone_crack_segmentation sample_data/uav75_scene
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import rasterio
from PIL import Image
from rasterio.transform import from_origin

sys.path.insert(0, str(Path(__file__).resolve().parent))
from derive_uav75_chips import crack_mask, label_of

PHOTO, COLS = 512, 5
ORIGIN, PIXEL_M, CRS = (500_000.0, 5_000_000.0), 0.001, "EPSG:32632"


def main(src: str, dst: str) -> None:
    """Write the mosaic and the label raster into ``dst``; print the photo order."""
    photos = sorted((Path(src) / "test_img").glob("*"))
    rows = -(-len(photos) // COLS)
    rgb = np.zeros((3, rows * PHOTO, COLS * PHOTO), np.uint8)
    lab = np.zeros((rows * PHOTO, COLS * PHOTO), np.uint8)
    for k, p in enumerate(photos):
        r, c = divmod(k, COLS)
        sl = (slice(r * PHOTO, (r + 1) * PHOTO), slice(c * PHOTO, (c + 1) * PHOTO))
        rgb[:, sl[0], sl[1]] = np.asarray(Image.open(p).convert("RGB")).transpose(2, 0, 1)
        lab[sl] = crack_mask(label_of(p, Path(src), "test"))
        print(f"row {r} col {c}: {p.name}")
    out = Path(dst)
    out.mkdir(parents=True, exist_ok=True)
    common = {
        "driver": "GTiff",
        "width": rgb.shape[2],
        "height": rgb.shape[1],
        "crs": CRS,
        "transform": from_origin(ORIGIN[0], ORIGIN[1], PIXEL_M, PIXEL_M),
        "tiled": True,
        "blockxsize": 256,
        "blockysize": 256,
    }
    with rasterio.open(
        out / "scene_rgb.tif",
        "w",
        count=3,
        dtype="uint8",
        compress="jpeg",
        jpeg_quality=90,
        photometric="ycbcr",
        **common,
    ) as d:
        d.write(rgb)
    with rasterio.open(out / "crack_labels.tif", "w", count=1, dtype="uint8", compress="deflate", **common) as d:
        d.write(lab, 1)
    print(f"{len(photos)} photos, {int(lab.sum())} crack pixels, {rgb.shape[2]} x {rgb.shape[1]} px")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
