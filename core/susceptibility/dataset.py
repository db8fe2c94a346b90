"""Factor patches and climate series for sample cells, with stack-wide normalisation.

Normalisation statistics come from *all* valid cells of the stack (unsupervised, label-free), so
they do not leak test labels and they are exactly reproducible at prediction time. Nodata cells
inside a patch become 0 after standardisation, i.e. the factor's mean.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from enum import Enum

import numpy as np
import rasterio
from rasterio.windows import Window

from ..errors import GridMismatchError, InvalidInputError
from ..raster.grid import Grid
from ..raster.io import bounded_gdal_cache, valid_mask
from ..raster.stack import StackLike, as_stack, read_block


class TemporalMode(str, Enum):
    """What the LSTM branch reads.

    CLIMATE: the 12 x 2 monthly rainfall/temperature series of a temporal stack (the paper).
    FACTOR_SEQUENCE: no climate data: the centre cell's static factors read as a sequence of
        length n_factors (a common LSM practice; *not* temporal information, reported as such).
    NONE: no LSTM branch; LSTM-based models are skipped.
    """

    CLIMATE = "climate"
    FACTOR_SEQUENCE = "factor_sequence"
    NONE = "none"


#: most distinct codes a categorical factor may have before one-hot encoding is refused
MAX_CATEGORIES = 64


@dataclass
class Normalisation:
    """Per-band mean and standard deviation, and the codes of categorical bands.

    ``categories`` maps a band index (as a string: it travels in JSON model cards) to the sorted
    codes of a categorical factor. Such a band is replaced by one 0/1 channel per code (one-hot):
    standardising lithology codes would invent an order and distances between rock types. A code
    not seen in the training stack, and nodata, give all-zero indicators.
    """

    mean: list[float]
    std: list[float]
    categories: dict[str, list[float]] | None = None

    @property
    def n_channels(self) -> int:
        """Model input channels: one per continuous band, one per code of a categorical band."""
        cats = self.categories or {}
        return sum(len(cats[str(i)]) if str(i) in cats else 1 for i in range(len(self.mean)))

    def feature_names(self, names: list[str]) -> list[str]:
        """Channel names, ``factor=code`` for the indicators of a categorical factor."""
        cats = self.categories or {}
        out: list[str] = []
        for i, n in enumerate(names):
            out += [f"{n}={c:g}" for c in cats[str(i)]] if str(i) in cats else [n]
        return out

    def apply(self, data: np.ndarray, ok: np.ndarray) -> np.ndarray:
        """Model input of a (C, H, W) block: standardised, one-hot where categorical, 0 outside ``ok``."""
        m = np.asarray(self.mean, np.float32)[:, None, None]
        s = np.asarray(self.std, np.float32)[:, None, None]
        z = np.where(ok[None], (data - m) / s, 0.0).astype(np.float32)
        if not self.categories:
            return z
        parts = []
        for i in range(z.shape[0]):
            codes = self.categories.get(str(i))
            if codes is None:
                parts.append(z[i : i + 1])
            else:
                codes_a = np.asarray(codes, np.float32)[:, None, None]
                parts.append(((data[i][None] == codes_a) & ok[None]).astype(np.float32))
        return np.concatenate(parts)


@bounded_gdal_cache
def band_stats(stack: StackLike, block: int = 1024, one_hot: bool = True) -> Normalisation:
    """Mean and std of every band over the stack's common valid cells (streaming, windowed).

    With ``one_hot``, the codes of the stack's categorical bands (band metadata written by
    ``lsm_stack_factors``) are collected too, label-free over the whole stack like the statistics.
    """
    info = as_stack(stack)
    path = info.path
    cat_idx = [info.names.index(n) for n in info.categorical] if one_hot else []
    codes: dict[int, set[float]] = {i: set() for i in cat_idx}
    n = 0
    s = np.zeros(len(info.names))
    ss = np.zeros(len(info.names))
    with rasterio.open(path) as ds:
        for win in info.grid.windows(block):
            data, ok = read_block(ds, win, info.nodata, f"The stack {path}")
            v = data[:, ok].astype(np.float64)
            n += v.shape[1]
            s += v.sum(axis=1)
            ss += (v**2).sum(axis=1)
            for i in cat_idx:
                codes[i].update(np.unique(data[i][ok]).tolist())
                if len(codes[i]) > MAX_CATEGORIES:
                    raise InvalidInputError(
                        f"The categorical factor '{info.names[i]}' of {path} has more than {MAX_CATEGORIES} distinct "
                        "values; is it really a class map? Reclassify it into fewer classes, or stack it as a "
                        "continuous factor."
                    )
    if not n:
        raise InvalidInputError(f"The stack {path} has no valid cell.")
    mean = s / n
    std = np.sqrt(np.maximum(ss / n - mean**2, 0))
    std = np.where(std > 1e-12, std, 1.0)
    cats = {str(i): sorted(float(c) for c in codes[i]) for i in cat_idx} or None
    return Normalisation([float(v) for v in mean], [float(v) for v in std], cats)


def read_patches(
    stack: StackLike,
    rows: np.ndarray,
    cols: np.ndarray,
    patch: int,
    norm: Normalisation,
    ds: rasterio.io.DatasetReader | None = None,
) -> np.ndarray:
    """Model-input (N, C', patch, patch) patches centred on cells (centre index ``patch // 2``).

    ``ds``: the stack already open (a caller reading it several times opens it once).
    """
    half = patch // 2
    out = np.zeros((rows.size, norm.n_channels, patch, patch), np.float32)
    info = as_stack(stack)
    path = info.path
    with contextlib.ExitStack() as opened:
        src = ds if ds is not None else opened.enter_context(rasterio.open(path))
        for i, (r, c) in enumerate(zip(rows, cols)):
            win = Window(int(c) - half, int(r) - half, patch, patch)
            data, ok = read_block(src, win, info.nodata, f"The stack {path}")
            out[i] = norm.apply(data, ok)
    return out


def read_series(
    stack: StackLike, rows: np.ndarray, cols: np.ndarray, n_steps: int, n_vars: int, norm: Normalisation
) -> np.ndarray:
    """Standardised (N, n_steps, n_vars) climate series of cells from a variable-major temporal stack."""
    info = as_stack(stack)
    path = info.path
    if len(info.names) != n_steps * n_vars:
        raise InvalidInputError(
            f"The temporal stack {path} has {len(info.names)} bands; expected {n_steps} steps x {n_vars} variables."
        )
    grid = info.grid
    with rasterio.open(path) as ds:
        vals = np.array(list(ds.sample(zip(*grid.xy(rows, cols)))), dtype=np.float32)
    ok = np.all(valid_mask(vals, info.nodata), axis=1)
    z = (vals - np.asarray(norm.mean, np.float32)) / np.asarray(norm.std, np.float32)
    z[~ok] = 0.0
    return z.reshape(-1, n_vars, n_steps).transpose(0, 2, 1).copy()


@dataclass
class SampleSet:
    """Model inputs for a set of sample cells."""

    patches: np.ndarray  # (N, C, P, P)
    series: np.ndarray | None  # (N, T, V)
    labels: np.ndarray  # (N,)
    is_test: np.ndarray  # (N,)
    blocks: np.ndarray  # (N,)

    @property
    def centre(self) -> np.ndarray:
        """(N, C) standardised factor values at the sample cells (input of RF and XGBoost-LR)."""
        p = self.patches.shape[-1] // 2
        return self.patches[:, :, p, p]

    def subset(self, idx: np.ndarray) -> SampleSet:
        """Rows ``idx`` of every array."""
        return SampleSet(
            self.patches[idx],
            None if self.series is None else self.series[idx],
            self.labels[idx],
            self.is_test[idx],
            self.blocks[idx],
        )


def series_for(mode: TemporalMode, patches: np.ndarray, climate: np.ndarray | None) -> np.ndarray | None:
    """What the LSTM branch receives for ``mode`` (see :class:`TemporalMode`)."""
    if mode is TemporalMode.CLIMATE:
        if climate is None:
            raise InvalidInputError("Temporal mode 'climate' needs a temporal (monthly climate) stack.")
        return climate
    if mode is TemporalMode.FACTOR_SEQUENCE:
        p = patches.shape[-1] // 2
        return patches[:, :, p, p][:, :, None].copy()
    return None


def check_temporal_grid(stack: Grid, temporal: StackLike) -> None:
    """The temporal stack must share the factor stack's grid cell for cell."""
    t = as_stack(temporal).grid
    if not stack.same_as(t):
        raise GridMismatchError(
            "The temporal (climate) stack is not on the factor stack's grid; build it with lsm_stack_factors "
            "using the factor stack as the reference grid."
        )
