"""Benchmark (not a test): dense vs per-patch susceptibility inference, CNN-LSTM-AM at patch 30.

Both paths run ``predict_stack`` end to end (reading, standardising, scoring, writing) in child
processes, so each gets its own peak RSS (``VmHWM``). The per-patch reference pushes every 30x30
patch through the CNN on its own (about 5 MFLOP a cell), so it runs on a ``--ref-size`` crop; the
dense path runs on the whole ``--size`` stack. Printed: cells/s of each, the ratio dense /
per-patch (the issue's aim: >= 50x), the time a 20 000 x 20 000-cell map would take at the dense
rate, and both peak RSS figures (aim: < 2 GiB); then the dense map in ONNX Runtime and on a local
Dask cluster, each with its ratio to the plain torch run and whether the raster is the same. The
model is a real CNN-LSTM-AM trained briefly on labels derived from slope; its LSTM reads the
factor vector as a sequence (temporal mode ``factor_sequence``, as in the demo).

    .venv/bin/python bench/bench_dense_predict.py                 # 3000 x 3000 dense, 300 x 300 reference
    .venv/bin/python bench/bench_dense_predict.py --size 6000 --ref-size 400
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_lsm_predict import generate  # noqa: E402
from child import run_timed  # noqa: E402


def train(stack: Path, out: Path, patch: int, kind: str = "cnn_lstm_am", padding: str = "auto") -> Path:
    """A model (CNN-LSTM-AM by default) trained for two epochs on slope-derived labels, saved with its card."""
    from core.raster.stack import open_stack
    from core.susceptibility.dataset import SampleSet, TemporalMode, band_stats, read_patches
    from core.susceptibility.models import DeepHP
    from core.susceptibility.train import Prepared, TrainConfig, train_all

    info = open_stack(str(stack))
    rng = np.random.default_rng(0)
    n = 400
    rows = rng.integers(info.grid.height // 10, info.grid.height - patch, n)
    cols = rng.integers(patch, info.grid.width - patch, n)
    norm = band_stats(str(stack), block=4096)
    patches = read_patches(str(stack), rows, cols, patch, norm)
    labels = (patches[:, 1, patch // 2, patch // 2] > 0).astype(int)
    series = patches[:, :, patch // 2, patch // 2][:, :, None].copy()
    data = SampleSet(patches, series, labels, rng.random(n) < 0.3, rng.integers(0, 20, n))
    prep = Prepared(data, info.names, norm, None, None, len(info.names), 1, info.grid.resolution[0], info.grid.crs_wkt)
    cfg = TrainConfig(
        models=(kind,),
        patch_size=patch,
        epochs=2,
        temporal_mode=TemporalMode.FACTOR_SEQUENCE,
        hp=DeepHP(cnn_padding=padding),
    )
    train_all(prep, cfg, str(out))
    return out / f"{kind}.json"


def crop(src: Path, dst: Path, size: int) -> None:
    """The top-left ``size`` x ``size`` cells of ``src`` (nodata corner included) as a stack of its own."""
    import rasterio
    from rasterio.windows import Window

    with rasterio.open(src) as ds:
        prof = {**ds.profile, "width": size, "height": size}
        win = Window(0, 0, size, size)
        prof["transform"] = ds.window_transform(win)
        with rasterio.open(dst, "w", **prof) as out:
            out.write(ds.read(window=win))
            for i in range(1, ds.count + 1):
                out.set_band_description(i, ds.descriptions[i - 1])


def run_child(card: Path, stack: Path, out: Path, dense: bool, block: int, extra: str = "") -> dict:
    """predict_stack in a fresh process; seconds and peak RSS (``extra``: more keyword arguments)."""
    return run_timed(
        ["from core.susceptibility.predict import predict_stack"],
        f"predict_stack({str(card)!r}, {str(stack)!r}, {str(out)!r}, block={block}, dense={dense}, allow_shift=True"
        f"{', ' + extra if extra else ''})",
    )


def max_diff(a: Path, b: Path) -> float:
    """Largest absolute difference between two probability rasters (and -1 if their masks differ)."""
    import rasterio

    with rasterio.open(a) as p, rasterio.open(b) as q:
        x, y = p.read(1), q.read(1)
    if not np.array_equal(x == -9999, y == -9999):
        return -1.0
    return float(np.abs(x - y).max())


def main() -> int:
    """Generate, train, run both paths, compare the overlapping cells, print figures."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=3000)
    ap.add_argument("--ref-size", type=int, default=300)
    ap.add_argument("--patch", type=int, default=30)
    ap.add_argument("--block", type=int, default=512)
    ap.add_argument("--model", choices=["cnn_lstm_am", "cnn", "cnn_lstm"], default="cnn_lstm_am")
    ap.add_argument("--workdir", default=None)
    ap.add_argument(
        "--old-reference",
        action="store_true",
        help="also time the per-patch path of the first (zero-padded) architecture, the issue's baseline",
    )
    ap.add_argument("--no-onnx", action="store_true", help="skip the ONNX Runtime run")
    ap.add_argument("--no-dask", action="store_true", help="skip the local Dask cluster run")
    ap.add_argument("--workers", type=int, default=2, help="Dask workers of the local cluster")
    a = ap.parse_args()
    import rasterio

    work = Path(a.workdir or tempfile.mkdtemp(prefix="lsai_bench_dense_"))
    work.mkdir(parents=True, exist_ok=True)
    stack, ref_stack = work / f"stack_{a.size}.tif", work / f"stack_{a.ref_size}.tif"
    if not stack.exists():
        generate(stack, a.size)
    crop(stack, ref_stack, a.ref_size)
    card = train(stack, work / f"model_{a.model}", a.patch, a.model)
    ref = run_child(card, ref_stack, work / "ref_patch.tif", False, a.block)
    den_small = run_child(card, ref_stack, work / "ref_dense.tif", True, a.block)
    den = run_child(card, stack, work / "dense.tif", True, a.block)
    with rasterio.open(work / "ref_patch.tif") as p, rasterio.open(work / "ref_dense.tif") as d:
        pp, dd = p.read(1), d.read(1)
    ok = pp != -9999
    diff = float(np.abs(pp[ok] - dd[ok]).max()) if ok.any() else float("nan")
    ref_rate = a.ref_size**2 / ref["seconds"]
    rate = a.size**2 / den["seconds"]
    print(f"{a.model}, patch {a.patch}, window {a.block}")
    print(
        f"per-patch reference: {a.ref_size}x{a.ref_size} cells in {ref['seconds']:.1f} s = {ref_rate:,.0f} cells/s, "
        f"peak RSS {ref['hwm_kib'] / 2**20:.2f} GiB"
    )
    print(f"dense, same crop: {den_small['seconds']:.2f} s; max |difference| from the reference {diff:.2e}")
    print(
        f"dense: {a.size}x{a.size} cells in {den['seconds']:.1f} s = {rate:,.0f} cells/s, "
        f"peak RSS {den['hwm_kib'] / 2**20:.2f} GiB"
    )
    print(f"ratio dense / per-patch: {rate / ref_rate:.0f}x (aim >= 50x)")
    if a.old_reference:
        old = train(stack, work / f"model_{a.model}_same", a.patch, a.model, "same")
        o = run_child(old, ref_stack, work / "ref_same.tif", False, a.block)
        old_rate = a.ref_size**2 / o["seconds"]
        print(
            f"per-patch, zero-padded architecture (before): {old_rate:,.0f} cells/s; dense / it: {rate / old_rate:.0f}x"
        )
    print(f"20000 x 20000 cells at the dense rate: {4e8 / rate / 3600:.2f} h (aim < 1 h)")
    if not a.no_onnx:
        from core.onnx_models import export_onnx

        export_onnx(card, card.with_suffix(".onnx"))  # beside the card: the backend uses it, no export in the timing
        on = run_child(card, stack, work / "dense_onnx.tif", True, a.block, "backend='onnx'")
        rate_onnx = a.size**2 / on["seconds"]
        d = max_diff(work / "dense.tif", work / "dense_onnx.tif")
        print(
            f"dense in ONNX Runtime: {rate_onnx:,.0f} cells/s ({rate_onnx / rate:.2f}x torch), peak RSS "
            f"{on['hwm_kib'] / 2**20:.2f} GiB, max |difference| {d:.1e}"
        )
    if not a.no_dask:
        dk = run_child(card, stack, work / "dense_dask.tif", True, a.block, f"dask='local', dask_workers={a.workers}")
        rate_dask = a.size**2 / dk["seconds"]
        same = max_diff(work / "dense.tif", work / "dense_dask.tif") == 0.0
        print(
            f"dense on a local Dask cluster ({a.workers} workers, 1 thread each): {rate_dask:,.0f} cells/s "
            f"({rate_dask / rate:.2f}x the plain run, cluster start included); client peak RSS "
            f"{dk['hwm_kib'] / 2**20:.2f} GiB; raster identical to the plain run: {same}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
