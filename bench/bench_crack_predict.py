"""Benchmark (not a test): crack_predict end to end against the bare model forward on the same chips.

Generates an N x N px RGBA orthomosaic (8-bit, tiled), builds a classifier (random weights: speed
and memory do not depend on what it learned), then in a child process runs ``predict_orthomosaic``
(read window by window, normalise, classify in batches, stitch with Hann weights, write) and
prints chips/s, the bare forward's chips/s on identical in-memory chips (as built, and with the batch
norms folded into the convolutions, as crack_predict loads it), their ratios, and the child's peak
RSS (``VmHWM``).

    .venv/bin/python bench/bench_crack_predict.py                  # 20000 x 20000 px, CNN
    .venv/bin/python bench/bench_crack_predict.py --size 4000 --arch resnet50_se
    .venv/bin/python bench/bench_crack_predict.py --size 6000 --arch efficientnet_lite0   # the default model

Also in the same run: the same prediction under bf16 autocast and in ONNX Runtime (an export
beside the card, made before the timing), each as its ratio to torch fp32.
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


def generate(path: Path, size: int, block: int = 2048) -> None:
    """Smooth synthetic RGBA orthomosaic with a transparent corner, written window by window."""
    import rasterio
    from affine import Affine

    prof = {
        "driver": "GTiff",
        "width": size,
        "height": size,
        "count": 4,
        "dtype": "uint8",
        "crs": "EPSG:32633",
        "transform": Affine(0.02, 0, 638000, 0, -0.02, 5802000),
        "tiled": True,
        "blockxsize": 256,
        "blockysize": 256,
        "compress": "deflate",
        "bigtiff": "if_safer",
    }
    with rasterio.open(path, "w", **prof) as ds:
        for r in range(0, size, block):
            h = min(block, size - r)
            yy, xx = np.mgrid[r : r + h, 0:size].astype(np.float32)
            base = 128 + 60 * np.sin(xx / 37) * np.cos(yy / 53)
            data = np.stack([base, base * 0.9, base * 0.8, np.full_like(base, 255)]).astype(np.uint8)
            data[3, (yy < size * 0.05) & (xx < size * 0.05)] = 0
            ds.write(data, window=((r, r + h), (0, size)))


def make_card(out: Path, arch: str) -> Path:
    """A classifier with its card (random weights)."""
    import torch

    from core.cracks.config import CLASSES, normalisation_for
    from core.cracks.models import build_model, saved_state
    from core.cracks.preprocess import RECIPE
    from core.model_card import CrackCard

    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    torch.save(saved_state(build_model(arch)), out / f"{arch}.pt")
    mean, std = normalisation_for(arch)
    card = CrackCard.create(
        architecture=arch,
        weights_file=f"{arch}.pt",
        inputs={"input_px": 227},
        normalisation={**RECIPE, "mean": mean, "std": std},
        classes=list(CLASSES),
        hyperparameters={"se_reduction": 16, "dropout": 0.5},
    )
    card.save(out / f"{arch}.json")
    return out / f"{arch}.json"


def main() -> int:
    """Generate, predict in a child, time the bare forward, print figures."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=20000)
    ap.add_argument("--arch", choices=["cnn", "resnet50", "resnet50_se", "efficientnet_lite0"], default="cnn")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--workdir", default=None)
    a = ap.parse_args()
    work = Path(a.workdir or tempfile.mkdtemp(prefix="lsai_crackbench_"))
    work.mkdir(parents=True, exist_ok=True)
    ortho = work / f"ortho_{a.size}.tif"
    if not ortho.exists():
        t = time.time()
        generate(ortho, a.size)
        print(f"generated {a.size}x{a.size} px orthomosaic in {time.time() - t:.0f} s")
    card = make_card(work / "model", a.arch)

    def run_child(precision: str, backend: str = "torch", warm: bool = False) -> dict:
        """crack_predict in a fresh process at ``precision`` with ``backend``; seconds, chips, peak RSS.

        ``warm``: one untimed run first, so the timing leaves out loading the model and the
        runtime's one-off planning of each new shape (what a small image is dominated by).
        """
        prob = work / f"prob_{backend}_{precision}.tif"
        call = (
            f"res = predict_orthomosaic({str(card)!r}, {str(ortho)!r}, {str(prob)!r},"
            f" ChipSpec(alpha_band=4), batch={a.batch}, precision={precision!r}, backend={backend!r})"
        )
        imports = ["from core.cracks.chips import ChipSpec", "from core.cracks.predict import predict_orthomosaic"]
        return run_timed(imports + ([call] if warm else []), call, "'chips': len(res)")

    res = run_child("fp32")
    res_warm = run_child("fp32", warm=True)
    res_bf16 = run_child("bf16")
    from core.onnx_models import export_onnx

    export_onnx(card, card.with_suffix(".onnx"))  # beside the card: the backend uses it, no export in the timing
    res_onnx = run_child("fp32", "onnx")
    import rasterio
    import torch

    from core.cracks.predict import _prep, load_crack_model

    m = load_crack_model(str(card), torch.device("cpu"))
    with rasterio.open(ortho) as ds:
        k = max(1, min(8, a.size // 227))
        rgb = ds.read([1, 2, 3], window=((a.size // 2, a.size // 2 + 227), (0, 227 * k)))
    chips = [rgb[:, :, i * 227 : (i + 1) * 227] for i in range(k)] * (256 // k)

    # the model's own memory format (channels-last, as crack_predict runs it), one warm-up batch first:
    # oneDNN plans each new shape on its first call, which made the baseline swing 53-125 chips/s
    size = m.card.input_px  # what crack_predict feeds the network (224 for EfficientNet-Lite0)
    x = torch.stack([_prep(m, c, size) for c in chips]).contiguous(memory_format=torch.channels_last)

    def chips_per_s(net: torch.nn.Module) -> float:
        """Bare forward over ``x`` in batches, after one untimed batch."""
        with torch.no_grad():
            net(x[: a.batch])
            t = time.time()
            for i in range(0, x.shape[0], a.batch):
                net(x[i : i + a.batch])
        return x.shape[0] / (time.time() - t)

    bare = chips_per_s(m.model)
    # the same forward with batch norms folded into the convolutions, as crack_predict now loads it
    bare_folded = chips_per_s(load_crack_model(str(card), torch.device("cpu"), inference=True).model)
    e2e = res["chips"] / res["seconds"]
    print(f"{a.arch}, {a.size}x{a.size} px, {res['chips']} chips of 227 px (stride 227), batch {a.batch}")
    print(f"end-to-end crack_predict: {e2e:.1f} chips/s ({res['seconds']:.0f} s)")
    print(f"baseline bare model forward on the same kind of chips: {bare:.1f} chips/s")
    print(f"ratio end-to-end / bare: {e2e / bare:.2f}")
    print(
        f"bare forward with batch norms folded: {bare_folded:.1f} chips/s ({bare_folded / bare:.2f}x the bare forward)"
    )
    e2e_warm = res_warm["chips"] / res_warm["seconds"]
    warm_text = f"{e2e_warm:.1f} chips/s, ratio {e2e_warm / bare:.2f}"
    print(f"end-to-end, warm (model loaded and shapes planned once before): {warm_text}")
    e2e_bf16 = res_bf16["chips"] / res_bf16["seconds"]
    print(f"end-to-end crack_predict, bf16 autocast: {e2e_bf16:.1f} chips/s ({e2e_bf16 / e2e:.2f}x fp32)")
    e2e_onnx = res_onnx["chips"] / res_onnx["seconds"]
    # torch fp32 against ONNX fp32 (the bf16 run writes its own file: it used to overwrite fp32's here)
    with rasterio.open(work / "prob_torch_fp32.tif") as p, rasterio.open(work / "prob_onnx_fp32.tif") as q:
        diff = float(np.abs(p.read(1) - q.read(1)).max())
    print(
        f"end-to-end crack_predict, ONNX Runtime: {e2e_onnx:.1f} chips/s ({e2e_onnx / e2e:.2f}x torch fp32); "
        f"max |probability difference| {diff:.1e}"
    )
    gib = res["hwm_kib"] / 2**20
    print(f"peak RSS of the prediction process: {gib:.2f} GiB ({'under' if gib < 2 else 'OVER'} the 2 GiB budget)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
