"""One torch runtime for both tasks: device choice (validated) and seeding (reproducible runs).

Why one module: three device pickers had drifted apart (one silently stayed on the CPU, none
explained a missing GPU), and the crack trainer built its network before seeding, so the same
seed gave different weights.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch
    from torch import nn


import contextlib
import random
import re

import numpy as np

from .errors import InvalidInputError

_DEVICE = re.compile(r"^(auto|cpu|cuda(:\d+)?|mps)$")

#: runtimes of the deep models: torch (the reference) or ONNX Runtime (``core/onnx_models.py``)
BACKENDS = ("torch", "onnx", "auto")


def _cpu_times() -> tuple[float, float] | None:
    """(total, idle) jiffies of all CPUs from /proc/stat (None where there is none)."""
    try:
        with open("/proc/stat", encoding="ascii") as f:
            parts = [float(v) for v in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    return sum(parts[:8]), parts[3] + (parts[4] if len(parts) > 4 else 0.0)


def free_cores(sample_s: float = 0.3) -> int:
    """Cores not busy right now (sampled over ``sample_s`` from /proc/stat), at least 1.

    Why: torch's intra-op threads spin-wait for each other; with one of two cores taken by another
    process the dense CNN-LSTM-AM map ran 3x slower, and 14x under load 5-8, where losing a core
    should cost 2x. Sizing the threads to the free cores keeps the loss in proportion. The
    1-minute load average lags a program started seconds ago, so the busy share is sampled now;
    where /proc/stat is missing (Windows, macOS) the load average is used, else every core.
    """
    import os
    import time

    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        n = os.cpu_count() or 1
    a = _cpu_times()
    if a is not None:
        time.sleep(sample_s)
        b = _cpu_times()
        if b is not None and b[0] > a[0]:
            busy = (1.0 - (b[1] - a[1]) / (b[0] - a[0])) * (os.cpu_count() or n)
            return max(1, min(n, n - int(busy + 0.5)))
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):  # Windows has no load average
        return n
    return max(1, min(n, n - int(load + 0.5)))


@contextlib.contextmanager
def sized_threads(threads: int | None = None) -> Iterator[int]:
    """Run torch with ``threads`` intra-op threads (default: :func:`free_cores`), restored afterwards."""
    import torch

    before = torch.get_num_threads()
    n = max(1, int(threads or free_cores()))
    torch.set_num_threads(n)
    try:
        yield n
    finally:
        torch.set_num_threads(before)


def check_backend(backend: str) -> None:
    """Refuse an unknown runtime name before any work."""
    if backend not in BACKENDS:
        raise InvalidInputError(f"Unknown backend '{backend}': use {', '.join(BACKENDS)}.")


def resolve_backend(backend: str, needs_torch: bool = False) -> str:
    """``auto`` made concrete: ONNX Runtime when onnx and onnxruntime are installed and nothing needs torch.

    Why: for the crack models ONNX Runtime classifies 2.0-2.5x faster than torch on a CPU (the
    EfficientNet-Lite0 default: 130 against 52 chips/s, ``bench/bench_crack_predict.py``) with the
    same probabilities (max difference 6e-7); Grad-CAM (gradients) and bf16 stay torch options.
    """
    check_backend(backend)
    if backend != "auto":
        return backend
    if needs_torch:
        return "torch"
    from .dependencies import status

    return "onnx" if status("onnx").ok and status("onnxruntime").ok else "torch"


def pick_device(name: str | None = "auto") -> torch.device:
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


#: inference precisions: fp32 (exact) or bf16 autocast (CPUs with AVX512-BF16/AMX and recent GPUs)
PRECISIONS = ("fp32", "bf16")


def autocast(device: torch.device, precision: str = "fp32") -> AbstractContextManager:
    """The forward-pass context of ``precision`` on ``device`` (fp32: nothing; bf16: torch autocast).

    Why bf16 is an option and not the default: it changes probabilities in the third decimal
    (measured: at most 0.0044 for a ResNet50+SE, 0.0002 for the CNN), which is harmless for a
    map but not for a reproducibility check. Measured on this project's AVX512-BF16 CPU: 2.9x on
    the bare forward, 1.3x (CNN) to 1.6x (ResNet50+SE) end to end in ``crack_predict``.
    """
    import torch

    if precision not in PRECISIONS:
        raise InvalidInputError(f"Unknown precision '{precision}': use one of {', '.join(PRECISIONS)}.")
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16)


def load_weights(module: nn.Module, path: str | Path, architecture: str) -> None:
    """Load a saved state dict into ``module`` (on the CPU), or say in one sentence why it cannot be.

    One place for both tasks: torch raises many exception types on a corrupt, truncated or foreign
    file, and a user needs the same advice whatever the type.
    """
    import torch

    from .errors import ModelLoadError

    try:
        # weights_only: tensors and plain containers only, never pickled code (explicit, whatever
        # torch's default); a file that needs more is refused like a corrupt one
        module.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    except Exception as exc:  # torch raises many kinds on a corrupt or foreign file
        raise ModelLoadError(
            f"Cannot load the weights {path} as a {architecture} ({type(exc).__name__}): the file is corrupt or "
            "belongs to another model; use the weights saved with this card, or retrain."
        ) from exc
