"""Reading a training run's samples from disk: patches, series, labels, split and normalisation.

Why a module of its own: the model comparison (``train.py``), the spatial cross-validation and
the Bayesian search all start from a :class:`Prepared`; with it here none of them imports another
for it (``train`` <-> ``cross_validation`` and ``train`` <-> ``search`` were import circles).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import InvalidInputError
from ..progress import NullProgress, Progress
from ..raster.stack import Stack, StackLike, as_stack, temporal_layout, temporal_variables
from ..sampling.absences import SamplingConfig, SplitMethod, split_samples
from ..sampling.points import read_points
from .dataset import (
    Normalisation,
    SampleSet,
    TemporalMode,
    band_stats,
    check_temporal_grid,
    read_patches,
    read_series,
    series_for,
)
from .fitting import PATCH_SHARE_WARNING, TrainConfig
from .models import DEEP_MODELS, MIN_VALID_PATCH


def valid_cell_count(stack_path: str) -> int:
    """Cells with data in every band (the study area proper), counted window by window."""
    import rasterio

    n = 0
    with rasterio.open(stack_path) as ds:
        for _, win in ds.block_windows(1):
            n += int((ds.dataset_mask(window=win) > 0).sum())
    return n


def patch_share_note(stack_path: str, patch: int) -> str | None:
    """A warning when one patch covers more than PATCH_SHARE_WARNING of the *valid* cells, with a size that would not.

    Why valid cells: a study area is rarely its bounding box; on a held-back area whose valid half
    made a 30-cell patch cover 2 % of the data, the warning counted the whole grid and stayed silent.
    """
    valid = valid_cell_count(stack_path)
    share = patch**2 / max(1, valid)
    if share <= PATCH_SHARE_WARNING:
        return None
    fits = int(np.floor(np.sqrt(PATCH_SHARE_WARNING * valid)))
    if fits >= MIN_VALID_PATCH:
        advice = f"a patch of {fits} cells or fewer keeps it under {PATCH_SHARE_WARNING:.0%}"
    elif fits >= 3:
        advice = (
            f"a patch of {fits} cells or fewer keeps it under {PATCH_SHARE_WARNING:.0%} (below {MIN_VALID_PATCH} the "
            "CNN pads its convolutions); or a larger study area, or the tabular models"
        )
    else:
        advice = "the area is too small for patch models: use the tabular models (RF, GLM, GAM) or a larger area"
    return (
        f"one {patch} x {patch}-cell patch covers {share:.1%} of the stack's {valid} valid cells: patches of "
        f"different samples overlap heavily, spatial blocks must be large and few, and the deep models see much "
        f"of the area around every sample; {advice}."
    )


@dataclass
class Prepared:
    """Everything read from disk for a training run."""

    data: SampleSet
    names: list[str]
    norm: Normalisation
    climate_norm: Normalisation | None
    climate_names: list[str] | None
    n_steps: int
    n_vars: int
    grid_resolution: float
    crs_wkt: str
    x: np.ndarray = field(default_factory=lambda: np.empty(0))  # sample coordinates (stack CRS)
    y: np.ndarray = field(default_factory=lambda: np.empty(0))
    attrs: dict = field(default_factory=dict)  # the samples' other fields (e.g. a mapping-unit id)
    climate_vars: list[str] | None = None  # the temporal stack's variables (e.g. rain, temp)
    #: the factor stack the samples were read from (opened once by :func:`prepare`; CV and the zoning
    #: cells read it again through this value instead of re-opening a path)
    stack: Stack | None = None
    #: the temporal (climate) stack of temporal mode ``climate``, else None
    temporal: Stack | None = None

    @property
    def features(self) -> list[str]:
        """Names of the model-input channels (a categorical factor gives one per code)."""
        return self.norm.feature_names(self.names)


def prepare(
    stack: StackLike,
    samples: str,
    cfg: TrainConfig,
    temporal_stack: StackLike | None = None,
    label_field: str = "label",
    split_field: str = "split",
    block_size_m: float = 1000.0,
    progress: Progress | None = None,
) -> Prepared:
    """Read sample patches (and series) for every sample point of ``samples``."""
    progress = progress or NullProgress()
    info = as_stack(stack)
    if cfg.patch_size > min(info.grid.width, info.grid.height):
        raise InvalidInputError(
            f"The patch ({cfg.patch_size} x {cfg.patch_size} cells) is larger than the stack "
            f"({info.grid.width} x {info.grid.height} cells): patches would be mostly padding. Use a patch of at most "
            f"{min(info.grid.width, info.grid.height)} cells (much smaller is wiser) or a larger study area."
        )
    if any(m in DEEP_MODELS for m in cfg.models):
        note = patch_share_note(info.path, cfg.patch_size)
        if note:
            progress.log("Warning: " + note)
    pts = read_points(samples, info.grid.crs_wkt)
    if label_field not in pts.attrs:
        raise InvalidInputError(f"The sample layer has no '{label_field}' field (1 = landslide, 0 = absence).")
    rows, cols = info.grid.rowcol(pts.x, pts.y)
    inside = info.grid.inside(rows, cols)
    if not inside.any():
        raise InvalidInputError("No sample point falls inside the factor stack's grid; check CRS and extent.")
    raw = np.asarray(pts.attrs[label_field], dtype=object)[inside]
    try:
        labels_f = np.array([float(v) for v in raw], dtype=float)
    except (TypeError, ValueError) as exc:
        found = sorted({str(v) for v in raw})[:5]
        raise InvalidInputError(
            f"The '{label_field}' field must hold numbers 1 (landslide) and 0 (absence); found values like {found}. "
            "Recode it (e.g. with the field calculator) or use the samples written by lsm_sample_absences."
        ) from exc
    if not np.isin(labels_f, (0.0, 1.0)).all() or set(np.unique(labels_f)) != {0.0, 1.0}:
        raise InvalidInputError(
            f"The '{label_field}' field must hold only 1 (landslide) and 0 (absence), both present; found "
            f"{sorted(set(np.unique(labels_f).tolist()))[:6]}."
        )
    labels = labels_f.astype(int)
    rows, cols = rows[inside], cols[inside]
    x, y = pts.x[inside], pts.y[inside]
    if split_field in pts.attrs:
        is_test = np.asarray(pts.attrs[split_field])[inside].astype(str) == "test"
        blocks = np.asarray(pts.attrs.get("block", np.zeros(inside.size)))[inside].astype(int)
    else:
        is_test, blocks = split_samples(
            x, y, labels, SamplingConfig(split=SplitMethod.SPATIAL_BLOCKS, block_size_m=block_size_m, seed=cfg.seed)
        )
    if not is_test.any() or is_test.all():
        raise InvalidInputError("The samples need both 'train' and 'test' rows in their split field.")
    progress.report(0.1, "normalisation statistics")
    norm = band_stats(info, one_hot=cfg.one_hot)
    if norm.categories:
        progress.log(
            "One-hot encoding the categorical factor(s) "
            + ", ".join(f"{info.names[int(i)]} ({len(c)} classes)" for i, c in norm.categories.items())
        )
    progress.report(0.3, f"reading {rows.size} patches of {cfg.patch_size}x{cfg.patch_size}")
    patches = read_patches(info, rows, cols, cfg.patch_size, norm)
    climate = climate_norm = climate_names = climate_vars = None
    tinfo: Stack | None = None
    n_steps, n_vars = norm.n_channels, 1
    if cfg.temporal_mode is TemporalMode.CLIMATE:
        if not temporal_stack:
            raise InvalidInputError("Temporal mode 'climate' needs a temporal stack (monthly rainfall + temperature).")
        tinfo = as_stack(temporal_stack)
        check_temporal_grid(info.grid, tinfo)
        n_steps, n_vars = temporal_layout(tinfo)
        climate_norm = band_stats(tinfo)
        climate = read_series(tinfo, rows, cols, n_steps, n_vars, climate_norm)
        climate_names = tinfo.names
        climate_vars = temporal_variables(tinfo)
    series = series_for(cfg.temporal_mode, patches, climate)
    progress.report(1.0, "samples read")
    data = SampleSet(patches, series, labels, is_test, blocks)
    attrs = {k: np.asarray(v)[inside] for k, v in pts.attrs.items()}
    return Prepared(
        data,
        info.names,
        norm,
        climate_norm,
        climate_names,
        n_steps,
        n_vars,
        info.grid.resolution[0],
        info.grid.crs_wkt,
        x,
        y,
        attrs,
        climate_vars,
        info,
        tinfo,
    )
