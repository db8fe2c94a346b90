"""Chip classification over an orthomosaic, stitched into georeferenced probability and Grad-CAM rasters.

Chips overlap when the stride is smaller than the chip (a larger stride leaves unclassified nodata
strips, e.g. to evaluate chips that never share pixels); each chip's output is spread over its
window with a 2-D Hann weight (plus a small floor so image borders covered once still get a
value) and the weighted mean is written. Chip rows are processed in order and a rolling strip of
``chip_px`` rows is flushed as soon as no later chip can touch it, so memory is bounded by
``width x chip_px`` whatever the orthomosaic's height.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rasterio.io import DatasetReader, DatasetWriter

if TYPE_CHECKING:
    from ..onnx_models import OnnxModel


import contextlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
import torch

from ..errors import InvalidInputError
from ..metrics import ROC_AUC
from ..model_card import CrackCard
from ..progress import NullProgress, Progress, check
from ..raster.grid import Grid
from ..raster.io import FLOAT_NODATA, atomic_path, bounded_gdal_cache
from ..runtime import autocast, pick_device, resolve_backend
from .chips import ChipSpec, check_orthomosaic, chip_windows, read_chip
from .domain import check_batch, pooled_features
from .loaded import LoadedCrackModel, load_crack_model
from .models import target_layer
from .preprocess import model_input, resize_uint8

__all__ = ["LoadedCrackModel", "gradcam_chips", "load_crack_model", "predict_orthomosaic", "skill_notes"]

#: how many input pixels one cell of the Grad-CAM layer spans, per architecture
_CAM_STRIDE = {"cnn": 8, "resnet50": 32, "resnet50_se": 32, "efficientnet_lite0": 32}
#: fewest cells per side for a heatmap that can point at a crack inside the chip
MIN_CAM_CELLS = 4


def gradcam_resolution_note(card: CrackCard) -> str | None:
    """A sentence when the model's last stage is too coarse for Grad-CAM to localise anything (else None).

    Why: a ResNet50+SE at 32 px has a 1 x 1 last stage, so its "heatmap" is one flat colour that
    looks like a result.
    """
    stride = _CAM_STRIDE.get(card.architecture, 32)
    cells = -(-card.input_px // stride)
    if cells >= MIN_CAM_CELLS:
        return None
    return (
        f"the model's input is {card.input_px} px, so its last stage is {cells} x {cells} cells: the Grad-CAM "
        f"heatmap cannot show where in the chip the crack is (one flat patch per chip). A model trained at "
        f"{MIN_CAM_CELLS * stride} px or more localises."
    )


def skill_notes(card: CrackCard) -> list[str]:
    """What the card says about the model's skill, in sentences; chance-level results said as such.

    Why here: a crack-probability map looks equally convincing whether the model is good or at
    chance; the user must read the figures where they look at the map, not only in a report.
    """
    notes = []
    held = card.metrics.get("held_out") or {}
    for name, figs in held.items():
        auc = figs.get(ROC_AUC) if isinstance(figs, dict) else None
        if not isinstance(auc, dict):
            continue
        lo, hi = auc["ci95"]
        fpr = figs.get("false_positive_rate")
        if not np.isfinite(auc["value"]) and isinstance(fpr, dict):  # crack-free images only
            flo, fhi = fpr["ci95"]
            notes.append(f"held-out {name} (crack-free): false-positive rate {fpr['value']:.2f} ({flo:.2f}-{fhi:.2f})")
            continue
        line = f"held-out {name}: ROC AUC {auc['value']:.2f} (95 % CI {lo:.2f}-{hi:.2f})"
        if lo <= 0.5:
            line += ": NOT distinguishable from chance; do not read this map as crack detection"
        notes.append(line)
    test = card.metrics.get("test") or {}
    if not held and isinstance(test.get(ROC_AUC), float):
        notes.append(f"training-split test AUC {test[ROC_AUC]:.2f} (no held-out evaluation in the card)")
        if test[ROC_AUC] < 0.6:
            notes.append("the training-split test AUC is near chance")
    return notes


def hann2d(n: int, floor: float = 1e-3) -> np.ndarray:
    """Separable Hann weight of an n x n chip (strictly positive)."""
    h = np.hanning(n + 2)[1:-1]
    return (np.outer(h, h) + floor).astype(np.float32)


def _prep(m: LoadedCrackModel, rgb: np.ndarray, input_px: int) -> torch.Tensor:
    """Network input of uint8 chips through the one preprocessing path (``preprocess.model_input``)."""
    x = model_input(rgb, input_px, m.card.mean, m.card.std, m.mean.device)
    return x.contiguous(memory_format=torch.channels_last) if x.dim() == 4 else x


def _gradcam(m: LoadedCrackModel, x: torch.Tensor, size: int) -> np.ndarray:
    """Grad-CAM of the crack class at the last conv stage (captum), upsampled to the chip, 0..1 per chip."""
    from captum.attr import LayerAttribution, LayerGradCam

    gc = LayerGradCam(m.model, target_layer(m.model))
    x = x.clone().requires_grad_(True)
    attr = gc.attribute(x, target=1, relu_attributions=True)
    attr = LayerAttribution.interpolate(attr, (size, size), interpolate_mode="bilinear")[:, 0]
    a = attr.detach().cpu().numpy()
    mx = a.reshape(a.shape[0], -1).max(axis=1)[:, None, None]
    return np.where(mx > 0, a / np.maximum(mx, 1e-12), 0.0).astype(np.float32)


@dataclass
class ChipResult:
    """Per-chip output for the chip layer."""

    row: int
    col: int
    window: tuple[int, int, int, int]
    valid_fraction: float
    probability: float
    domain_distance: float = float("nan")  # RMS standardised feature distance from the training domain
    unfamiliar: bool = False  # beyond a domain threshold of the card: not a crack/no-crack question it learned
    image_distance: float = float("nan")  # the same for the chip's colour and contrast (cards that record it)


@bounded_gdal_cache
def predict_orthomosaic(
    card_path: str,
    ortho: str,
    prob_out: str,
    spec: ChipSpec,
    gradcam_out: str | None = None,
    batch: int = 16,
    device: str = "auto",
    progress: Progress | None = None,
    mask_unfamiliar: bool = True,
    precision: str = "fp32",
    backend: str = "torch",
    loaded: LoadedCrackModel | None = None,
) -> list[ChipResult]:
    """Classify every valid chip, stitch probabilities (and Grad-CAM) onto the orthomosaic's grid.

    ``loaded``: the classifier already loaded from ``card_path`` (on ``device``), not read again.

    With a card that records its training domain, chips beyond the domain threshold are marked
    ``unfamiliar``; with ``mask_unfamiliar`` they are left out of the rasters (nodata where no
    familiar chip covers a pixel), so imagery the model never saw is not painted as cracks.
    ``precision="bf16"`` runs the classification forward under bfloat16 autocast (Grad-CAM stays fp32).
    ``backend="onnx"`` classifies in ONNX Runtime (``<card>.onnx`` when it matches the weights, else a
    cached export); Grad-CAM needs gradients, so it stays a torch-only output. ``"auto"``: ONNX
    Runtime when installed and nothing needs torch (see ``runtime.resolve_backend``).
    """
    progress = progress or NullProgress()
    backend = resolve_backend(backend, needs_torch=bool(gradcam_out) or precision != "fp32")
    if backend == "onnx" and (gradcam_out or precision != "fp32"):
        raise InvalidInputError(
            "The ONNX backend computes probabilities only, in fp32: Grad-CAM needs gradients and bf16 is a torch "
            "option. Use the torch backend for those, or leave them out."
        )
    progress.log(f"Classifier runtime: {'ONNX Runtime' if backend == 'onnx' else 'torch'} ({precision})")
    grid = check_orthomosaic(ortho, spec)
    dev = pick_device(device)
    autocast(dev, precision)  # an unknown precision is refused before any work
    m = loaded if loaded is not None else load_crack_model(card_path, dev, inference=True)
    if gradcam_out and (note := gradcam_resolution_note(m.card)):
        progress.log(f"Warning: {note}")
    with contextlib.ExitStack() as stack:
        graph = None
        if backend == "onnx":
            from ..onnx_models import onnx_backend

            graph = stack.enter_context(onnx_backend(card_path, m.card, str(dev)))
        return _classify_chips(
            m, graph, ortho, grid, prob_out, spec, gradcam_out, batch, dev, progress, mask_unfamiliar, precision
        )


def _classify(
    m: LoadedCrackModel, graph: OnnxModel | None, x: torch.Tensor, dev: torch.device, precision: str
) -> tuple[np.ndarray, np.ndarray]:
    """Crack probabilities (N,) and pooled last-stage features (N, K) of a batch of network inputs."""
    if graph is not None:
        p, f = graph.run(image=x.contiguous().cpu().numpy())
        return p, f
    with pooled_features(m.model) as feats, torch.no_grad(), autocast(dev, precision):
        p = torch.softmax(m.model(x).float(), 1)[:, 1].cpu().numpy()
    return p, feats[0].numpy()


def _classify_chips(
    m: LoadedCrackModel,
    graph: OnnxModel | None,
    ortho: str,
    grid: Grid,
    prob_out: str,
    spec: ChipSpec,
    gradcam_out: str | None,
    batch: int,
    dev: torch.device,
    progress: Progress,
    mask_unfamiliar: bool,
    precision: str,
) -> list[ChipResult]:
    """The chip-row loop of :func:`predict_orthomosaic`."""
    input_px = m.card.input_px
    domain = m.card.domain
    weight = hann2d(spec.chip_px)
    width, chip, stride = grid.width, spec.chip_px, spec.stride_px
    outputs = [("prob", prob_out)] + ([("cam", gradcam_out)] if gradcam_out else [])
    acc = {k: np.zeros((chip, width + chip), np.float32) for k, _ in outputs}
    wsum = np.zeros((chip, width + chip), np.float32)
    results: list[ChipResult] = []
    windows = list(chip_windows(grid, spec))
    n_rows = windows[-1][0] + 1
    prof = grid.profile(1, "float32", FLOAT_NODATA)
    with (
        rasterio.open(ortho) as src,
        atomic_path(prob_out) as tmp_p,
        atomic_path(gradcam_out) if gradcam_out else contextlib.nullcontext() as tmp_c,
    ):
        dsts = {"prob": rasterio.open(tmp_p, "w", **prof)}
        if gradcam_out:
            dsts["cam"] = rasterio.open(tmp_c, "w", **prof)
        try:
            top = 0  # image row of the strip's first row
            for r in range(n_rows):
                check(progress)
                row_top = r * stride
                # flush rows that no chip of this or a later chip row can touch
                if row_top > top:
                    _flush(dsts, acc, wsum, top, min(row_top, grid.height), src, spec)
                    shift = row_top - top
                    for a in (*acc.values(), wsum):  # roll the strip up; new rows start empty
                        a[:] = np.roll(a, -shift, axis=0) if shift < chip else 0
                        a[max(0, chip - shift) :] = 0
                    top = row_top
                chips = []
                for rr, cc, win in windows:
                    if rr != r:
                        continue
                    rgb, valid = read_chip(src, win, spec)
                    frac = float(valid.mean())
                    if frac >= spec.min_valid:
                        chips.append((rr, cc, win, rgb, frac))
                for i in range(0, len(chips), batch):
                    part = chips[i : i + batch]
                    x = _prep(m, np.stack([c[3] for c in part]), input_px)
                    p, feats = _classify(m, graph, x, dev, precision)
                    dist, idist, flags = check_batch(feats, x, domain)
                    cams = _gradcam(m, x, chip) if gradcam_out else None
                    for j, (rr, cc, win, _, frac) in enumerate(part):
                        odd = bool(flags[j])
                        results.append(
                            ChipResult(
                                rr,
                                cc,
                                (int(win.col_off), int(win.row_off), chip, chip),
                                frac,
                                float(p[j]),
                                float(dist[j]),
                                odd,
                                float(idist[j]),
                            )
                        )
                        if odd and mask_unfamiliar:
                            continue
                        c0 = int(win.col_off)
                        acc["prob"][:, c0 : c0 + chip] += weight * p[j]
                        if cams is not None:
                            acc["cam"][:, c0 : c0 + chip] += weight * cams[j]
                        wsum[:, c0 : c0 + chip] += weight
                progress.report((r + 1) / n_rows, f"chip row {r + 1}/{n_rows}")
            _flush(dsts, acc, wsum, top, grid.height, src, spec)
        finally:
            for d in dsts.values():
                d.close()
        if not results:
            raise InvalidInputError(
                f"No chip of {ortho} has at least {spec.min_valid:.0%} valid pixels: the area is all nodata "
                "(alpha 0 or the nodata value). Check the band mapping and the alpha band."
            )
    return results


def _flush(
    dsts: dict[str, DatasetWriter],
    acc: dict[str, np.ndarray],
    wsum: np.ndarray,
    top: int,
    end: int,
    src: DatasetReader,
    spec: ChipSpec,
) -> None:
    """Write image rows [top, end) of the strip: weighted mean where covered and valid, else nodata."""
    if end <= top:
        return
    from rasterio.windows import Window

    h, width = end - top, src.width
    win = Window(0, top, width, h)
    _, valid = read_chip(src, win, spec)
    n = min(h, wsum.shape[0])  # a stride larger than the chip leaves rows no chip covers (nodata)
    ws = np.zeros((h, width), np.float32)
    ws[:n] = wsum[:n, :width]
    for k, d in dsts.items():
        a = np.zeros((h, width), np.float32)
        a[:n] = acc[k][:n, :width]
        v = np.where((ws > 0) & valid, a / np.maximum(ws, 1e-12), FLOAT_NODATA)
        d.write(v.astype(np.float32), 1, window=win)


def gradcam_chips(
    card_path: str, images: list[str], device: str = "auto", loaded: LoadedCrackModel | None = None
) -> list[dict]:
    """Chip, Grad-CAM heatmap (0..1) and crack probability of each image, at the model's input size."""
    from .images import open_rgb

    dev = pick_device(device)
    m = loaded if loaded is not None else load_crack_model(card_path, dev, inference=True)
    size = m.card.input_px
    items = []
    for p in images:
        chip = np.asarray(open_rgb(p)).transpose(2, 0, 1).copy()
        x = _prep(m, chip, size)[None]
        rgb = resize_uint8(torch.from_numpy(chip), size).numpy().transpose(1, 2, 0)  # what the network saw
        with torch.no_grad():
            prob = float(torch.softmax(m.model(x), 1)[0, 1])
        cam = _gradcam(m, x, size)[0]
        items.append({"name": Path(p).name, "chip": rgb, "heat": np.asarray(cam, np.float32), "probability": prob})
    return items


