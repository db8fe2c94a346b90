"""Benchmark (not a test): crack_adapt's head refit on 1000 labelled chips, against computing their features.

The field loop is only a loop if refitting after each round of labels is quick: the backbone
features are computed once and cached, and each later run only refits the head. This prints, in
one run on chips of the UAV75 test scene (227 px, every 48 px, the first ``--chips``):

* the features of the chips computed by the network (the first run, and the baseline),
* the same features read from the cache,
* the head refit on all of them as labels (strength chosen by the grouped CV, interval included),

and the ratios of the cached run (read + refit) to the first.

    .venv/bin/python bench/bench_crack_adapt.py              # 1000 chips
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> int:
    """Time the three parts and print them with their ratios."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--chips", type=int, default=1000)
    a = ap.parse_args()
    import rasterio

    from core.cracks.adapt import area_groups, base_head, chip_features, fit_adapted_head
    from core.cracks.config import SHIPPED_CARD

    scene = ROOT / "sample_data" / "uav75_scene"
    with rasterio.open(scene / "crack_labels.tif") as ds:
        lab = ds.read(1)
    wins, y = [], []
    for r0 in range(0, lab.shape[0] - 227 + 1, 48):
        for c0 in range(0, lab.shape[1] - 227 + 1, 48):
            wins.append((c0, r0, 227, 227))
            y.append(int((lab[r0 : r0 + 227, c0 : c0 + 227] == 1).sum() >= 150))
    wins, y = wins[: a.chips], np.asarray(y[: a.chips])
    cache = tempfile.mkdtemp(prefix="bench_adapt_")
    t = time.perf_counter()
    x, *_ = chip_features(str(SHIPPED_CARD), str(scene / "scene_rgb.tif"), wins, alpha_band=0, cache_dir=cache)
    first = time.perf_counter() - t
    t = time.perf_counter()
    x2, _d, _p, cached = chip_features(str(SHIPPED_CARD), str(scene / "scene_rgb.tif"), wins, 0, cache)
    read = time.perf_counter() - t
    assert cached and np.array_equal(x, x2)
    prior = base_head(str(SHIPPED_CARD))
    t = time.perf_counter()
    _w, _b, lam, cv = fit_adapted_head(x, y, area_groups(wins), prior=prior)
    fit = time.perf_counter() - t
    n = len(wins)
    print(f"chips: {n} ({int(y.sum())} crack), 227 px")
    print(f"features computed (first run, baseline): {first:.1f} s = {n / first:.1f} chips/s")
    print(f"features read from the cache:            {read:.3f} s")
    print(f"head refit on {n} labels (grouped CV {cv['folds']} folds, lambda {lam:g}): {fit:.2f} s")
    print(
        f"a later adapt run (cache + refit): {read + fit:.2f} s = {(read + fit) / first:.3f} x the first run's features"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
