"""Train the shipped concrete crack model ``resources/pretrained/crack_cnn_concrete`` (CPU, minutes).

The paper's small CNN at its native 227 px, trained on the bundled 150 + 150 Özgenel concrete
images (``sample_data/concrete_cracks``), then scored with ``crack_evaluate`` (unfamiliar images
masked, the default) on what it never saw; those figures go into its card (``metrics.held_out``)
and ``crack_predict`` prints them:

- 400 other Özgenel images (200 + 200; ``../shared/data/concrete_crack_ozgenel_subset`` minus the
  bundled ones): the imagery it is for;
- the 227 px chips of the crack-free maize orthomosaic: imagery it is not for, which it must not
  call "crack";
- UAV75's 49 held-out drone chips: landslide-style drone imagery, where it is not expected to work.

Why ship it beside ``crack_cnn_uav75``: that model is at chance on drone imagery (its card says
so); this one shows the pipeline working where its training data reach, and is a starting card
for fine-tuning (``crack_train`` 'Start from model') on labelled chips of a user's own imagery.
Usage::

    bash -c 'source scripts/qgis_env.sh; $VENV/bin/python scripts/train_concrete_crack_model.py'
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NAME = "crack_cnn_concrete"


def main() -> int:
    """Train, evaluate on held-out sets, write the card with its held-out figures."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(ROOT / "resources" / "pretrained"))
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--input-px", type=int, default=227)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--shared", default=str(ROOT.parent / "shared/data/concrete_crack_ozgenel_subset"))
    a = ap.parse_args()
    link = Path(tempfile.mkdtemp(prefix="lsai_")) / "landslide_ai"
    link.symlink_to(ROOT, target_is_directory=True)
    sys.path.insert(0, str(link.parent))
    sys.path.insert(0, str(ROOT / "scripts"))
    from study_crack_transfer import aerial_chips, held_out_concrete
    from train_shipped_crack_model import figures, install

    from landslide_ai.core.cracks.evaluate import evaluate_images
    from landslide_ai.core.cracks.train import CrackTrainConfig, train_crack_model
    from landslide_ai.core.model_card import CrackCard

    work = Path(tempfile.mkdtemp(prefix="lsai_concrete_"))
    source = ROOT / "sample_data" / "concrete_cracks"
    cfg = CrackTrainConfig(arch="cnn", input_px=a.input_px, epochs=a.epochs, lr=1e-3, seed=a.seed)
    t0 = time.time()
    card, m = train_crack_model(str(source), str(work / "model"), cfg, name=NAME)
    train_s = time.time() - t0
    sets = {
        "concrete_held_out": (
            "200 + 200 Özgenel images not in sample_data/concrete_cracks (same source); bootstrap over images",
            {"folder": str(held_out_concrete(Path(a.shared), source, work / "concrete", 200))},
        ),
        "aerial_crack_free": (
            "the 227 px chips of the crack-free maize orthomosaic (sample_data/drone_orthomosaic)",
            {"negatives": str(aerial_chips(work / "aerial"))},
        ),
        "uav75_test_chips": (
            "chips of UAV75's 15 held-out drone photos (imagery this model is not for)",
            {"folder": str(ROOT / "sample_data" / "uav75_test_chips")},
        ),
    }
    c = CrackCard.load(card)
    c.metrics["held_out"] = {}
    for key, (what, where) in sets.items():
        ev = evaluate_images(card, str(work / f"{key}.html"), **where, n_gallery=0)
        c.metrics["held_out"][key] = {
            "what": what + "; unfamiliar images scored 'no crack' (masked, the default)",
            "images": len(ev.paths),
            "unfamiliar": int(ev.unfamiliar.sum()),
            **figures(ev.metrics, ev.intervals),
        }
    c.training["wall_seconds_cpu"] = round(train_s, 1)
    c.training["recipe"] = "python scripts/train_concrete_crack_model.py " + " ".join(sys.argv[1:])
    c.save(card)
    install(card, Path(a.out), NAME)
    print(json.dumps({"train_s": round(train_s, 1), "split_test": m, "held_out": c.metrics["held_out"]}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
