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


def fit_domain(features: np.ndarray, calibration: np.ndarray | None = None, quantile: float = DOMAIN_QUANTILE) -> dict:
    """The card's ``domain`` entry from the training images' features (N, C).

    ``calibration``: features of in-domain images the network was not fitted on (the validation
    split). The threshold is the larger of both sets' ``quantile``; why: the network's features of
    its own training images can lie closer to their mean than those of new images of the same
    kind. Measured (scripts/diagnose_domain_calibration.py, 400 held-out concrete images): a CNN
    trained on 30 % of the crack images (45 to 150 crack-free) with focal loss flagged 28 of them
    from training images alone and 3 with the validation images; balanced CE 4 and 4; the 45 : 150
    set with weighted CE 36 and 32.
    """
    mean = features.mean(axis=0)
    std = features.std(axis=0) + 1e-6
    d = distances(features, {"mean": mean, "std": std})
    # the quantile of a few dozen training images is noisy: never closer than twice their median
    threshold = max(np.quantile(d, quantile), MEDIAN_FACTOR * np.median(d))
    n_cal = 0
    if calibration is not None and len(calibration):
        threshold = max(threshold, np.quantile(distances(calibration, {"mean": mean, "std": std}), quantile))
        n_cal = int(calibration.shape[0])
    return {
        "feature": "global average of the last convolutional stage",
        "mean": mean.astype(float).round(6).tolist(),
        "std": std.astype(float).round(6).tolist(),
        "threshold": float(threshold),
        "quantile": quantile,
        "n_images": int(features.shape[0]),
        "n_calibration_images": n_cal,
    }


def distances(features: np.ndarray, domain: dict) -> np.ndarray:
    """RMS of the standardised features: about 1 inside the training domain, large far outside it."""
    z = (np.asarray(features, np.float64) - np.asarray(domain["mean"])) / np.asarray(domain["std"])
    return np.sqrt(np.mean(z**2, axis=1))


def image_features(model: nn.Module, batches: Iterable) -> np.ndarray:
    """Pooled features of every batch (an iterable of input tensors or (input, label) pairs)."""
    model.eval()
    out = []
    with pooled_features(model) as feats, torch.no_grad():
        for b in batches:
            x = b[0] if isinstance(b, list | tuple) else b
            model(x.to(next(model.parameters()).device))
            out.append(feats[0].numpy())
    return np.concatenate(out) if out else np.empty((0, 0))
