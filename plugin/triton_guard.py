"""Process-wide precautions that only the QGIS desktop needs.

Why: PyPI's Linux torch wheels depend on ``triton``, whose C extension bundles its own LLVM. In a
QGIS desktop process the GL driver (Mesa) has already loaded the system's LLVM, and importing
triton then crashes QGIS with a segmentation fault (reproduced: QGIS 3.22 under Xvfb, torch
2.15 + triton, even in the main thread; not with the offscreen platform). torch imports triton
lazily the first time an optimiser is built (``torch._dynamo`` probes for it), i.e. at the first
training epoch. Landslide AI never uses ``torch.compile``, the only thing triton serves, so
inside QGIS the module is marked unavailable before torch can import it; torch then takes its
no-triton path. Outside QGIS (tests, ``python -m core``, qgis_process) nothing is changed.
"""

from __future__ import annotations

import sys


def block_triton() -> bool:
    """Make ``import triton`` fail cleanly in this process unless it is already imported; True if blocked."""
    if "triton" in sys.modules and sys.modules["triton"] is not None:
        return False
    sys.modules["triton"] = None  # type: ignore[assignment] - the documented way to block an import
    return True
