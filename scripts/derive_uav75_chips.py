"""Derive crack / no-crack 227 px chips from UAV75 drone photos and their pixel labels (one-off, reproducible).

Each 512 x 512 photo gives four non-overlapping chips (offsets 0 and 285). A chip is ``crack`` when
its label has at least ``MIN_CRACK_PX`` crack pixels (white, 255,255,255), ``no_crack`` when it has
none; chips in between are ambiguous and skipped. ``--splits`` chooses UAV75's own photo splits:
the training chips come from ``train`` and ``val`` only, so the 15 ``test`` photos stay unseen and
make the demo scene (``derive_uav75_scene.py``) and the held-out chip set. Usage:

    python scripts/derive_uav75_chips.py SRC sample_data/uav75_chips --splits train val
    python scripts/derive_uav75_chips.py SRC sample_data/uav75_test_chips --splits test
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

CHIP, OFFSETS, MIN_CRACK_PX = 227, (0, 285), 150
PHOTO = 512


def crack_mask(label_path: Path) -> np.ndarray:
    """Crack pixels of a UAV75 label (white; grey planking and black background are not cracks)."""
    return np.all(np.asarray(Image.open(label_path).convert("RGB")) == 255, axis=2)


def label_of(photo: Path, src: Path, split: str) -> Path:
    """The label image of a photo (same stem, in ``<split>_lab``)."""
    return next((src / f"{split}_lab").glob(photo.stem + ".*"))


def offsets(stride: int | None) -> tuple[int, ...]:
    """Chip offsets in a photo: the two non-overlapping ones, or every ``stride`` px (overlapping chips)."""
    if not stride:
        return OFFSETS
    return tuple(sorted({*range(0, PHOTO - CHIP + 1, stride), PHOTO - CHIP}))


def main(src: str, dst: str, splits: list[str], stride: int | None = None) -> dict[str, int]:
    """Write chips into ``dst/crack`` and ``dst/no_crack``; print and return the counts."""
    counts = {"crack": 0, "no_crack": 0, "skipped": 0}
    for split in splits:
        for img_path in sorted((Path(src) / f"{split}_img").glob("*")):
            img = np.asarray(Image.open(img_path).convert("RGB"))
            crack = crack_mask(label_of(img_path, Path(src), split))
            for r in offsets(stride):
                for c in offsets(stride):
                    n = int(crack[r : r + CHIP, c : c + CHIP].sum())
                    cls = "crack" if n >= MIN_CRACK_PX else "no_crack" if n == 0 else None
                    if cls is None:
                        counts["skipped"] += 1
                        continue
                    out = Path(dst) / cls / f"{img_path.stem}_r{r}_c{c}.jpg"
                    out.parent.mkdir(parents=True, exist_ok=True)
                    Image.fromarray(img[r : r + CHIP, c : c + CHIP]).save(out, quality=92)
                    counts[cls] += 1
    print(counts)
    return counts


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("src")
    ap.add_argument("dst")
    ap.add_argument("--splits", nargs="+", default=["train", "val"], choices=["train", "val", "test"])
    ap.add_argument("--stride", type=int, default=None, help="overlapping chips every N px (default: 4 per photo)")
    a = ap.parse_args()
    main(a.src, a.dst, a.splits, a.stride)
