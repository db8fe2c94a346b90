"""The three crack classifiers of the paper, built on torchvision.

* ``cnn``: three 3x3 conv layers (ReLU + 2x2 max pool each) and two fully connected layers.
* ``resnet50``: torchvision ResNet50 with a two-layer head (global average pooling -> FC -> FC).
* ``resnet50_se``: the same with a squeeze-and-excitation block after every bottleneck of
  ``layer4`` (reduction ``r``) and dropout before the head (paper Sect. 2.2).

Weights never download: ``weights_path`` may point to a local ImageNet state dict.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

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


class PretrainedCrackNet(nn.Module):
    """An ImageNet-pretrained backbone (pooled features) and a linear head; the backbone frozen or partly tuned.

    ``finetune_blocks`` = 0: only the head is trained (from cached features, seconds); N > 0: the
    last N stages of the backbone, its head convolution and the head are trained. The weights file
    holds only what was trained (:meth:`saved_state`); the rest is the checkpoint the card names
    (its SHA-256 is in the card), so a card is kilobytes, not the 17 MB backbone.
    """

    def __init__(self, backbone: nn.Module, n_classes: int = 2, dropout: float = 0.2, finetune_blocks: int = 0) -> None:
        super().__init__()
        bb: Any = backbone  # a timm model: its attributes are not typed
        self.backbone = backbone
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(int(bb.num_features), n_classes))
        n_stages = len(bb.blocks)
        if not 0 <= finetune_blocks <= n_stages:
            raise ValueError(f"finetune_blocks must be 0-{n_stages}, not {finetune_blocks}")
        self.finetune_blocks = finetune_blocks
        self.prefixes = ["head."]
        if finetune_blocks:
            self.prefixes += [f"backbone.blocks.{i}." for i in range(n_stages - finetune_blocks, n_stages)]
            self.prefixes += ["backbone.conv_head.", "backbone.bn2."]
        for name, p in self.named_parameters():
            p.requires_grad = self.trains(name)

    def trains(self, key: str) -> bool:
        """Whether a parameter or buffer is trained (and saved) rather than taken from the checkpoint."""
        return key.startswith(tuple(self.prefixes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits (N, n_classes) of normalised chips (N, 3, H, W)."""
        return self.head(self.backbone(x))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The pooled backbone features (N, C) the head reads."""
        return self.backbone(x)

    def train(self, mode: bool = True) -> PretrainedCrackNet:
        """Training mode for the trained parts only: frozen batch norms keep their ImageNet statistics."""
        super().train(mode)
        if mode:
            for name, m in self.named_modules():
                if name and not self.trains(name + ".") and isinstance(m, nn.BatchNorm2d):
                    m.eval()
        return self

    def saved_state(self) -> dict[str, torch.Tensor]:
        """The trained tensors only (head, and the tuned stages with their batch-norm statistics)."""
        return {k: v for k, v in self.state_dict().items() if self.trains(k)}

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True, assign: bool = False) -> Any:
        """Load a :meth:`saved_state`: exactly the trained tensors, the rest stays the checked checkpoint.

        Why strict in our own terms: a file missing a trained tensor, or holding a backbone tensor
        that should come from the checkpoint, belongs to another configuration and is refused.
        """
        full = self.state_dict()
        expected = {k for k in full if self.trains(k)}
        given = set(state_dict)
        if given == set(full):  # a whole state (early stopping's snapshot of this very network)
            return super().load_state_dict(state_dict, strict=strict)
        if strict and given != expected:
            missing, extra = sorted(expected - given)[:3], sorted(given - expected)[:3]
            raise RuntimeError(f"state dict does not match this network (missing {missing}, unexpected {extra})")
        return super().load_state_dict({**full, **state_dict}, strict=True)


def set_logistic_head(model: nn.Module, w: Any, b: float) -> None:
    """Write a logistic regression (w . x + b on the pooled features) into a pretrained net's linear head.

    Logits (0, w . x + b): their softmax is the regression's own sigmoid probability.
    """
    if not isinstance(model, PretrainedCrackNet):
        raise TypeError("only a pretrained-backbone network has a linear head on pooled features")
    linear = model.head[-1]
    assert isinstance(linear, nn.Linear)
    with torch.no_grad():
        linear.weight.zero_()
        linear.bias.zero_()
        linear.weight[1] = torch.as_tensor(w, dtype=torch.float32)
        linear.bias[1] = float(b)


def logistic_head(model: nn.Module) -> tuple[Any, float]:
    """The (w, b) that :func:`set_logistic_head` wrote: logit(crack) - logit(no crack) of the linear head."""
    if not isinstance(model, PretrainedCrackNet):
        raise TypeError("only a pretrained-backbone network has a linear head on pooled features")
    linear = model.head[-1]
    assert isinstance(linear, nn.Linear)
    wt, bt = linear.weight.detach().double().cpu().numpy(), linear.bias.detach().double().cpu().numpy()
    return wt[1] - wt[0], float(bt[1] - bt[0])


def fit_logistic(x: Any, y: Any, c: float, balanced: bool = True) -> tuple[Any, float]:
    """(w, b) on raw pooled features of an L2 logistic regression fitted on standardised ones.

    Standardising keeps one C meaningful across backbones; folding the scaling back into (w, b)
    lets the result go straight into the network's linear head (:func:`set_logistic_head`).
    """
    from sklearn.linear_model import LogisticRegression

    mu, sd = x.mean(0), x.std(0) + 1e-6
    lr = LogisticRegression(C=c, max_iter=5000, class_weight="balanced" if balanced else None)
    lr.fit((x - mu) / sd, y)
    return lr.coef_[0] / sd, float(lr.intercept_[0] - (lr.coef_[0] * mu / sd).sum())


def saved_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """What a crack card's weights file holds for ``model``."""
    return model.saved_state() if isinstance(model, PretrainedCrackNet) else model.state_dict()


