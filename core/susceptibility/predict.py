"""Dense prediction of a saved model over a whole stack, window by window, and zoning.

Each window is read with a halo of ``patch // 2`` cells so that every cell gets the full patch it
was trained on; patches are views (``sliding_window_view``), copied only batch by batch, so
memory is bounded by the window and batch sizes, not by the stack.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from rasterio.io import DatasetReader

if TYPE_CHECKING:
    import torch

    from ..onnx_models import OnnxModel
    from ..raster.stack import Stack
    from .networks import SeedEnsemble, SusceptibilityNet


import html
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import rasterio
from numpy.lib.stride_tricks import sliding_window_view
from rasterio.windows import Window

from ..dependencies import require
from ..errors import GridMismatchError, InvalidInputError, ModelLoadError
from ..model_card import ModelKind, SusceptibilityCard
from ..outputs import norm_path
from ..progress import NullProgress, Progress, SubProgress, check
from ..raster.io import FLOAT_NODATA, atomic_path, bounded_gdal_cache, write_text_atomic
from ..raster.stack import StackLike, as_stack, read_block
from ..raster.zoning import (
    ZONE_LABELS_5,
    ZoningMethod,
    compute_breaks,
    empty_zone_warning,
    sample_values,
    validate_user_breaks,
    zone_raster,
)
from ..runtime import resolve_backend
from ..sampling.points import Points
from .dataset import Normalisation, TemporalMode, check_temporal_grid
from .models import DeepHP
from .provenance import tag_fit
from .tabular_io import LEGACY_SUFFIX, load_tabular, model_n_features


@dataclass
class LoadedModel:
    """A model ready to score cells."""

    card: SusceptibilityCard
    kind: str
    net: SusceptibilityNet | SeedEnsemble | None
    tree: Any
    norm: Normalisation
    climate_norm: Normalisation | None


def load_model(card_path: str) -> LoadedModel:
    """Load a model from its card (the weights file sits beside it, checked by ``weights_path``).

    Nothing here can run code from the files: torch weights are read with ``weights_only`` and the
    tabular models from the data-only format of :mod:`.tabular_io`; a ``.joblib`` (pickle) of an
    older version is refused with the one command that converts it safely.
    """
    card = SusceptibilityCard.load(card_path)
    w = card.weights_path(card_path)
    norm = Normalisation(**card.factor_normalisation)
    cn = card.climate_normalisation
    climate_norm = Normalisation(**cn) if cn else None
    if card.kind.is_deep:
        require(("torch",), f"The {card.kind.display} model of {card_path}")
        from ..runtime import load_weights
        from .networks import SeedEnsemble, SusceptibilityNet

        hpd = {k: v for k, v in card.hyperparameters.items() if k in DeepHP().to_dict()}
        hpd.setdefault("cnn_padding", "same")  # cards written before the unpadded variant existed
        hpd.setdefault("centre_skip", False)  # cards written before the centre skip existed
        members = [
            SusceptibilityNet(
                card.architecture,
                norm.n_channels,
                card.n_vars,
                DeepHP(**hpd),
                card.patch_size,
            )
            for _ in range(card.ensemble)
        ]
        net = members[0] if len(members) == 1 else SeedEnsemble(members)
        load_weights(net, w, card.architecture)
        return LoadedModel(card, card.architecture, net.eval(), None, norm, climate_norm)
    if w.suffix == LEGACY_SUFFIX:
        raise ModelLoadError(
            f"{w} is a pickled model of Landslide AI <= 0.2; pickles can run code when loaded, so it is not "
            "opened. Convert the card once with Processing 'Convert an old model card (.joblib)' or "
            f"`python -m core convert-model {card_path} NEW_FOLDER` (both read only the expected scikit-learn/XGBoost "
            "types and refuse anything else), or retrain."
        )
    if card.kind is ModelKind.XGB_LR:
        require(("xgboost",), f"The XGBoost-LR model of {card_path}")
    tree = load_tabular(w, card.kind.value)
    if model_n_features(tree, card.kind.value) != norm.n_channels:
        raise ModelLoadError(
            f"The model file {w} takes {model_n_features(tree, card.kind.value)} factor values but its card names "
            f"{norm.n_channels}: the card and the file belong to different models. Use the card saved with the file."
        )
    return LoadedModel(card, card.architecture, None, tree, norm, climate_norm)


def check_stack_matches(model: LoadedModel, names: list[str], resolution: float) -> None:
    """Refuse a stack whose factors (names or order) or resolution differ from the training stack."""
    want = model.card.factors
    if names != want:
        raise GridMismatchError(
            f"The model was trained on factors {want} (in this order) but the stack has {names}. "
            "Stack the same factors in the same order with lsm_stack_factors."
        )
    res = model.card.resolution_m or resolution
    if abs(res - resolution) > 0.01 * res:
        raise GridMismatchError(
            f"The model was trained on a {res:g} m grid but the stack has {resolution:g} m cells; patches would "
            "cover a different ground area. Re-stack at the training resolution."
        )


#: a factor whose mean lies this many training standard deviations away, or whose spread differs
#: by this factor, is "clearly different": swapped bands, other units (feet vs metres), another area.
SHIFT_SD = 5.0
SPREAD_RATIO = 10.0


def decimated_values(path: str, max_side: int = 512) -> np.ndarray:
    """(bands, cells) values of the common valid cells of a decimated (nearest) read of a stack."""
    with rasterio.open(path) as ds:
        f = max(1, int(np.ceil(max(ds.width, ds.height) / max_side)))
        shape = (ds.count, max(1, ds.height // f), max(1, ds.width // f))
        data = ds.read(out_shape=shape, resampling=rasterio.enums.Resampling.nearest).astype(np.float64)
        ok = np.all(np.isfinite(data), axis=0)
        if ds.nodata is not None and np.isfinite(ds.nodata):
            ok &= np.all(data != ds.nodata, axis=0)
    if not ok.any():
        raise InvalidInputError(f"The stack {path} has no valid cell (every cell is nodata in some band).")
    return data[:, ok]


#: share of a categorical factor's cells with codes the model never saw above which prediction warns
UNSEEN_CODE_SHARE = 0.01


def unseen_category_warnings(model: LoadedModel, stack: str, vals: np.ndarray | None = None) -> list[str]:
    """Sentences for categorical factors whose stack codes the training stack never had.

    Such cells get all-zero indicators (as nodata of that factor would), so a model applied to an
    area with another geology maps them without its lithology term: the user must know. ``vals``:
    a :func:`decimated_values` read already made (the distribution check reads the same cells).
    """
    cats = model.norm.categories or {}
    if not cats:
        return []
    vals = decimated_values(stack) if vals is None else vals
    names = model.card.factors
    out = []
    for i, codes in cats.items():
        v = vals[int(i)]
        unseen = ~np.isin(v.astype(np.float32), np.asarray(codes, np.float32))
        if unseen.mean() > UNSEEN_CODE_SHARE:
            new = sorted({float(c) for c in np.unique(v[unseen])})[:8]
            out.append(
                f"{unseen.mean():.0%} of the cells of the categorical factor '{names[int(i)]}' have codes the model "
                f"was not trained on ({', '.join(f'{c:g}' for c in new)}); those cells are mapped as if that factor "
                "were missing. Retrain with a stack that contains these classes, or reclassify them to trained codes."
            )
    return out


def check_stack_distribution(model: LoadedModel, stack: str, vals: np.ndarray | None = None) -> None:
    """Refuse a stack whose factors are clearly unlike the training stack's (e.g. two bands swapped).

    The card stores each factor's mean/std; names and order alone cannot catch bands written in
    the wrong order under the right names, or a factor in other units.
    """
    want_m = np.asarray(model.norm.mean, np.float64)
    want_s = np.maximum(np.asarray(model.norm.std, np.float64), 1e-9)
    vals = decimated_values(stack) if vals is None else vals
    mean, std = vals.mean(axis=1), vals.std(axis=1)
    names = model.card.factors
    z = np.abs(mean - want_m) / want_s
    ratio = np.maximum(std, 1e-9) / want_s
    bad = [i for i in range(len(names)) if z[i] > SHIFT_SD or not (1 / SPREAD_RATIO <= ratio[i] <= SPREAD_RATIO)]
    if not bad:
        return
    lines = []
    for i in bad:
        zi = np.abs(mean[i] - want_m) / want_s
        j = int(np.argmin(zi))
        hint = f"; its values look like the training '{names[j]}'" if j != i and zi[j] < 1.0 else ""
        lines.append(
            f"band {i + 1} '{names[i]}': mean {mean[i]:.4g}, std {std[i]:.4g} vs training mean {want_m[i]:.4g}, "
            f"std {want_s[i]:.4g}{hint}"
        )
    raise GridMismatchError(
        "The stack's factors are clearly unlike the ones the model was trained on ("
        + "; ".join(lines)
        + "). Check the band order and units (rebuild the stack with lsm_stack_factors), or, to apply the model "
        "to a deliberately different area, set 'Accept factor distributions unlike training'."
    )


@bounded_gdal_cache
def predict_stack(
    card_path: str,
    stack: StackLike,
    out: str,
    temporal_stack: StackLike | None = None,
    block: int = 256,
    batch: int = 512,
    device: str = "auto",
    progress: Progress | None = None,
    allow_shift: bool = False,
    dense: bool = True,
    backend: str = "torch",
    dask: str | None = None,
    dask_workers: int = 2,
) -> None:
    """Write a float32 susceptibility (probability) GeoTIFF over the whole stack.

    ``dense``: compute the CNN branch of unpadded-CNN models over each window at once (exact; 17x
    faster end to end for CNN-LSTM-AM at patch 30, bench/bench_dense_predict.py); False pushes every
    patch through on its own (the reference). ``backend="onnx"`` runs deep models in ONNX Runtime
    (``<card>.onnx`` when it matches the weights, else a temporary export; see ``core/onnx_models``).
    ``dask``: "local" (a LocalCluster of ``dask_workers`` worker threads) or a scheduler address: every
    window is a Dask task (``distributed.py``), and the raster is the same as the local run's.
    """
    progress = progress or NullProgress()
    from .mean_card import check_members_match, predict_mean, read_mean_card

    mean = read_mean_card(card_path)
    if mean is not None:  # the mean of several saved models: each mapped as on its own, then averaged
        check_members_match(mean)
        tpath = as_stack(temporal_stack).path if temporal_stack is not None else None
        options = {"batch": batch, "device": device, "allow_shift": allow_shift, "dense": dense, "backend": backend,
                   "dask": dask, "dask_workers": dask_workers}  # fmt: skip
        predict_mean(mean, predict_stack, as_stack(stack).path, out, tpath, progress, block, **options)
        return
    backend = resolve_backend(backend, needs_torch=dask is not None)
    model = load_model(card_path)
    info = as_stack(stack)
    stack = info.path
    temporal_stack = as_stack(temporal_stack).path if temporal_stack is not None else None
    check_stack_matches(model, info.names, info.grid.resolution[0])
    vals = decimated_values(stack) if not allow_shift or model.norm.categories else None
    if not allow_shift:
        check_stack_distribution(model, stack, vals)
    for w in unseen_category_warnings(model, stack, vals):
        progress.log("Warning: " + w)
    mode = TemporalMode(model.card.temporal_mode)
    if mode is TemporalMode.CLIMATE:
        if not temporal_stack:
            raise ModelLoadError("This model's LSTM branch reads monthly climate: give the temporal stack too.")
        check_temporal_grid(info.grid, temporal_stack)
    job = WindowJob(info, mode, out, temporal_stack, block, batch, device, dense)
    if dask:
        if backend != "torch":
            raise InvalidInputError("Prediction on Dask runs the torch backend; choose one of Dask or ONNX.")
        from .distributed import predict_windows_dask

        scheduler = None if dask.strip().lower() == "local" else dask.strip()
        predict_windows_dask(card_path, job, progress, scheduler, dask_workers)
        return
    if backend == "onnx" and model.net is not None:
        from ..onnx_models import onnx_backend

        with onnx_backend(card_path, model.card, device) as graph:
            if graph.graph == "dense":  # one run scores a whole window: its activations bound the memory
                job = replace(job, block=min(block, ONNX_DENSE_BLOCK))
            _predict_windows(model, job, progress, graph)
        return
    _predict_windows(model, job, progress, None)


@dataclass(frozen=True)
class WindowJob:
    """One probability raster to write window by window (the local loop and the Dask tasks share it)."""

    info: Stack
    mode: TemporalMode
    out: str
    temporal_stack: str | None
    block: int
    batch: int
    device: str
    dense: bool

    @property
    def stack(self) -> str:
        """Path of the factor stack."""
        return self.info.path


def _predict_windows(model: LoadedModel, job: WindowJob, progress: Progress, graph: OnnxModel | None) -> None:
    """The window loop of :func:`predict_stack` (``graph``: an ONNX Runtime model, or None for torch)."""
    grid = job.info.grid
    dev = None
    if model.net is not None:
        from ..runtime import pick_device

        dev = pick_device(job.device)
        model.net.to(dev)
    prof = grid.profile(1, "float32", FLOAT_NODATA)
    tds = rasterio.open(job.temporal_stack) if job.mode is TemporalMode.CLIMATE else None
    threads: contextlib.AbstractContextManager = contextlib.nullcontext()
    if model.net is not None and graph is None:
        from ..runtime import sized_threads

        threads = sized_threads()  # as many torch threads as cores are free, not all of them
    try:
        with (
            threads,
            rasterio.open(job.stack) as ds,
            atomic_path(job.out) as tmp,
            rasterio.open(tmp, "w", **prof) as dst,
        ):
            n = grid.n_windows(job.block)
            for k, win in enumerate(grid.windows(job.block)):
                check(progress)
                res = score_window(model, ds, tds, job.info.nodata, win, job.mode, job.batch, dev, job.dense, graph)
                dst.write(res, 1, window=win)
                progress.report((k + 1) / n, f"window {k + 1}/{n}")
    finally:
        if tds is not None:
            tds.close()


def score_window(
    model: LoadedModel,
    ds: DatasetReader,
    tds: DatasetReader | None,
    nodata: float | None,
    win: Window,
    mode: TemporalMode,
    batch: int,
    dev: torch.device | None,
    dense: bool,
    graph: OnnxModel | None,
) -> np.ndarray:
    """Probabilities of one window (nodata where a factor is missing), read with its halo from ``ds``.

    The unit of work of the local loop and of a Dask task alike, so both write the same numbers.
    """
    deep = model.net is not None
    patch = model.card.patch_size if deep and model.net is not None and model.net.cnn is not None else 1
    half = patch // 2
    big = Window(win.col_off - half, win.row_off - half, win.width + patch - 1, win.height + patch - 1)
    data, ok_big = read_block(ds, big, nodata, "The factor stack")
    z = model.norm.apply(data, ok_big)
    ok = ok_big[half : half + win.height, half : half + win.width]
    res = np.full((win.height, win.width), FLOAT_NODATA, np.float32)
    rr, cc = np.nonzero(ok)
    if rr.size:
        centre = z[:, half : half + win.height, half : half + win.width][:, rr, cc].T  # (M, C)
        if deep:
            assert dev is not None  # deep models are moved to a device before the window loop
            res[rr, cc] = _score_deep(model, z, rr, cc, patch, centre, mode, tds, win, batch, dev, dense, graph)
        else:
            res[rr, cc] = model.tree.predict_proba(centre)[:, 1]
    return res


#: largest window of the ONNX dense graph, which scores all cells of a window in one run (the torch
#: path batches the fusion head by DENSE_BATCH cells); 256 x 256 keeps its peak RSS under 2 GiB
ONNX_DENSE_BLOCK = 256

#: cells per forward of the fusion head and LSTM in the dense path (vectors, not patches: cheap in memory)
DENSE_BATCH = 4096


def _score_deep(
    model: LoadedModel,
    z: np.ndarray,
    rr: np.ndarray,
    cc: np.ndarray,
    patch: int,
    centre: np.ndarray,
    mode: TemporalMode,
    tds: DatasetReader | None,
    win: Window,
    batch: int,
    dev: torch.device,
    use_dense: bool = True,
    graph: OnnxModel | None = None,
) -> np.ndarray:
    """Probabilities of the valid cells (rr, cc) of one window; ``z`` holds the window plus its halo.

    A model with the unpadded CNN computes its CNN branch densely over the window in one pass
    (:func:`.networks.dense_cnn_features`, equal to the per-patch pass); otherwise patches are
    pushed through in batches of ``batch`` (views, copied one batch at a time).
    """
    from .networks import members_of

    assert model.net is not None  # a deep model
    nets = members_of(model.net)
    series = None
    if mode is TemporalMode.FACTOR_SEQUENCE:
        series = centre[:, :, None]
    elif mode is TemporalMode.CLIMATE:
        assert tds is not None and model.climate_norm is not None  # checked before the window loop
        clim, cok = read_block(tds, win, tds.nodata, "The temporal stack")
        cz = model.climate_norm.apply(clim, cok)[:, rr, cc].T  # (M, T*V) variable-major
        nv = model.card.n_vars
        series = cz.reshape(-1, nv, cz.shape[1] // nv).transpose(0, 2, 1).copy()
    cells = WindowCells(z, rr, cc, patch, win, series)
    if graph is not None:
        return _score_onnx(graph, cells, batch)
    out = np.zeros(rr.size, np.float32)
    for net in nets:  # a seed ensemble's probability is its members' mean
        out += _score_net(net, cells, batch, dev, use_dense)
    return out / len(nets)


@dataclass(frozen=True)
class WindowCells:
    """The valid cells of one window with their model inputs (what every scoring path reads)."""

    #: standardised factors of the window plus its halo of ``patch // 2`` cells, (C', H + patch - 1, W + patch - 1)
    z: np.ndarray
    #: rows and columns of the valid cells in the window
    rr: np.ndarray
    cc: np.ndarray
    patch: int
    win: Window
    #: (M, T, V) LSTM input of the valid cells, or None
    series: np.ndarray | None

    @property
    def flat(self) -> np.ndarray:
        """Row-major index of each valid cell in the window."""
        return (self.rr * int(self.win.width) + self.cc).astype(np.int64)

    def patches(self, views: np.ndarray, sl: slice) -> np.ndarray:
        """(n, C', patch, patch) contiguous patches of the cells ``sl`` from :func:`_patch_views`."""
        return np.ascontiguousarray(views[:, self.rr[sl], self.cc[sl]].transpose(1, 0, 2, 3))


def _patch_views(z: np.ndarray, patch: int) -> np.ndarray:
    """(C, H, W, patch, patch) read-only views of every patch of a window (nothing copied)."""
    return sliding_window_view(z, (patch, patch), axis=(1, 2))  # type: ignore[call-overload]


def _score_onnx(graph: OnnxModel, cells: WindowCells, batch: int) -> np.ndarray:
    """Probabilities from an ONNX Runtime graph: the dense graph takes the whole window at once."""
    series = None if cells.series is None else np.ascontiguousarray(cells.series, np.float32)
    if graph.graph == "dense":
        return graph.run(window=np.ascontiguousarray(cells.z[None]), series=series, cells=cells.flat)[0]
    views = _patch_views(cells.z, cells.patch) if "patch" in graph.inputs else None
    out = np.empty(cells.rr.size, np.float32)
    for i in range(0, cells.rr.size, batch):
        sl = slice(i, i + batch)
        p = None if views is None else cells.patches(views, sl)
        out[sl] = graph.run(patch=p, series=None if series is None else series[sl])[0]
    return out


def _score_net(
    net: SusceptibilityNet, cells: WindowCells, batch: int, dev: torch.device, use_dense: bool
) -> np.ndarray:
    """Probabilities of one network for the valid cells (rr, cc) of a window (see :func:`_score_deep`)."""
    import torch

    from .networks import dense_cnn_features

    z, series = cells.z, cells.series
    dense = None
    if use_dense and net.cnn is not None and net.dense:
        with torch.no_grad():
            feats = dense_cnn_features(net.cnn, torch.from_numpy(z[None]).to(dev), cells.patch)
            dense = feats[torch.from_numpy(cells.flat).to(dev)]
    views = _patch_views(z, cells.patch) if net.cnn is not None and dense is None else None
    out = np.empty(cells.rr.size, np.float32)
    if dense is not None:
        batch = max(batch, DENSE_BATCH)  # only per-cell vectors are batched now, not patches
    with torch.no_grad():
        for i in range(0, cells.rr.size, batch):
            sl = slice(i, i + batch)
            s = torch.from_numpy(np.ascontiguousarray(series[sl])).to(dev) if series is not None else None
            if dense is not None:
                logit = net.fuse(dense[sl], s)
            else:
                p = None
                if views is not None:
                    p = torch.from_numpy(cells.patches(views, sl)).to(dev)
                logit = net(p, s)
            out[sl] = torch.sigmoid(logit).cpu().numpy()
    return out


def zoning_table(
    prob: str,
    zoning: str,
    landslides: Points | None,
    out_csv: str | None,
    out_html: str | None = None,
    breaks: list[float] | None = None,
) -> list[dict]:
    """Area share vs landslide share per zone (the paper's Figure 16)."""
    with rasterio.open(zoning) as zs:
        counts = np.zeros(6, np.int64)
        for _, win in zs.block_windows(1):
            counts += np.bincount(zs.read(1, window=win).ravel(), minlength=6)[:6]
        ls = np.zeros(6, np.int64)
        if landslides is not None and len(landslides):
            v = np.array([s[0] for s in zs.sample(zip(landslides.x, landslides.y))])
            ls = np.bincount(v, minlength=6)[:6]
    area = counts[1:].sum()
    nls = ls[1:].sum()
    rows = []
    for z in range(1, 6):
        lo = "min" if not breaks or z == 1 else f"{breaks[z - 2]:.4f}"
        hi = "max" if not breaks or z == 5 else f"{breaks[z - 1]:.4f}"
        rows.append(
            {
                "zone": z,
                "label": ZONE_LABELS_5[z - 1],
                "range": f"{lo}-{hi}",
                "cells": int(counts[z]),
                "area_share": float(counts[z] / area) if area else 0.0,
                "landslides": int(ls[z]),
                "landslide_share": float(ls[z] / nls) if nls else 0.0,
            }
        )
    if not out_csv:
        return rows
    head = list(rows[0])
    write_text_atomic(out_csv, "\n".join([",".join(head)] + [",".join(str(r[h]) for h in head) for r in rows]) + "\n")
    if out_html:
        body = "".join("<tr>" + "".join(f"<td>{html.escape(str(r[h]))}</td>" for h in head) + "</tr>" for r in rows)
        write_text_atomic(
            out_html,
            "<html><body><h2>Area share vs landslide share per susceptibility zone</h2>"
            "<table border='1' cellspacing='0' cellpadding='3'><tr>"
            + "".join(f"<th>{h}</th>" for h in head)
            + f"</tr>{body}</table></body></html>",
        )
    return rows


@bounded_gdal_cache
def predict_and_zone(
    card_path: str,
    stack: str,
    prob_out: str,
    zoning_out: str,
    method: ZoningMethod | str = ZoningMethod.CARD,
    user_breaks: list[float] | None = None,
    temporal_stack: str | None = None,
    landslides: Points | None = None,
    table_csv: str | None = None,
    progress: Progress | None = None,
    **options: Any,
) -> list[float]:
    """Probability raster, 5-class zoning raster and (optionally) the zone table; returns the breaks.

    ``options``: the keyword settings of :func:`predict_stack` (block, batch, device, allow_shift,
    dense, backend, dask, dask_workers), passed on unchanged.
    """
    progress = progress or NullProgress()
    if ZoningMethod(method) is ZoningMethod.USER:
        validate_user_breaks(user_breaks)  # before the (long) prediction, not after it
    outs = [norm_path(p) for p in (prob_out, zoning_out, table_csv) if p]
    if len(set(outs)) < len(outs) or norm_path(stack) in outs:
        raise InvalidInputError(
            "The probability map, the zoning and the zone table need three different paths, none of them the stack."
        )
    from .mean_card import read_mean_card

    mean = read_mean_card(card_path)
    training = mean.training if mean is not None else SusceptibilityCard.load(card_path).training
    card_breaks = (training.get("zoning") or {}).get("breaks")
    predict_stack(card_path, stack, prob_out, temporal_stack, progress=SubProgress(progress, 0, 0.85), **options)
    try:
        tag_fit(prob_out, training)
        if ZoningMethod(method) is ZoningMethod.CARD:
            if card_breaks:
                breaks = [float(b) for b in card_breaks]
                progress.log(
                    "Zoning with the model card's breaks ("
                    + str(training["zoning"].get("source", "training area quantiles"))
                    + "): every tile and every run of this model zones alike."
                )
            else:
                progress.log(
                    "Warning: this model card stores no zoning breaks (trained before version 0.4): quantiles of "
                    "this run's extent are used, so another extent or tile would zone differently."
                )
                breaks = compute_breaks(sample_values(prob_out), ZoningMethod.QUANTILE, 5)
        else:
            breaks = compute_breaks(sample_values(prob_out), method, 5, user_breaks)
            if ZoningMethod(method) is not ZoningMethod.USER:
                progress.log(
                    "Zone breaks are relative to this run's extent: another tile or extent zones differently "
                    "(the model card's breaks, the default, do not)."
                )
        zone_raster(prob_out, zoning_out, breaks, progress=SubProgress(progress, 0.85, 0.97))
        rows = zoning_table(
            prob_out,
            zoning_out,
            landslides,
            table_csv,
            str(Path(table_csv).with_suffix(".html")) if table_csv else None,
            breaks,
        )
    except BaseException:
        Path(prob_out).unlink(missing_ok=True)  # all outputs or none
        raise
    warning = empty_zone_warning([r["cells"] for r in rows], "susceptibility zoning")
    if warning:
        progress.log(warning)
    progress.report(1.0, "prediction done")
    return breaks
