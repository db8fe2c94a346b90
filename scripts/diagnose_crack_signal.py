"""Diagnostic: do the UAV75 chips carry crack signal that a simple thin-dark-line detector finds?

Why: every CNN variant scores at chance on the held-out drone chips (README, issue 10). That could
mean the chips hold no usable signal at this size, or that the networks fail to learn it. This
script trains a deliberately simple model, ridge-filter statistics (skimage's Sato filter for dark
ridges at 1-3 px scales) with a logistic regression, on the train/val chips
(``sample_data/uav75_chips``), then scores the held-out test chips (``sample_data/uav75_test_chips``,
other photos). Intervals: bootstrap over whole source photos (chips of one photo are not
independent). It is a diagnostic printed to the terminal, not a shipped model.

    .venv/bin/python scripts/diagnose_crack_signal.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SCALES = ((1,), (2,), (1, 2, 3))


def features(path: Path) -> list[float]:
    """Mean, spread and upper quantiles of the dark-ridge response at three scales, plus grey-level spread."""
    from PIL import Image
    from skimage.color import rgb2gray
    from skimage.filters import sato

    g = rgb2gray(np.asarray(Image.open(path).convert("RGB"), dtype=np.float32) / 255)
    out: list[float] = []
    for s in SCALES:
        r = sato(g, sigmas=s, black_ridges=True)
        out += [r.mean(), r.std(), np.quantile(r, 0.99), np.quantile(r, 0.999), r.max()]
    return out + [g.std(), np.quantile(g, 0.01)]


def load(root: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Features, labels (1 = crack) and source-photo ids (the file name before ``_r``)."""
    x, y, photo = [], [], []
    for label, sub in ((1, "crack"), (0, "no_crack")):
        for p in sorted((root / sub).glob("*.jpg")):
            x.append(features(p))
            y.append(label)
            photo.append(p.name.split("_r")[0])
    return np.array(x), np.array(y), np.array(photo)


def main() -> int:
    """Fit on the train/val chips, score the held-out chips, print AUC with a photo-block interval."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from core.cracks.evaluate import bootstrap_intervals, classification_metrics

    xtr, ytr, _ = load(ROOT / "sample_data" / "uav75_chips")
    xte, yte, photos = load(ROOT / "sample_data" / "uav75_test_chips")
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000)).fit(xtr, ytr)
    p = model.predict_proba(xte)[:, 1]
    m = classification_metrics(yte, p, 0.5)
    ci = bootstrap_intervals(yte, p, 0.5, 2000, 0, groups=photos)
    print(f"train/val chips {len(ytr)}, held-out chips {len(yte)} from {len(set(photos))} photos")
    for k in ("roc_auc", "pr_auc", "recall", "false_positive_rate"):
        print(f"{k}: {m[k]:.3f} (95 % CI {ci[k][0]:.3f}-{ci[k][1]:.3f}, photos resampled)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
