"""Knowing when a crack model does not know: distance of a chip from the training domain.

Why: every concrete-trained model called 100 % of aerial farmland chips "crack". A classifier
has no "neither" answer, so the model card now records its training domain, and chips far
outside it are marked *unfamiliar* (and, by default, left out of the probability raster) rather
than painted as cracks.

Feature: the global average of the last convolutional stage (the layer Grad-CAM uses), taken
during the same forward pass as the prediction, so it costs nothing extra. Domain: per-feature
mean and standard deviation over the training images; distance: the root-mean-square of the
standardised features. Threshold: a high quantile (default 0.99) of the training images' own
distances (about 1 % of in-domain images would be flagged), never below twice their median distance,
because the quantile of a small training set is noisy.

Second check, for networks trained from scratch: the colour and contrast of the image itself
(per-channel mean and standard deviation of the network input), with its own threshold fitted the
same way. Why: a network trained from scratch on a few hundred images learns features for its own
question only, and what it has not seen can land inside their range. Measured
(``test_crack_unfamiliar_farmland``): a toy ResNet50 that had learned its dark lines (test AUC 1.0)
called 6 of 20 maize-field chips crack inside the feature threshold (1.78); the image statistics
put all 20 beyond theirs. Fitted on the bundled concrete photos alone, they flag 1 of 200 held-out
concrete cracks, 1 of 200 crack-free concrete photos and 17 of 20 farmland chips
(scripts/study_image_domain.py). Why not for ImageNet backbones: their features already tell
farmland apart (the shipped ``crack_lite0`` flags 12 of 20, and its head calls 1 crack), while the
image statistics of its two-source training set (drone chips and concrete) flagged 20 of 200
held-out concrete cracks (recall 0.97 -> 0.85 masked): one Gaussian over two kinds of imagery is
too coarse, so two-stage training (source and target sets) keeps the feature check alone too. A
chip is unfamiliar when either distance passes its threshold; cards without an ``image`` entry
(pretrained backbones, two-stage training, cards written before this check) use the features alone.
The statistics are taken on the normalised input: the standardised distance does not change under a
per-channel scale and shift, so they equal those of the raw RGB.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import numpy as np
import torch
from torch import nn

from .models import target_layer

DOMAIN_QUANTILE = 0.99
#: floor of the threshold, in medians of the training images' own distances (small training sets)
MEDIAN_FACTOR = 2.0


@contextmanager
def pooled_features(model: nn.Module) -> Iterator[list[torch.Tensor]]:
    """Within the block, ``feats[0]`` holds the (N, C) pooled last-stage features of the latest forward."""
    feats: list[torch.Tensor] = []

    def hook(_module: nn.Module, _inp: tuple, out: torch.Tensor) -> None:
        feats[:] = [out.detach().float().mean(dim=(2, 3)).cpu()]

    handle = target_layer(model).register_forward_hook(hook)
    try:
        yield feats
    finally:
        handle.remove()


def image_statistics(x: torch.Tensor | np.ndarray) -> np.ndarray:
    """Per-channel mean and standard deviation of network inputs (N, C, H, W) -> (N, 2C), float64."""
    a = x.detach().float().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x, np.float32)
    return np.concatenate([a.mean(axis=(2, 3)), a.std(axis=(2, 3))], axis=1).astype(np.float64)


def _fit(features: np.ndarray, calibration: np.ndarray | None, quantile: float) -> dict:
    """Mean, std and threshold of one descriptor (see :func:`fit_domain`)."""
    mean = features.mean(axis=0)
    std = features.std(axis=0) + 1e-6
    d = distances(features, {"mean": mean, "std": std})
    # the quantile of a few dozen training images is noisy: never closer than twice their median
    threshold = max(np.quantile(d, quantile), MEDIAN_FACTOR * np.median(d))
    if calibration is not None and len(calibration):
        threshold = max(threshold, np.quantile(distances(calibration, {"mean": mean, "std": std}), quantile))
    return {
        "mean": mean.astype(float).round(6).tolist(),
        "std": std.astype(float).round(6).tolist(),
        "threshold": float(threshold),
    }


def fit_domain(
    features: np.ndarray,
    calibration: np.ndarray | None = None,
    quantile: float = DOMAIN_QUANTILE,
    images: np.ndarray | None = None,
    image_calibration: np.ndarray | None = None,
) -> dict:
    """The card's ``domain`` entry from the training images' features (N, C).

    ``calibration``: features of in-domain images the network was not fitted on (the validation
    split). The threshold is the larger of both sets' ``quantile``; why: the network's features of
    its own training images can lie closer to their mean than those of new images of the same
    kind. Measured (scripts/diagnose_domain_calibration.py, 400 held-out concrete images): a CNN
    trained on 30 % of the crack images (45 to 150 crack-free) with focal loss flagged 28 of them
    from training images alone and 3 with the validation images; balanced CE 4 and 4; the 45 : 150
    set with weighted CE 36 and 32.

    ``images`` / ``image_calibration``: :func:`image_statistics` of the same images; when given, the
    entry gains ``image`` (the second check, fitted the same way).
    """
    out = {"feature": "global average of the last convolutional stage", **_fit(features, calibration, quantile)}
    out |= {
        "quantile": quantile,
        "n_images": int(features.shape[0]),
        "n_calibration_images": int(calibration.shape[0]) if calibration is not None and len(calibration) else 0,
    }
    if images is not None and len(images):
        out["image"] = fit_image_domain(images, image_calibration, quantile)
    return out


def fit_image_domain(
    images: np.ndarray, calibration: np.ndarray | None = None, quantile: float = DOMAIN_QUANTILE
) -> dict:
    """The ``image`` entry of a domain from :func:`image_statistics` of training (and validation) images."""
    return {"feature": "per-channel mean and std of the input", **_fit(images, calibration, quantile)}


def distances(features: np.ndarray, domain: dict) -> np.ndarray:
    """RMS of the standardised features: about 1 inside the training domain, large far outside it."""
    z = (np.asarray(features, np.float64) - np.asarray(domain["mean"])) / np.asarray(domain["std"])
    return np.sqrt(np.mean(z**2, axis=1))


def image_distances(stats: np.ndarray, domain: dict) -> np.ndarray:
    """Distance of :func:`image_statistics` from the card's image domain (NaN when the card has none)."""
    if "image" not in domain:
        return np.full(len(stats), np.nan)
    return distances(stats, domain["image"])