def gradcam_overlays(items: list[dict], out_dir: str) -> list[str]:
    """PNG overlays (chip | heatmap over chip, with the crack probability) of ``gradcam_chips`` items."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for it in items:
        fig, axes = plt.subplots(1, 2, figsize=(6, 3.2))
        axes[0].imshow(it["chip"])
        axes[0].set_title("chip")
        axes[1].imshow(it["chip"])
        axes[1].imshow(it["heat"], cmap="jet", alpha=0.45, vmin=0, vmax=1)
        axes[1].set_title(f"Grad-CAM, P(crack) = {it['probability']:.2f}")
        for ax in axes:
            ax.axis("off")
        dest = out / f"gradcam_{Path(it['name']).stem}.png"
        with atomic_path(dest) as tmp:
            fig.savefig(tmp, dpi=100, bbox_inches="tight", format="png")
        plt.close(fig)
        written.append(str(dest))
    return written


@dataclass
class CrackMap:
    """What one crack-mapping run produced and must tell the user."""

    chips: list[ChipResult]
    chip_layer: str
    notes: list[str]  # the model's held-out skill and the run's warnings, in order, each one sentence
    overlays: list[str]
    gradcam_items: list[dict]


def map_cracks(
    card_path: str,
    ortho: str,
    prob_out: str,
    chip_layer: str,
    spec: ChipSpec,
    gradcam_out: str | None = None,
    images: list[str] | None = None,
    overlay_dir: str | None = None,
    device: str = "auto",
    progress: Progress | None = None,
    mask_unfamiliar: bool = True,
    precision: str = "fp32",
    backend: str = "torch",
) -> CrackMap:
    """The crack_predict / crack_gradcam engine call: probability raster, chip layer, notes, Grad-CAM.

    Why one call: the Processing adapter and the command line each repeated this sequence (and the
    adapter loaded the card three times and the model twice); the classifier is loaded once here
    and passed to every step.
    """
    from .chips import write_chip_layer

    progress = progress or NullProgress()
    dev = pick_device(device)
    m = load_crack_model(card_path, dev, inference=True)
    notes = []
    if spec.stride_px > spec.chip_px:
        notes.append(
            f"Warning: the stride ({spec.stride_px} px) is larger than the chip ({spec.chip_px} px): strips of "
            f"{spec.stride_px - spec.chip_px} px between chips are not classified and stay nodata."
        )
    res = predict_orthomosaic(
        card_path, ortho, prob_out, spec, gradcam_out, device=device, progress=progress,
        mask_unfamiliar=mask_unfamiliar, precision=precision, backend=backend, loaded=m,
    )  # fmt: skip
    notes += [("Warning: model " if "chance" in n else "Model ") + n for n in skill_notes(m.card)]
    odd = sum(c.unfamiliar for c in res)
    if odd:
        what = "left out of the rasters" if mask_unfamiliar else "kept"
        notes.append(
            f"Warning: {odd} of {len(res)} chips are unlike the images the model was trained on "
            f"('unfamiliar' in the chip layer; {what}): its probabilities there are not meaningful."
        )
        if odd == len(res):
            notes.append("Warning: every chip is unfamiliar: this model does not know this imagery.")
    if not chip_layer.lower().endswith(".gpkg"):
        chip_layer = chip_layer.rsplit(".", 1)[0] + ".gpkg"
    write_chip_layer(chip_layer, Grid.from_path(ortho), res)
    items: list[dict] = []
    overlays: list[str] = []
    if gradcam_out and images:
        items = gradcam_chips(card_path, images, device, loaded=m)
        overlays = gradcam_overlays(items, overlay_dir or str(Path(gradcam_out).parent))
        notes.append(f"{len(overlays)} Grad-CAM overlays in {overlay_dir or Path(gradcam_out).parent}")
    return CrackMap(res, chip_layer, notes, overlays, items)
