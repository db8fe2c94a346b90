"""Map texture: does a susceptibility map follow the terrain at cell scale?

Why: the CNN-LSTM-AM map of the bundled sample was a smooth blob around the landslide clusters;
a geologist reads terrain (a steep gully beside a flat terrace) into a map and distrusts one that
has none. This measure makes that visible as a number: the Pearson correlation between the
*local detail* of the map and of one factor (each minus its own ``size`` x ``size`` moving mean),
so broad trends shared by both do not count, only cell-scale texture. Computed window by window
with a halo, in bounded memory.
"""

from __future__ import annotations

import numpy as np
import rasterio
from rasterio.windows import Window

from ..errors import InvalidInputError
from ..raster.grid import Grid
from ..raster.io import valid_mask


def texture_correlation(map_path: str, stack_path: str, factor: str, size: int = 5, block: int = 512) -> float:
    """Correlation of the map's and ``factor``'s local detail (value minus ``size``-cell moving mean).

    Both rasters must share the grid (a map made by ``lsm_predict`` from that stack does). Cells
    where either is nodata, or whose neighbourhood is incomplete, are left out.
    """
    from scipy.ndimage import uniform_filter

    if size < 3 or size % 2 == 0:
        raise InvalidInputError(f"The texture window must be an odd number of cells >= 3, not {size}.")
    halo = size // 2
    sums = np.zeros(6)  # n, sx, sy, sxx, syy, sxy
    with rasterio.open(map_path) as m, rasterio.open(stack_path) as s:
        if (m.width, m.height, m.transform) != (s.width, s.height, s.transform):
            raise InvalidInputError("The map and the stack must share one grid (the map made from this stack).")
        names = list(s.descriptions)
        if factor not in names:
            raise InvalidInputError(f"The stack has no factor '{factor}'; its factors are {names}.")
        band = names.index(factor) + 1
        for win in Grid.from_dataset(m).windows(block):
            r0, c0 = max(0, int(win.row_off) - halo), max(0, int(win.col_off) - halo)
            r1 = min(m.height, int(win.row_off + win.height) + halo)
            c1 = min(m.width, int(win.col_off + win.width) + halo)
            big = Window(c0, r0, c1 - c0, r1 - r0)
            a = m.read(1, window=big).astype(np.float64)
            b = s.read(band, window=big).astype(np.float64)
            ok = valid_mask(a, m.nodata) & valid_mask(b, s.nodata)
            full = uniform_filter(ok.astype(float), size, mode="constant") > 1 - 1e-9
            da = a - uniform_filter(np.where(ok, a, 0.0), size, mode="constant")
            db = b - uniform_filter(np.where(ok, b, 0.0), size, mode="constant")
            inner = np.zeros_like(ok)
            ri, ci = int(win.row_off) - r0, int(win.col_off) - c0
            inner[ri : ri + int(win.height), ci : ci + int(win.width)] = True
            use = ok & full & inner
            x, y = da[use], db[use]
            sums += [x.size, x.sum(), y.sum(), (x * x).sum(), (y * y).sum(), (x * y).sum()]
    n, sx, sy, sxx, syy, sxy = sums
    if n < 3:
        raise InvalidInputError("Too few valid cells with a complete neighbourhood to measure texture.")
    cov = sxy / n - sx * sy / n**2
    var = (sxx / n - (sx / n) ** 2) * (syy / n - (sy / n) ** 2)
    return float(cov / np.sqrt(var)) if var > 0 else float("nan")
