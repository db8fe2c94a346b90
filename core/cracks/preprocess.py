"""One preprocessing path for every crack chip: uint8 RGB -> resize -> scale -> normalise.

Why: training resized with torchvision's antialiased ``v2.Resize``, prediction with bilinear
``F.interpolate`` without antialiasing and Grad-CAM with PIL bicubic; on the same drone tiles half
the labels of a ResNet50+SE flipped between paths. Training (before augmentation), evaluation,
prediction over an orthomosaic and Grad-CAM now all call :func:`model_input` (or the training
``Compose`` built from the same operations), and the card records the recipe.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from .config import IMAGENET_MEAN, IMAGENET_STD

#: what the model card stores under ``normalisation`` (the loader refuses other recipes)
RECIPE = {
    "mean": IMAGENET_MEAN,
    "std": IMAGENET_STD,
    "scale": "1/255",
    "resize": "torchvision v2 bilinear, antialiased, on uint8",
}


def resize_uint8(x: torch.Tensor, input_px: int) -> torch.Tensor:
    """Resize uint8 (…, 3, H, W) chips to ``input_px`` square (antialiased bilinear, uint8 out)."""
    if x.shape[-1] == input_px and x.shape[-2] == input_px:
        return x  # before the import: torchvision costs seconds to import and a chip at input size needs none
    from torchvision.transforms.v2 import functional as tvf

    return tvf.resize(x, [input_px, input_px], antialias=True)


def model_input(
    chips: np.ndarray | torch.Tensor,
    input_px: int,
    mean: tuple[float, ...] = IMAGENET_MEAN,
    std: tuple[float, ...] = IMAGENET_STD,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """Float network input from uint8 RGB chips (3, H, W) or (N, 3, H, W)."""
    x = torch.as_tensor(np.ascontiguousarray(chips) if isinstance(chips, np.ndarray) else chips)
    if x.dtype != torch.uint8:
        raise TypeError(f"chips must be uint8, got {x.dtype}")
    x = resize_uint8(x, input_px).to(device)
    m = torch.tensor(mean, dtype=torch.float32, device=x.device)[:, None, None]
    s = torch.tensor(std, dtype=torch.float32, device=x.device)[:, None, None]
    return (x.float() / 255.0 - m) / s


def training_transforms(
    input_px: int, train: bool, mean: tuple[float, ...] = IMAGENET_MEAN, std: tuple[float, ...] = IMAGENET_STD
) -> Callable:
    """The same resize and normalisation as :func:`model_input`, with augmentation when training.

    Augmentation (rot90 multiples, horizontal flip p=0.5, colour jitter 0.2/0.2/0.2/0.1) comes
    after the resize and before the scaling, as in the paper.
    """
    from torchvision.transforms import v2

    ops: list = [v2.ToImage(), v2.Lambda(lambda t: resize_uint8(t, input_px))]
    if train:
        ops += [
            v2.RandomChoice([v2.RandomRotation((a, a)) for a in (0, 90, 180, 270)]),
            v2.RandomHorizontalFlip(0.5),
            v2.ColorJitter(brightness=0.2, contrast=0.2, saturation=0.2, hue=0.1),
        ]
    ops += [v2.ToDtype(torch.float32, scale=True), v2.Normalize(list(mean), list(std))]
    return v2.Compose(ops)
