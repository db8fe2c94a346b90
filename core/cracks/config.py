"""What the crack algorithms need to know before torch is imported: architectures, classes, settings.

Why a module of its own: Processing builds every algorithm's parameters (architecture choices,
default epochs, the shipped model) when QGIS starts. These values must not pull in torch, or a
QGIS whose Python has no torch would show no crack algorithm at all instead of one that says what
to install. :mod:`.models`, :mod:`.train` and :mod:`.predict` re-use these names.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path

#: the paper's three classifiers (its CNN, ResNet50, ResNet50 with SE blocks in layer4), then the
#: ImageNet-pretrained EfficientNet-Lite0 with a trained head (the default: see backbones.py for why)
ARCHITECTURES = ("cnn", "resnet50", "resnet50_se", "efficientnet_lite0")
#: architectures whose backbone comes pretrained from a local checkpoint (frozen or partly tuned)
PRETRAINED = ("efficientnet_lite0",)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: input normalisation (mean, std) per architecture: a pretrained backbone keeps its checkpoint's own
NORMALISATION = {"efficientnet_lite0": ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))}


def normalisation_for(arch: str) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
    """(mean, std) of the network input for ``arch`` (ImageNet statistics unless the checkpoint says otherwise)."""
    return NORMALISATION.get(arch, (IMAGENET_MEAN, IMAGENET_STD))


CLASSES = ("no_crack", "crack")
#: the model crack_predict and crack_gradcam use when none is given
SHIPPED_CARD = Path(__file__).resolve().parents[2] / "resources" / "pretrained" / "crack_lite0.json"


class CrackLoss(StrEnum):
    """The training losses (a ``StrEnum``: the card's plain string compares equal)."""

    WEIGHTED_CE = "weighted_ce"  # cross-entropy weighted by inverse class frequency (the default)
    FOCAL = "focal"  # focal loss (gamma ``focal_gamma``), class-weighted
    CE = "ce"  # plain cross-entropy


LOSSES = tuple(v.value for v in CrackLoss)


@dataclass(frozen=True)
class CrackTrainConfig:
    """Training settings (units in names; defaults follow the paper where it gives them)."""

    arch: str = "efficientnet_lite0"
    input_px: int = 227
    epochs: int = 30
    batch_size: int = 16
    lr: float = 1e-4
    weight_decay: float = 1e-4
    patience: int = 8
    se_reduction: int = 16
    dropout: float = 0.5
    loss: CrackLoss = CrackLoss.WEIGHTED_CE
    focal_gamma: float = 2.0
    positive_fraction: float = 1.0  # imbalance experiment: keep this share of the crack images
    split: tuple[float, float, float] = (0.7, 0.2, 0.1)
    imagenet_weights: str | None = None
    seed: int = 42
    device: str = "auto"
    max_images_per_class: int | None = None
    #: stage one (pretraining on the source set) settings; None = the same as the fine-tuning stage
    pretrain_epochs: int | None = None
    pretrain_lr: float | None = None
    #: freeze conv1..layer3 (CNN: the first two conv blocks) when fine-tuning a pretrained network (paper)
    freeze: bool = True
    #: pretrained backbones: 0 = frozen, only the head is fitted (on cached features, seconds);
    #: N = also tune the backbone's last N stages by gradient descent (slower; see README)
    finetune_blocks: int = 0
    #: inverse L2 strength of the frozen-backbone head (None: chosen on the validation split)
    head_c: float | None = None

    def __post_init__(self) -> None:
        """Refuse settings that would train nothing or nonsense, whatever the front end (CLI, Processing, Python).

        Why: ``--epochs 0`` used to write a card with metrics of an untrained network.
        """
        from ..errors import InvalidInputError

        checks = [
            (self.epochs >= 1, f"epochs must be at least 1, not {self.epochs}"),
            (self.pretrain_epochs is None or self.pretrain_epochs >= 0, "pretraining epochs must be 0 or more"),
            (self.batch_size >= 2, f"the batch size must be at least 2 (batch norm), not {self.batch_size}"),
            (self.lr > 0 and self.lr == self.lr, f"the learning rate must be a positive number, not {self.lr}"),
            (self.patience >= 1, f"patience must be at least 1 epoch, not {self.patience}"),
            (self.loss in LOSSES, f"unknown loss '{self.loss}': use {', '.join(LOSSES)}"),
            (0 < self.positive_fraction <= 1, "the positive fraction must be in (0, 1]"),
            (self.arch in ARCHITECTURES, f"unknown architecture '{self.arch}': choose from {', '.join(ARCHITECTURES)}"),
            (0 <= self.finetune_blocks <= 7, f"finetune_blocks must be 0-7, not {self.finetune_blocks}"),
            (self.head_c is None or self.head_c > 0, "the head's C must be positive"),
        ]
        for ok, why in checks:
            if not ok:
                raise InvalidInputError(f"Crack training: {why}.")
        object.__setattr__(self, "loss", CrackLoss(self.loss))  # a plain string from a script becomes the enum

    def stage_one(self) -> CrackTrainConfig:
        """The settings of the pretraining stage."""
        return replace(
            self,
            epochs=self.pretrain_epochs or self.epochs,
            lr=self.pretrain_lr or self.lr,
        )
