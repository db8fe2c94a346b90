"""Benchmark (not a test): lsm_predict over a generated N x N-cell stack, window by window.

Prints end-to-end cells/s and the peak RSS of the prediction process, and the ratio against the
baseline: the same model's bare ``predict_proba`` on in-memory cells (no I/O, no windowing).

    .venv/bin/python bench/bench_lsm_predict.py               # 20000 x 20000 cells, Random Forest
    .venv/bin/python bench/bench_lsm_predict.py --size 2000 --model cnn   # patch CNN, smaller grid

Peak RSS is the ``VmHWM`` of a child process that only predicts (``getrusage``'s ``ru_maxrss``
would not do: Linux carries the parent's high-water mark across ``fork`` + ``exec``), so the
generation of the stack and the training do not count.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from child import run_timed  # noqa: E402


def generate(path: Path, size: int, bands: int = 3, block: int = 2048) -> None:
    """Smooth synthetic factors with a nodata corner, written window by window."""
    import rasterio
    from affine import Affine

    from core.raster.io import FLOAT_NODATA, GTIFF_OPTIONS

    prof = {
        "driver": "GTiff",
        "width": size,
        "height": size,
        "count": bands,
        "dtype": "float32",
        "crs": "EPSG:32717",
        "transform": Affine(30, 0, 500000, 0, -30, 9800000),
        "nodata": FLOAT_NODATA,
        **GTIFF_OPTIONS,
    }
    with rasterio.open(path, "w", **prof) as ds:
        for i, name in enumerate(["elevation", "slope", "twi"][:bands], 1):
            ds.set_band_description(i, name)
        for r in range(0, size, block):
            h = min(block, size - r)
            yy, xx = np.mgrid[r : r + h, 0:size].astype(np.float32)
            data = np.stack(
                [
                    1500 + 500 * np.sin(yy / 700) * np.cos(xx / 900),
                    30 + 20 * np.sin(xx / 300),
                    6 + 3 * np.cos((xx + yy) / 500),
                ][:bands]
            ).astype(np.float32)
            data[:, (yy < size * 0.05) & (xx < size * 0.05)] = FLOAT_NODATA
            ds.write(data, window=((r, r + h), (0, size)))


def train(stack: Path, out: Path, kind: str, patch: int | None = None, n: int = 600) -> Path:
    """A real, small model trained on labels derived from slope, saved with its card.

    ``patch``: the deep models' patch (default 8; 18 or more gives the unpadded, dense CNN). Models
    with an LSTM read the factor sequence of the patch centre.
    """
    from core.raster.stack import open_stack
    from core.susceptibility.dataset import SampleSet, TemporalMode, band_stats, read_patches, series_for
    from core.susceptibility.models import SERIES_MODELS
    from core.susceptibility.train import Prepared, TrainConfig, train_all

    info = open_stack(str(stack))
    rng = np.random.default_rng(0)
    rows = rng.integers(info.grid.height // 10, info.grid.height, n)
    cols = rng.integers(0, info.grid.width, n)
    norm = band_stats(str(stack), block=4096)
    patch = (patch or 8) if kind in ("cnn", "lstm", "cnn_lstm", "cnn_lstm_am") else 1
    patches = read_patches(str(stack), rows, cols, max(patch, 2), norm)
    c = patch // 2 if patch > 1 else 1
    labels = (patches[:, 1, c, c] > 0).astype(int)
    mode = TemporalMode.FACTOR_SEQUENCE if kind in SERIES_MODELS else TemporalMode.NONE
    series = series_for(mode, patches, None) if kind in SERIES_MODELS else None
    data = SampleSet(patches, series, labels, rng.random(n) < 0.3, rng.integers(0, 20, n))
    prep = Prepared(data, info.names, norm, None, None, len(info.names), 1, info.grid.resolution[0], info.grid.crs_wkt)
    cfg = TrainConfig(
        models=(kind,), patch_size=max(patch, 2), epochs=2 if kind == "cnn" else 1, rf_trees=20, temporal_mode=mode,
        shap_samples=0,
    )  # fmt: skip
    train_all(prep, cfg, str(out))
    return out / f"{kind}.json"


def main() -> int:
    """Generate, train, predict in a child process, print figures."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=20000)
    ap.add_argument("--model", choices=["rf", "xgb_lr", "cnn"], default="rf")
    ap.add_argument("--block", type=int, default=512)
    ap.add_argument("--workdir", default=None)
    a = ap.parse_args()
    work = Path(a.workdir or tempfile.mkdtemp(prefix="lsai_bench_"))
    work.mkdir(parents=True, exist_ok=True)
    stack = work / f"stack_{a.size}.tif"
    if not stack.exists():
        t = time.time()
        generate(stack, a.size)
        print(f"generated {a.size}x{a.size} stack in {time.time() - t:.0f} s ({stack.stat().st_size / 2**30:.2f} GiB)")
    card = train(stack, work / "model", a.model)
    res = run_timed(
        ["from core.susceptibility.predict import predict_stack"],
        f"predict_stack({str(card)!r}, {str(stack)!r}, {str(work / 'pred.tif')!r}, block={a.block})",
    )
    cells = a.size * a.size
    e2e = cells / res["seconds"]
    # baseline: the bare model on the same kind of cells, already standardised in memory
    import rasterio
    import torch

    from core.susceptibility.predict import load_model

    m = load_model(str(card))
    with rasterio.open(stack) as ds:
        block = ds.read(window=((a.size // 2, a.size // 2 + 1000), (0, 1000)))
    z = m.norm.apply(block, np.ones(block.shape[1:], bool))
    if a.model in ("rf", "xgb_lr"):
        x = z.reshape(z.shape[0], -1).T.copy()
        t = time.time()
        m.tree.predict_proba(x)
        bare = x.shape[0] / (time.time() - t)
    else:
        views = np.lib.stride_tricks.sliding_window_view(z, (8, 8), axis=(1, 2))[:, :150, :150]
        p = torch.from_numpy(np.ascontiguousarray(views.reshape(z.shape[0], -1, 8, 8).transpose(1, 0, 2, 3)))
        t = time.time()
        with torch.no_grad():
            for i in range(0, p.shape[0], 4096):
                m.net(p[i : i + 4096], None)
        bare = p.shape[0] / (time.time() - t)
    peak = res["hwm_kib"] / 2**20
    print(f"model {a.model}, {a.size}x{a.size} = {cells:,} cells, window {a.block}")
    print(f"end-to-end lsm_predict: {e2e:,.0f} cells/s ({res['seconds']:.0f} s)")
    print(f"baseline bare model forward on in-memory cells: {bare:,.0f} cells/s")
    print(f"ratio end-to-end / bare: {e2e / bare:.2f}")
    print(f"peak RSS of the prediction process: {peak:.2f} GiB ({'under' if peak < 2 else 'OVER'} the 2 GiB budget)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
