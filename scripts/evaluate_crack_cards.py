"""Score crack model cards on the held-out sets of the README table (reproducible, CPU, a few minutes).

Sets: the chips of UAV75's 15 test photos (``sample_data/uav75_test_chips``); 200 + 200 Özgenel
concrete images not in ``sample_data/concrete_cracks`` (from ``--shared``); 227 px chips of the
crack-free maize orthomosaic (``sample_data/drone_orthomosaic``). Each card is scored with the
unfamiliar mask on (the tools' default) and off, so the mask cannot hide a failure. Usage::

    python scripts/evaluate_crack_cards.py resources/pretrained/crack_lite0_uav75.json [more cards]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))


def main() -> int:
    """Print one row per card, set and mask setting: ROC AUC (95 % CI), recall, false-positive rate."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("cards", nargs="+")
    ap.add_argument("--shared", default=str(ROOT.parent / "shared/data/concrete_crack_ozgenel_subset"))
    ap.add_argument("--held-out", type=int, default=200)
    a = ap.parse_args()
    from study_crack_transfer import aerial_chips, held_out_concrete

    from core.cracks.evaluate import evaluate_images

    work = Path(tempfile.mkdtemp(prefix="crack_eval_"))
    sets = {
        "uav75 test chips": {"folder": str(ROOT / "sample_data" / "uav75_test_chips")},
        "concrete held-out": {
            "folder": str(
                held_out_concrete(Path(a.shared), ROOT / "sample_data" / "concrete_cracks", work / "c", a.held_out)
            )
        },
        "aerial crack-free": {"negatives": str(aerial_chips(work / "aerial"))},
    }
    print("card,set,mask,images,roc_auc,roc_auc_ci,recall,false_positive_rate,fpr_ci")
    for card in a.cards:
        for name, kw in sets.items():
            for mask in (True, False):
                ev = evaluate_images(card, str(work / "r.html"), n_gallery=0, mask_unfamiliar=mask, **kw)
                m, ci = ev.metrics, ev.intervals
                auc = m.get("roc_auc", float("nan"))
                auc_ci = ci.get("roc_auc", (float("nan"),) * 2)
                fpr_ci = ci.get("false_positive_rate", (float("nan"),) * 2)
                print(
                    f"{Path(card).stem},{name},{'on' if mask else 'off'},{len(ev.paths)},{auc:.3f},"
                    f"{auc_ci[0]:.3f}-{auc_ci[1]:.3f},{m.get('recall', float('nan')):.3f},"
                    f"{m.get('false_positive_rate', float('nan')):.3f},{fpr_ci[0]:.3f}-{fpr_ci[1]:.3f}",
                    flush=True,
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
