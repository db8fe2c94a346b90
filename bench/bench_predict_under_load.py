"""Benchmark (not a test): the dense CNN-LSTM-AM map on a quiet machine and beside a CPU hog.

Issue 21 measured torch's map at 249k cells/s quiet, 84k with one of two cores taken by another
process (3x slower where losing a core should cost 2x) and 17k under load 5-8: intra-op threads
spin-wait when a core they count on is busy. ``predict_stack`` now sizes torch's threads (and
ONNX Runtime's) to the cores free when it starts (``core.runtime.free_cores``). This script maps
one generated stack three times, each in a fresh process: quiet; beside a busy-loop process
taking one core, threads sized (what runs now); and beside it with every core forced (what ran
before). It prints cells/s and each slowdown against quiet, with the proportional cost (cores /
free cores) to compare with.

    .venv/bin/python bench/bench_predict_under_load.py --size 1500 --backend torch
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_lsm_predict import generate, train  # noqa: E402
from child import run_timed  # noqa: E402


def main() -> int:
    """Generate, train, map three times, print the figures."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=1500)
    ap.add_argument("--patch", type=int, default=30)
    ap.add_argument("--backend", choices=["torch", "onnx"], default="torch")
    a = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="lsai_load_"))
    stack = work / "stack.tif"
    generate(stack, a.size)
    card = train(stack, work / "model", "cnn_lstm_am", a.patch, n=400)
    cores = len(os.sched_getaffinity(0))
    call = f"predict_stack({str(card)!r}, {str(stack)!r}, {str(work / 'p.tif')!r}, backend={a.backend!r})"
    every_core = f"import core.runtime as rt; rt.free_cores = lambda *a, **k: {cores}"

    def timed(extra_imports: list[str]) -> float:
        res = run_timed(["from core.susceptibility.predict import predict_stack", *extra_imports], call)
        return a.size**2 / res["seconds"]

    quiet = timed([])
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(1.0)
        sized = timed([])
        forced = timed([every_core])
    finally:
        hog.kill()
    print(f"dense CNN-LSTM-AM, patch {a.patch}, {a.size}x{a.size} cells, backend {a.backend}, {cores} cores")
    print(f"quiet: {quiet:,.0f} cells/s")
    print(f"one core taken by a busy loop, threads sized to the free cores (now): {sized:,.0f} cells/s, "
          f"slowdown {quiet / sized:.2f}x")  # fmt: skip
    print(f"one core taken, every core's thread (before): {forced:,.0f} cells/s, slowdown {quiet / forced:.2f}x")
    print(f"proportional cost of losing one of {cores} cores: {cores / max(cores - 1, 1):.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
