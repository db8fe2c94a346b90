"""The three crack classifiers of the paper, built on torchvision.

* ``cnn``: three 3x3 conv layers (ReLU + 2x2 max pool each) and two fully connected layers.
* ``resnet50``: torchvision ResNet50 with a two-layer head (global average pooling -> FC -> FC).
* ``resnet50_se``: the same with a squeeze-and-excitation block after every bottleneck of
  ``layer4`` (reduction ``r``) and dropout before the head (paper Sect. 2.2).

Weights never download: ``weights_path`` may point to a local ImageNet state dict.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from ..errors import ModelLoadError
from .config import ARCHITECTURES


class SqueezeExcitation(nn.Module):
    """Channel attention: global average pool -> FC (C/r) -> ReLU -> FC (C) -> sigmoid -> rescale."""

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        self.fc = nn.Sequential(
            nn.Linear(channels, max(1, channels // reduction)),
            nn.ReLU(inplace=True),
            nn.Linear(max(1, channels // reduction), channels),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) -> the same map with each channel scaled by its learnt excitation."""
        w = self.fc(x.mean(dim=(2, 3)))
        return x * w[:, :, None, None]


class SmallCNN(nn.Module):
    """The paper's baseline CNN (3 conv + 2 FC); ``features`` is the last conv stage (for Grad-CAM)."""

    def __init__(self, n_classes: int = 2, width: int = 32, dropout: float = 0.5) -> None:
        super().__init__()

        def block(cin: int, cout: int) -> nn.Sequential:
            return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2))

        self.features = nn.Sequential(block(3, width), block(width, 2 * width), block(2 * width, 4 * width))
        self.pool = nn.AdaptiveAvgPool2d(4)
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(4 * width * 16, 128),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(128, n_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits (N, n_classes) of normalised chips (N, 3, H, W)."""
        return self.classifier(self.pool(self.features(x)))


def build_model(
    arch: str, n_classes: int = 2, se_reduction: int = 16, dropout: float = 0.5, weights_path: str | None = None
) -> nn.Module:
    """A classifier; ResNets optionally initialised from a local ImageNet state dict (never a download)."""
    if arch == "cnn":
        return SmallCNN(n_classes, dropout=dropout)
    if arch not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {arch}; choose from {ARCHITECTURES}")
    from torchvision.models import resnet50

    net = resnet50(weights=None)
    if weights_path:
        p = Path(weights_path)
        if not p.exists():
            raise ModelLoadError(f"ImageNet weights file {p} not found (weights are never downloaded).")
        try:
            state = torch.load(p, map_location="cpu", weights_only=True)  # tensors only, never pickled code
        except Exception as exc:  # torch raises many kinds on a corrupt or foreign file
            raise ModelLoadError(f"{p} is not a readable state dict of tensors ({type(exc).__name__}).") from exc
        missing, unexpected = net.load_state_dict(state, strict=False)
        if len(missing) > 2:  # only fc.weight / fc.bias may differ
            raise ModelLoadError(f"{p} is not a ResNet50 state dict (missing {missing[:3]}...).")
    if arch == "resnet50_se":
        net.layer4 = nn.Sequential(
            *[nn.Sequential(b, SqueezeExcitation(b.conv3.out_channels, se_reduction)) for b in net.layer4]
        )
    net.fc = nn.Sequential(nn.Dropout(dropout), nn.Linear(2048, 256), nn.ReLU(inplace=True), nn.Linear(256, n_classes))
    return net


def target_layer(model: nn.Module) -> nn.Module:
    """The last convolutional stage, where Grad-CAM is computed."""
    layer = model.features if isinstance(model, SmallCNN) else model.layer4
    assert isinstance(layer, nn.Module)
    return layer


def freeze_for_finetuning(model: nn.Module) -> list[str]:
    """Stage two of transfer learning: freeze conv1..layer3 (ResNets) or the first two conv blocks (CNN).

    Returns the names of the parameters left trainable.
    """
    frozen: list = (
        [model.features[0], model.features[1]]
        if isinstance(model, SmallCNN)
        else [model.conv1, model.bn1, model.layer1, model.layer2, model.layer3]
    )
    for m in frozen:
        for p in m.parameters():
            p.requires_grad = False
        m.eval()  # frozen batch-norm statistics stay those of the source domain
    return [n for n, p in model.named_parameters() if p.requires_grad]
