"""Benchmark (not a test): XGBoost-LR prediction against the Random Forest, at the training defaults.

Issue 21 measured the XGBoost-LR map as the slowest step (330-530 s for 1.5 M cells, RF 50 s) and
asked for it within 2x of the forest. Trains both on the same synthetic factors (200 boosted trees
+ leaf regression, 500 forest trees, as ``TrainConfig``'s defaults) and times ``predict_proba`` on
in-memory cells: XGBoost-LR's leaf-weight table (what maps use), its one-hot reference path, and
the forest (one thread, as the saved forest predicts). Prints cells/s and the ratios.

    .venv/bin/python bench/bench_xgb_lr_predict.py            # 1,000,000 cells
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> int:
    """Train both models, time the three prediction paths, print the ratios."""
    from core.susceptibility.fitting import TrainConfig, fit_tree

    ap = argparse.ArgumentParser()
    ap.add_argument("--cells", type=int, default=1_000_000)
    ap.add_argument("--factors", type=int, default=6)
    a = ap.parse_args()
    rng = np.random.default_rng(0)
    x = rng.normal(size=(600, a.factors))
    y = (x[:, 0] + 0.5 * x[:, 1] ** 2 - 0.3 * x[:, 2] + rng.normal(0, 0.8, 600) > 0.4).astype(int)
    cfg = TrainConfig()
    xgb = fit_tree("xgb_lr", x, y, cfg)
    rf = fit_tree("rf", x, y, cfg)
    cells = rng.normal(size=(a.cells, a.factors))

    def rate(f) -> float:
        t = time.perf_counter()
        f(cells)
        return a.cells / (time.perf_counter() - t)

    fast, ref, forest = rate(xgb.predict_proba), rate(xgb.predict_proba_reference), rate(rf.predict_proba)
    print(f"{a.cells:,} cells, {a.factors} factors; XGBoost-LR {cfg.xgb_trees} trees, Random Forest {cfg.rf_trees}")
    print(f"XGBoost-LR leaf-weight table: {fast:,.0f} cells/s")
    print(f"XGBoost-LR one-hot + regression (before): {ref:,.0f} cells/s")
    print(f"Random Forest: {forest:,.0f} cells/s")
    print(f"ratio XGBoost-LR / forest time: {forest / fast:.2f} (aim <= 2); before: {forest / ref:.2f}")
    print(f"speed-up of the table over the one-hot path: {fast / ref:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