def unfamiliar(dist: np.ndarray, image_dist: np.ndarray, domain: dict) -> np.ndarray:
    """Chips beyond either threshold (a NaN image distance, from an older card, never flags)."""
    odd = np.asarray(dist) > domain["threshold"]
    if "image" in domain:
        odd |= np.nan_to_num(np.asarray(image_dist), nan=-np.inf) > domain["image"]["threshold"]
    return odd


def check_batch(
    features: np.ndarray, x: torch.Tensor, domain: dict | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Feature distance, image distance and unfamiliar flag of one batch: the one check mapping and evaluation use.

    ``features``: the batch's pooled features; ``x``: its network input. Without a domain: NaN, NaN, no flag.
    """
    n = len(features)
    if not domain:
        return np.full(n, np.nan), np.full(n, np.nan), np.zeros(n, bool)
    dist, idist = distances(features, domain), image_distances(image_statistics(x), domain)
    return dist, idist, unfamiliar(dist, idist, domain)


def image_features(model: nn.Module, batches: Iterable) -> tuple[np.ndarray, np.ndarray]:
    """Pooled features and :func:`image_statistics` of every batch (input tensors or (input, label) pairs)."""
    model.eval()
    out, stats = [], []
    with pooled_features(model) as feats, torch.no_grad():
        for b in batches:
            x = b[0] if isinstance(b, list | tuple) else b
            model(x.to(next(model.parameters()).device))
            out.append(feats[0].numpy())
            stats.append(image_statistics(x))
    if not out:
        return np.empty((0, 0)), np.empty((0, 0))
    return np.concatenate(out), np.concatenate(stats)
