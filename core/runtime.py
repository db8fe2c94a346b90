"""One torch runtime for both tasks: device choice (validated) and seeding (reproducible runs).

Why one module: three device pickers had drifted apart (one silently stayed on the CPU, none
explained a missing GPU), and the crack trainer built its network before seeding, so the same
seed gave different weights.
"""

from __future__ import annotations

import random
import re

import numpy as np

from .errors import InvalidInputError

_DEVICE = re.compile(r"^(auto|cpu|cuda(:\d+)?|mps)$")


def pick_device(name: str | None = "auto"):
    """A ``torch.device`` for ``auto``, ``cpu``, ``cuda``, ``cuda:N`` or ``mps``, refused clearly if absent.

    ``auto`` is CUDA when a GPU is present, else the CPU.
    """
    import torch

    text = (name or "auto").strip().lower()
    if not _DEVICE.match(text):
        raise InvalidInputError(f"Unknown device '{name}': use auto, cpu, cuda, cuda:N (GPU number) or mps.")
    if text == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if text.startswith("cuda"):
        if not torch.cuda.is_available():
            raise InvalidInputError(
                f"Device '{name}' was asked for but this machine has no usable CUDA GPU (or torch is a CPU "
                "build): use auto or cpu."
            )
        idx = int(text.split(":")[1]) if ":" in text else 0
        if idx >= torch.cuda.device_count():
            raise InvalidInputError(
                f"Device '{name}': only {torch.cuda.device_count()} GPU(s) present (cuda:0..). Use auto or cuda:0."
            )
    if text == "mps" and not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
        raise InvalidInputError("Device 'mps' was asked for but Apple's MPS is not available here: use auto or cpu.")
    return torch.device(text)


def seed_everything(seed: int) -> None:
    """Fix every random generator a run touches (Python, NumPy, torch CPU and CUDA).

    Call it *before* building a network: weight initialisation draws from torch's generator.
    cuDNN is asked for deterministic kernels so that a GPU run repeats too.
    """
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
