"""Dense prediction of a saved model over a whole stack, window by window, and zoning.

Each window is read with a halo of ``patch // 2`` cells so that every cell gets the full patch it
was trained on; patches are views (``sliding_window_view``), copied only batch by batch, so
memory is bounded by the window and batch sizes, not by the stack.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..onnx_models import OnnxModel
    from .mean_card import MeanCard


import html
from dataclasses import replace
from pathlib import Path

import numpy as np
import rasterio

from ..errors import GridMismatchError, InvalidInputError, ModelLoadError
from ..outputs import norm_path
from ..progress import NullProgress, Progress, SubProgress, check
from ..raster.io import FLOAT_NODATA, atomic_path, bounded_gdal_cache, write_text_atomic
from ..raster.stack import StackLike, as_stack
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
from .dataset import TemporalMode, check_temporal_grid
from .loaded import LoadedModel, load_model, open_card
from .provenance import fit_tags
from .scoring import ONNX_DENSE_BLOCK, WindowJob, score_window

__all__ = ["LoadedModel", "WindowJob", "load_model", "predict_and_zone", "predict_stack", "score_window"]


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
    loaded: LoadedModel | MeanCard | None = None,
    tags: dict[str, str] | None = None,
) -> None:
    """Write a float32 susceptibility (probability) GeoTIFF over the whole stack.

    ``tags``: metadata the raster carries (provenance), written with it, before its atomic rename.

    ``loaded``: the model ``card_path`` holds, when the caller has already read it
    (:func:`.loaded.open_card`): the card and weights are then not read again.

    ``dense``: compute the CNN branch of unpadded-CNN models over each window at once (exact; 17x
    faster end to end for CNN-LSTM-AM at patch 30, bench/bench_dense_predict.py); False pushes every
    patch through on its own (the reference). ``backend="onnx"`` runs deep models in ONNX Runtime
    (``<card>.onnx`` when it matches the weights, else a temporary export; see ``core/onnx_models``).
    ``dask``: "local" (a LocalCluster of ``dask_workers`` worker threads) or a scheduler address: every
    window is a Dask task (``distributed.py``), and the raster is the same as the local run's.
    """
    progress = progress or NullProgress()
    from .mean_card import MeanCard, check_members_match, predict_mean

    loaded = loaded if loaded is not None else open_card(card_path)
    if isinstance(loaded, MeanCard):  # the mean of several saved models: each mapped as on its own, then averaged
        mean = loaded
        check_members_match(mean)
        tpath = as_stack(temporal_stack).path if temporal_stack is not None else None
        options = {"batch": batch, "device": device, "allow_shift": allow_shift, "dense": dense, "backend": backend,
                   "dask": dask, "dask_workers": dask_workers}  # fmt: skip
        predict_mean(
            mean, predict_stack, load_model, as_stack(stack).path, out, tpath, progress, block, tags or {}, **options
        )
        return
    backend = resolve_backend(backend, needs_torch=dask is not None)
    model = loaded
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
    job = WindowJob(info, mode, out, temporal_stack, block, batch, device, dense, dict(tags or {}))
    if dask:
        if backend != "torch":
            raise InvalidInputError("Prediction on Dask runs the torch backend; choose one of Dask or ONNX.")
        from .distributed import predict_windows_dask

        scheduler = None if dask.strip().lower() == "local" else dask.strip()
        predict_windows_dask(card_path, job, progress, scheduler, dask_workers)
        return
    if backend == "onnx" and model.net is not None:
        from ..onnx_models import onnx_backend

        with onnx_backend(card_path, model.card, device, loaded=model) as graph:
            if graph.graph == "dense":  # one run scores a whole window: its activations bound the memory
                job = replace(job, block=min(block, ONNX_DENSE_BLOCK))
            _predict_windows(model, job, progress, graph)
        return
    _predict_windows(model, job, progress, None)


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
            dst.update_tags(**job.tags)
            n = grid.n_windows(job.block)
            for k, win in enumerate(grid.windows(job.block)):
                check(progress)
                res = score_window(model, ds, tds, job.info.nodata, win, job.mode, job.batch, dev, job.dense, graph)
                dst.write(res, 1, window=win)
                progress.report((k + 1) / n, f"window {k + 1}/{n}")
    finally:
        if tds is not None:
            tds.close()


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
    from .mean_card import MeanCard

    loaded = open_card(card_path)  # the one read of the card (and of the weights) in this run
    training = loaded.training if isinstance(loaded, MeanCard) else loaded.card.training
    card_breaks = (training.get("zoning") or {}).get("breaks")
    tags = fit_tags(training)
    predict_stack(
        card_path,
        stack,
        prob_out,
        temporal_stack,
        progress=SubProgress(progress, 0, 0.85),
        loaded=loaded,
        tags=tags,
        **options,
    )
    try:
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
