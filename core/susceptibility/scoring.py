"""Scoring one window of a stack, shared by the local window loop and the Dask tasks.

The cells' inputs, the deep models (dense or per patch, torch or ONNX Runtime) and the tabular
models; kept apart from ``predict.py`` so that ``distributed`` does not import the predictor that
dispatches to it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rasterio.io import DatasetReader

from .loaded import LoadedModel

if TYPE_CHECKING:
    import torch

    from ..onnx_models import OnnxModel
    from ..raster.stack import Stack
    from .networks import SusceptibilityNet


from dataclasses import dataclass, field

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from rasterio.windows import Window

from ..raster.io import FLOAT_NODATA
from ..raster.stack import read_block
from .dataset import TemporalMode


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
    #: metadata tags the finished raster carries (written before its atomic rename, never after)
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def stack(self) -> str:
        """Path of the factor stack."""
        return self.info.path


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
