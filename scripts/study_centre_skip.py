"""Does giving the CNN the target cell's own factor values make maps that keep the terrain?

For the paper's CNN-LSTM-AM without and with ``DeepHP.centre_skip``: the spatial 5-fold CV
prediction rate (block-bootstrap interval), then the model refit on all samples mapped over the
stack and its texture (correlation of the map's cell-scale detail with slope's,
``core/susceptibility/texture.py``). Same samples, folds, seed and epochs for both.

Usage (after the demo, whose stack and samples it reads by default)::

    bash -c 'source scripts/qgis_env.sh; $VENV/bin/python scripts/study_centre_skip.py'

Why a script and not a test: it trains 2 x (5 folds + a refit) and maps twice; the figures go
into the README and the issue note with this command.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    """Run both variants and print one line each."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--stack", default=str(ROOT / "out/demo/stack.tif"))
    ap.add_argument("--samples", default=str(ROOT / "out/demo/samples.gpkg"))
    ap.add_argument("--epochs", type=int, default=25)
    ap.add_argument("--out", default=str(ROOT / "out/study_centre_skip"))
    a = ap.parse_args()

    from core.susceptibility.comparison import run_training
    from core.susceptibility.cross_validation import CVConfig
    from core.susceptibility.fitting import TrainConfig
    from core.susceptibility.models import DeepHP
    from core.susceptibility.predict import predict_stack
    from core.susceptibility.rates import paired_difference_ci
    from core.susceptibility.texture import texture_correlation

    print("variant,cv_prediction_rate_auc,ci,texture_r_vs_slope,refit_epochs,seconds")
    rates = []
    for name, centre in (("plain (paper)", False), ("centre skip", True)):
        t0 = time.perf_counter()
        out = Path(a.out) / ("centre" if centre else "plain")
        cfg = TrainConfig(models=("cnn_lstm_am",), epochs=a.epochs, shap_samples=0, hp=DeepHP(centre_skip=centre))
        res = run_training(a.stack, a.samples, str(out), cfg, cv=CVConfig(folds=5))
        m = res.cv.models[0]
        rates.append(m.rate)
        card = out / "cnn_lstm_am.json"
        predict_stack(str(card), a.stack, str(out / "map.tif"))
        tex = texture_correlation(str(out / "map.tif"), a.stack, "slope")
        print(
            f"{name},{m.rate_auc:.4f},{m.rate_ci[0]:.3f}-{m.rate_ci[1]:.3f},{tex:.4f},{m.refit_epochs},"
            f"{time.perf_counter() - t0:.0f}",
            flush=True,
        )
    # same samples, blocks and seed: the block-bootstrap draws are paired
    lo, hi = paired_difference_ci(rates[1], rates[0])
    print(f"centre skip - plain: {rates[1].auc - rates[0].auc:+.4f} (paired 95 % CI {lo:+.3f} to {hi:+.3f})")


if __name__ == "__main__":
    main()
