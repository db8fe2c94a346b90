"""Derive crack / no-crack 227 px chips from UAV75 drone photos and their pixel labels (one-off, reproducible).

Each 512 x 512 photo gives four non-overlapping chips (offsets 0 and 285). A chip is ``crack`` when
its label has at least ``MIN_CRACK_PX`` crack pixels (white, 255,255,255), ``no_crack`` when it has
none; chips in between are ambiguous and skipped. Usage:

    python scripts/derive_uav75_chips.py ../shared/data/uav75_drone_crack_segmentation sample_data/uav75_chips
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image

CHIP, OFFSETS, MIN_CRACK_PX = 227, (0, 285), 150


def main(src: str, dst: str) -> None:
    """Write chips into ``dst/crack`` and ``dst/no_crack``; print the counts."""
    counts = {"crack": 0, "no_crack": 0, "skipped": 0}
    for split in ("train", "val", "test"):
        for img_path in sorted((Path(src) / f"{split}_img").glob("*")):
            lab_path = next((Path(src) / f"{split}_lab").glob(img_path.stem + ".*"))
            img = np.asarray(Image.open(img_path).convert("RGB"))
            lab = np.asarray(Image.open(lab_path).convert("RGB"))
            crack = np.all(lab == 255, axis=2)
            for r in OFFSETS:
                for c in OFFSETS:
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


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
