"""How often the image-statistics domain check (``core.cracks.domain``) flags images, by training set.

Why: the check (per-channel mean and standard deviation of the input, a standardised distance and
a threshold fitted as the feature check's) must flag imagery a model never saw (crack-free
farmland) and not the held-out images of its own kind. This prints, for two training sets, how
many images of each held-out set are flagged:

- the bundled concrete photos alone (what a network trained from scratch on concrete records);
- the bundled UAV75 drone chips and concrete photos together (the shipped ``crack_lite0``'s set).

The statistics come from :func:`core.cracks.domain.image_statistics` on images resized to 224 px
and scaled to [0, 1] (the distance does not change under the model's per-channel normalisation);
the threshold from :func:`core.cracks.domain.fit_image_domain` on the training images only. Usage::

    python scripts/study_image_domain.py   # about 5 s; needs ../shared/data/concrete_crack_ozgenel_subset
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))


def _statistics(paths: list[Path]) -> np.ndarray:
    """Image statistics (N, 6) of image files resized to 224 px, in batches (bounded memory)."""
    from PIL import Image

    from core.cracks.domain import image_statistics

    out = []
    for i in range(0, len(paths), 64):
        batch = [np.asarray(Image.open(p).convert("RGB").resize((224, 224)), np.float32) for p in paths[i : i + 64]]
        out.append(image_statistics(np.stack(batch).transpose(0, 3, 1, 2) / 255))
    return np.concatenate(out)


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in (".png", ".jpg", ".jpeg"))


def main() -> int:
    """Fit the image domain on each training set and print the flagged count of every set."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shared", default=str(ROOT.parent / "shared/data/concrete_crack_ozgenel_subset"))
    a = ap.parse_args()
    from study_crack_transfer import aerial_chips, held_out_concrete

    from core.cracks.domain import distances, fit_image_domain

    work = Path(tempfile.mkdtemp(prefix="lsai_imgdom_"))
    concrete = held_out_concrete(Path(a.shared), ROOT / "sample_data" / "concrete_cracks", work / "c", 200)
    sets = {
        "train: UAV75 chips": _images(ROOT / "sample_data" / "uav75_chips"),
        "train: concrete": _images(ROOT / "sample_data" / "concrete_cracks"),
        "UAV75 test crack": _images(ROOT / "sample_data" / "uav75_test_chips" / "crack"),
        "UAV75 test no crack": _images(ROOT / "sample_data" / "uav75_test_chips" / "no_crack"),
        "held-out concrete crack": _images(concrete / "Positive"),
        "held-out concrete no crack": _images(concrete / "Negative"),
        "maize farmland (crack-free)": _images(aerial_chips(work / "a")),
    }
    stats = {k: _statistics(v) for k, v in sets.items()}
    for name, keys in (
        ("concrete alone", ["train: concrete"]),
        ("UAV75 chips + concrete", ["train: UAV75 chips", "train: concrete"]),
    ):
        train = np.concatenate([stats[k] for k in keys])
        dom = fit_image_domain(train)
        print(f"image domain fitted on {name} ({len(train)} images), threshold {dom['threshold']:.2f}:")
        for k, v in stats.items():
            flagged = int((distances(v, dom) > dom["threshold"]).sum())
            print(f"  {k}: {flagged} of {len(v)} flagged")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
