"""The field loop measured on the UAV75 test scene: AUC on unlabelled chips before and after n user labels.

The scene (``sample_data/uav75_scene``) is UAV75's 15 held-out test photos side by side, with pixel
labels; nothing shipped was trained on it. Chips of 227 px lie wholly inside one photo (offsets 0,
142 and 285 in each 512 px photo: 9 per photo); a chip is a crack if it holds >= 150 labelled crack
pixels, crack-free if none, and ambiguous (left out) otherwise. A simulated user labels n chips of
12 photos (drawn at random, or n/2 at random then the tool's suggestions) and the head moves from the
shipped one as far as the labels pay for (a fresh head on the labels alone is shown too); the figure is the ROC
AUC on the chips of the 3 other photos (5 folds of photos, 3 seeds each), beside the shipped model
unadapted on the same chips. Usage::

    python scripts/measure_field_loop.py            # prints the table (about a minute on 2 CPU cores)
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PHOTO, CHIP, OFFSETS = 512, 227, (0, 142, 285)


def scene_chips(labels_path: str) -> tuple[list[tuple[int, int, int, int]], np.ndarray, np.ndarray]:
    """Windows, truth (1, 0, -1 ambiguous) and photo index of every chip inside one photo."""
    import rasterio

    with rasterio.open(labels_path) as ds:
        lab = ds.read(1)
    wins, y, photo = [], [], []
    for pr in range(lab.shape[0] // PHOTO):
        for pc in range(lab.shape[1] // PHOTO):
            for dy in OFFSETS:
                for dx in OFFSETS:
                    c0, r0 = pc * PHOTO + dx, pr * PHOTO + dy
                    n = int((lab[r0 : r0 + CHIP, c0 : c0 + CHIP] == 1).sum())
                    wins.append((c0, r0, CHIP, CHIP))
                    y.append(1 if n >= 150 else 0 if n == 0 else -1)
                    photo.append(pr * (lab.shape[1] // PHOTO) + pc)
    return wins, np.asarray(y), np.asarray(photo)


def main() -> int:
    """Print the learning curve table and the head-fit time."""
    from scipy.special import expit
    from sklearn.metrics import roc_auc_score

    from core.cracks.adapt import area_groups, base_head, chip_features, fit_adapted_head, suggest_chips
    from core.cracks.config import SHIPPED_CARD

    scene = ROOT / "sample_data" / "uav75_scene"
    wins, y, photo = scene_chips(str(scene / "crack_labels.tif"))
    x, _dom, p_base, _ = chip_features(str(SHIPPED_CARD), str(scene / "scene_rgb.tif"), wins, alpha_band=0)
    keep = y >= 0
    print(f"{int(keep.sum())} chips ({int((y == 1).sum())} crack, {int((y == 0).sum())} crack-free, "
          f"{int((~keep).sum())} ambiguous left out) in {photo.max() + 1} photos")  # fmt: skip
    folds = np.array_split(np.random.default_rng(0).permutation(photo.max() + 1), 5)
    groups_all = np.asarray(photo)  # one photo = one area group (neighbouring chips of a photo stay together)
    prior = base_head(str(SHIPPED_CARD))
    rows = []
    fit_times = []
    for strategy in ("random", "suggested", "random, fresh head"):
        use = None if "fresh" in strategy else prior
        for n in (10, 20, 50):
            base, adapted = [], []
            for f, test_photos in enumerate(folds):
                test = np.isin(photo, test_photos) & keep
                pool = np.flatnonzero(~np.isin(photo, test_photos) & keep)
                for seed in range(3):
                    rng = np.random.default_rng(100 * f + seed)
                    first = n // 2 if strategy == "suggested" else n
                    chosen = list(rng.choice(pool, min(first, pool.size), replace=False))
                    if strategy == "suggested" and len(chosen) < n:
                        yl = y[chosen]
                        if np.unique(yl).size == 2:
                            w, b, _, _ = fit_adapted_head(x[chosen], yl, groups_all[chosen], prior=use)
                            p_now = expit(x @ w + b)
                        else:
                            p_now = p_base
                        unl = np.zeros(y.size, bool)
                        unl[pool] = True
                        unl[chosen] = False
                        chosen += suggest_chips(x, p_now, unl, n - len(chosen), seed)
                    yl = y[chosen]
                    if np.unique(yl).size < 2:
                        continue
                    t = time.perf_counter()
                    w, b, _, _ = fit_adapted_head(x[chosen], yl, area_groups([wins[i] for i in chosen], 2), prior=use)
                    fit_times.append(time.perf_counter() - t)
                    adapted.append(roc_auc_score(y[test], expit(x[test] @ w + b)))
                    base.append(roc_auc_score(y[test], p_base[test]))
            rows.append((strategy, n, len(adapted), np.mean(base), np.mean(adapted), np.percentile(adapted, [5, 95])))
    print("labels drawn,n labels,runs,shipped model AUC on held-out photos,adapted AUC,adapted 5-95 % of runs")
    for s, n, k, b, a, (lo, hi) in rows:
        print(f"{s},{n},{k},{b:.3f},{a:.3f},{lo:.3f}-{hi:.3f}")
    print(f"head fit (C chosen by grouped CV): median {np.median(fit_times):.2f} s over {len(fit_times)} fits")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
