"""Atomic output files and small raster I/O helpers shared by every writer.

Why: a crash, a cancel or a validation error half-way through a window loop must never leave a
partial GeoTIFF that QGIS would happily load. Every writer therefore writes to a temporary file
in the destination folder and renames it into place only on success.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rasterio.io import DatasetReader
    from rasterio.windows import Window


import contextlib
import functools
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import numpy as np

#: nodata value of every float32 raster the engine writes (NaN would survive arithmetic silently).
FLOAT_NODATA = -9999.0

#: GeoTIFF creation options: tiled and compressed, so QGIS renders large outputs quickly.
#: every engine-written GeoTIFF: tiled, deflate-compressed (lossless, readable everywhere) on all cores
#: at level 1, BigTIFF when needed. Why: closing a 6000 x 6000 float32 crack-probability raster took
#: 3.4 s of an 18 s prediction at the default level on one core, 2.0 s on two, 0.24 s at level 1;
#: the file grows from 9.2 to 12.4 MB (a susceptibility map: 29.1 to 29.5 MB). Profiled 2026-11-22.
GTIFF_OPTIONS = {
    "tiled": True,
    "blockxsize": 256,
    "blockysize": 256,
    "compress": "deflate",
    "bigtiff": "if_safer",
    "num_threads": "all_cpus",
    "zlevel": 1,
}


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary sibling path; move it onto ``path`` only if the block succeeds.

    Args:
        path: final destination.

    Yields:
        A temporary path with the same suffix in the same folder (so the rename is atomic).
    """
    dest = Path(path)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.stem}.", suffix=dest.suffix, dir=dest.parent)
    os.close(fd)
    os.unlink(tmp)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, dest)
        aux = Path(str(tmp_path) + ".aux.xml")
        if aux.exists():
            os.replace(aux, Path(str(dest) + ".aux.xml"))
    finally:
        for p in (tmp_path, Path(str(tmp_path) + ".aux.xml")):
            with contextlib.suppress(FileNotFoundError):
                p.unlink()


def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Write a text file atomically (tables, reports, model cards)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_csv_atomic(path: str | os.PathLike[str], head: list[str], rows: list[list]) -> None:
    """A CSV table written atomically with the csv module (quoting of commas and quotes handled)."""
    import csv
    import io

    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows([head, *rows])
    write_text_atomic(path, buf.getvalue())


def valid_range(
    ds: DatasetReader, windows: Iterable[Window], mask: Callable[[Window], np.ndarray] | None = None
) -> tuple[float, float]:
    """(min, max) of band 1's valid cells over ``windows`` (optionally only where ``mask(win)``); inf if none."""
    lo, hi = np.inf, -np.inf
    for win in windows:
        a = ds.read(1, window=win)
        ok = valid_mask(a, ds.nodata)
        if mask is not None:
            ok &= mask(win)
        if ok.any():
            lo, hi = min(lo, float(a[ok].min())), max(hi, float(a[ok].max()))
    return lo, hi


def valid_mask(data: np.ndarray, nodata: float | None) -> np.ndarray:
    """Cells that hold data: finite and not equal to the declared nodata value."""
    ok = np.isfinite(data)
    if nodata is not None and np.isfinite(nodata):
        ok &= data != nodata
    return ok


#: GDAL block cache for engine calls. GDAL's default (5 % of RAM) would let a window loop over a
#: large raster grow the process by gigabytes of cached blocks; windows are read once, so a small
#: cache costs no speed.
GDAL_CACHE_MB = int(os.environ.get("LANDSLIDEAI_GDAL_CACHE_MB", "256"))

F = TypeVar("F", bound=Callable)


def bounded_gdal_cache(func: F) -> F:
    """Run ``func`` with GDAL's block cache capped at ``GDAL_CACHE_MB`` (bounded memory)."""

    @functools.wraps(func)
    def wrapper(*args: object, **kwargs: object) -> object:
        import rasterio

        with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB * 2**20):
            return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def read_padded(ds: DatasetReader, win: Window, fill: float, indexes: int | list[int] | None = None) -> np.ndarray:
    """Read a window that may extend past the raster's edges, padding outside cells with ``fill``.

    rasterio's ``boundless=True`` builds a warped VRT for every call, which is slow and holds
    memory across a window loop; reading the in-bounds part and padding costs neither.
    """
    from rasterio.windows import Window

    r0, c0 = int(win.row_off), int(win.col_off)
    h, w = int(win.height), int(win.width)
    rr0, cc0 = max(r0, 0), max(c0, 0)
    rr1, cc1 = min(r0 + h, ds.height), min(c0 + w, ds.width)
    bands = ds.count if indexes is None else (1 if isinstance(indexes, int) else len(indexes))
    out = np.full((bands, h, w), fill, dtype=np.float32)
    if rr1 > rr0 and cc1 > cc0:
        inner = ds.read(indexes if indexes is not None else None, window=Window(cc0, rr0, cc1 - cc0, rr1 - rr0))
        inner = inner if inner.ndim == 3 else inner[None]
        out[:, rr0 - r0 : rr1 - r0, cc0 - c0 : cc1 - c0] = inner
    return out if not isinstance(indexes, int) else out[0]
