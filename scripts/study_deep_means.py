"""Do the legitimate means (augmentation, seed ensembles, class weights) help the deep model?

Runs the spatial cross-validation of one deep model (CNN-LSTM-AM by default) on a stack and a
sample layer once per variant, with the same folds, seed and epochs, and prints the pooled
out-of-fold AUC and the prediction-rate AUC (landslides of held-out blocks against the cells of
those blocks: independent of how absences were drawn) with their 95 % block-bootstrap intervals.

Usage (after the demo, whose stack and samples it reads by default)::

    bash -c 'source scripts/qgis_env.sh; $VENV/bin/python scripts/study_deep_means.py'

Why a script and not a test: it trains 5 folds x several variants; the figures go into the README
and the issue note with this command.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

VARIANTS = {
    "plain (paper)": {},
    "augment": {"augment": True},
    "ensemble x3": {"ensemble": 3},
    "augment + ensemble x3": {"augment": True, "ensemble": 3},
    "class weight": {"class_weight": True},
}


def main() -> None:
    """Parse arguments, run every variant, print and write the table."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--stack", default=str(ROOT / "out/demo/stack.tif"))
    ap.add_argument("--samples", default=str(ROOT / "out/demo/samples.gpkg"))
    ap.add_argument("--model", default="cnn_lstm_am")
    ap.add_argument("--epochs", type=int, default=25)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated names of VARIANTS")
    ap.add_argument("--out", default=str(ROOT / "out/study_deep_means.csv"))
    a = ap.parse_args()

    from core.susceptibility.cross_validation import CVConfig, cross_validate
    from core.susceptibility.fitting import TrainConfig
    from core.susceptibility.train import prepare

    base = TrainConfig(models=(a.model,), epochs=a.epochs)
    prep = prepare(a.stack, a.samples, base)
    rows = []
    for name in a.variants.split(","):
        cfg = replace(base, **VARIANTS[name])
        t0 = time.perf_counter()
        res = cross_validate(prep, cfg, CVConfig(folds=a.folds))
        m = res.models[0]
        row = {
            "variant": name,
            "cv_auc": m.pooled["roc_auc"],
            "cv_auc_ci": f"{m.auc_ci[0]:.3f}-{m.auc_ci[1]:.3f}",
            "prediction_rate_auc": m.rate_auc,
            "prediction_rate_ci": f"{m.rate_ci[0]:.3f}-{m.rate_ci[1]:.3f}",
            "seconds": round(time.perf_counter() - t0),
        }
        rows.append(row)
        print(
            f"{name:24s} CV AUC {row['cv_auc']:.3f} ({row['cv_auc_ci']})  prediction rate "
            f"{row['prediction_rate_auc']:.3f} ({row['prediction_rate_ci']})  {row['seconds']} s",
            flush=True,
        )
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    with open(a.out, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    print(f"written {a.out}")


if __name__ == "__main__":
    main()