def build_model(
    arch: str,
    n_classes: int = 2,
    se_reduction: int = 16,
    dropout: float = 0.5,
    weights_path: str | None = None,
    finetune_blocks: int = 0,
) -> nn.Module:
    """A classifier; ResNets optionally initialised from a local ImageNet state dict (never a download).

    ``efficientnet_lite0``: the ImageNet backbone of :mod:`.backbones` (``weights_path`` overrides
    the installed package's checkpoint) and a linear head; ``finetune_blocks`` as in
    :class:`PretrainedCrackNet`.
    """
    if arch == "cnn":
        return SmallCNN(n_classes, dropout=dropout)
    if arch == "efficientnet_lite0":
        from .backbones import build_lite0

        return PretrainedCrackNet(build_lite0(weights_path), n_classes, dropout, finetune_blocks)
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
    if isinstance(model, PretrainedCrackNet):
        bb: Any = model.backbone
        return bb.conv_head
    layer = model.features if isinstance(model, SmallCNN) else model.layer4
    assert isinstance(layer, nn.Module)
    return layer


def freeze_for_finetuning(model: nn.Module) -> list[str]:
    """Stage two of transfer learning: freeze conv1..layer3 (ResNets) or the first two conv blocks (CNN).

    Returns the names of the parameters left trainable. A :class:`PretrainedCrackNet` keeps its
    own setting (frozen backbone, or its ``finetune_blocks`` last stages).
    """
    if isinstance(model, PretrainedCrackNet):
        return [n for n, p in model.named_parameters() if p.requires_grad]
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


def fold_batch_norms(model: nn.Module, example: torch.Tensor, keep: nn.Module | None = None) -> tuple[nn.Module, int]:
    """An inference copy of ``model`` with each batch norm folded into the convolution before it.

    Why: in a warm torch run of the default EfficientNet-Lite0, batch norm took 0.58 s of a 2.14 s
    forward (cProfile, bench_crack_predict); folded, a conv computes the same affine map in its own
    weights and bias (``torch.nn.utils.fusion.fuse_conv_bn_eval``). timm's ``BatchNormAct2d`` carries
    its activation, which stays (drop + act replace the norm). A pair is a convolution followed by a
    batch norm among one module's children, in definition order; the copy's output is compared with
    the original's on ``example``, and any difference beyond float rounding returns the original
    unchanged (0 folded), so a model whose children are not in forward order is never changed.
    ``keep``: a layer whose output must stay as it is (the Grad-CAM layer: folding its norm would
    shift the heatmap). Returns (model, number of norms folded). Not for training: the copy has no
    batch norms to update, and its weights file would not match the card.
    """
    import copy

    from torch.nn.utils.fusion import fuse_conv_bn_eval

    folded = copy.deepcopy(model).eval()
    keep_name = next((n for n, m in model.named_modules() if m is keep), None) if keep is not None else None
    n = 0
    for pname, parent in list(folded.named_modules()):
        names = list(parent._modules)
        for a, b in zip(names, names[1:]):
            conv, bn = parent._modules[a], parent._modules[b]
            if not isinstance(conv, nn.Conv2d) or not isinstance(bn, nn.BatchNorm2d):
                continue
            if bn.num_features != conv.out_channels or bn.running_mean is None or bn.running_var is None:
                continue  # not this convolution's norm, or a norm without running statistics
            if keep_name is not None and f"{pname}.{a}".lstrip(".") == keep_name:
                continue
            parent._modules[a] = fuse_conv_bn_eval(conv, bn)
            rest = [getattr(bn, k) for k in ("drop", "act") if isinstance(getattr(bn, k, None), nn.Module)]
            parent._modules[b] = nn.Sequential(*rest) if rest else nn.Identity()
            n += 1
    if n == 0:
        return model, 0
    with torch.no_grad():
        x = example.to(next(model.parameters()).device)
        want, got = model.eval()(x), folded(x)
    if not torch.allclose(got, want, rtol=1e-3, atol=1e-4):
        return model, 0
    return folded, n
