"""The field loop where it is meant to work: a model from one kind of imagery adapted to another.

Why: on the UAV75 scene (``measure_field_loop.py``) the shipped head already knows the imagery, so
labels cannot show what they add. Here the base model is the EfficientNet-Lite0 head fitted on the
bundled UAV75 drone chips **only**, and the "new site" is a mosaic of concrete photos it never saw
(Özgenel's held-out images, 227 px each, so one chip = one photo with its own label). The run goes
through the product's own path: ``crack_tile`` chips, a label field written as a user would, then
``adapt_crack_model`` (the same call as ``crack_adapt``); the figures are on the chips of the other
half of the mosaic, never labelled.

Layout: images are placed in the order of their file number (the Özgenel patches were cut from
parent photos numbered in sequence), so the labelled top half and the scored bottom half come from
different parent photos. Labels: ``n`` chips of the top half drawn at random (both classes present),
or half at random (at least 6) and the rest from the tool's suggestions after a first adaptation (what a user does).
Three seeds each. Usage::

    python scripts/measure_field_loop_new_site.py     # about 3 minutes on 2 CPU cores
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SIDE = 16  # chips per mosaic side
PX = 227


def _mosaic(shared: Path, out: Path) -> np.ndarray:
    """A georeferenced mosaic of held-out concrete photos; the truth (1 crack, 0 not) in chip order."""
    import rasterio
    from PIL import Image
    from rasterio.transform import from_origin

    bundled = {p.name for p in (ROOT / "sample_data" / "concrete_cracks").rglob("*.jpg")}
    picked = []
    for cls, label in (("Positive", 1), ("Negative", 0)):
        files = sorted(p for p in (shared / cls).glob("*.jpg") if p.name not in bundled)
        step = max(1, len(files) // (SIDE * SIDE // 2))
        picked += [(int(p.stem.split("_")[0]), label, p) for p in files[::step][: SIDE * SIDE // 2]]
    picked.sort()  # by file number: neighbouring chips come from the same parent photos
    truth = np.array([lab for _, lab, _ in picked])
    profile = {
        "driver": "GTiff", "width": SIDE * PX, "height": SIDE * PX, "count": 3, "dtype": "uint8",
        "crs": "EPSG:32633", "transform": from_origin(500000, 5000000, 0.001, 0.001), "tiled": True,
    }  # fmt: skip
    with rasterio.open(out, "w", **profile) as ds:
        for k, (_, _, path) in enumerate(picked):
            r, c = divmod(k, SIDE)
            img = np.asarray(Image.open(path).convert("RGB").resize((PX, PX))).transpose(2, 0, 1)
            ds.write(img, window=rasterio.windows.Window(c * PX, r * PX, PX, PX))
    return truth


def _write_labels(layer: str, labels: dict[int, int]) -> None:
    """Set the integer ``label`` field of the chips in ``labels`` (feature order), clear the rest."""
    from osgeo import ogr

    ds = ogr.Open(layer, 1)
    lyr = ds.GetLayer(0)
    if lyr.FindFieldIndex("label", True) < 0:
        lyr.CreateField(ogr.FieldDefn("label", ogr.OFTInteger))
    for i, f in enumerate(lyr):
        if i in labels:
            f.SetField("label", int(labels[i]))
        else:
            f.SetFieldNull("label")
        lyr.SetFeature(f)
    ds = None


def main() -> int:
    """Print the learning curve on the new site and the figures at the 0.5 threshold."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shared", default=str(ROOT.parent / "shared/data/concrete_crack_ozgenel_subset"))
    a = ap.parse_args()
    from sklearn.metrics import roc_auc_score

    from core.cracks.adapt import adapt_crack_model, chip_features
    from core.cracks.chips import ChipSpec, tile_orthomosaic
    from core.cracks.config import CrackTrainConfig
    from core.cracks.train import train_crack_model

    work = Path(tempfile.mkdtemp(prefix="lsai_newsite_"))
    ortho = str(work / "concrete_site.tif")
    truth = _mosaic(Path(a.shared), Path(ortho))
    chips = tile_orthomosaic(ortho, ChipSpec(PX, PX, alpha_band=0), str(work / "chips.gpkg"))
    assert len(chips) == truth.size and all(c.row * SIDE + c.col == i for i, c in enumerate(chips))
    card, _ = train_crack_model(
        str(ROOT / "sample_data" / "uav75_chips"), str(work / "base"), CrackTrainConfig(), name="lite0_uav75_only"
    )
    half = truth.size // 2
    top, test = np.arange(half), np.arange(half, truth.size)  # chip order is row-major: top rows, bottom rows
    wins = [(int(c.window.col_off), int(c.window.row_off), PX, PX) for c in chips]
    _, _, p_base, _ = chip_features(card, ortho, wins, alpha_band=0, cache_dir=str(work / "cache"))

    def figures(p: np.ndarray) -> tuple[float, float, float]:
        y, q = truth[test], p[test]
        return roc_auc_score(y, q), float((q[y == 1] >= 0.5).mean()), float((q[y == 0] >= 0.5).mean())

    print(f"new site: {truth.size} chips ({int(truth.sum())} crack), labels from the top half, scored on the bottom")
    print("labels,drawn,runs,ROC AUC (mean; min-max),recall at 0.5,false-positive rate at 0.5")
    auc, rec, fpr = figures(p_base)
    print(f"0,(the UAV75-only model),1,{auc:.3f},{rec:.2f},{fpr:.2f}")
    layer = str(work / "chips.gpkg")
    for strategy in ("random", "half suggested"):
        for n in (10, 20, 50):
            rows = []
            for seed in range(3):
                rng = np.random.default_rng(seed)
                while True:
                    # adapt needs 3 labels of each class: the first round of "half suggested" has at least 6
                    first = rng.choice(top, max(6, n // 2) if strategy == "half suggested" else n, replace=False)
                    if np.unique(truth[first]).size == 2 and min(np.bincount(truth[first])) >= 3:
                        break
                chosen = [int(i) for i in first]
                if strategy == "half suggested":
                    _write_labels(layer, {i: truth[i] for i in chosen})
                    res = adapt_crack_model(
                        card, ortho, layer, "label", str(work / "a"), str(work / "s.gpkg"), n_suggest=truth.size,
                        alpha_band=0, cache_dir=str(work / "cache"), seed=seed,
                    )  # fmt: skip
                    chosen += [i for i in res.suggestions if i < half and i not in chosen][: n - len(chosen)]
                _write_labels(layer, {i: truth[i] for i in chosen})
                res = adapt_crack_model(
                    card, ortho, layer, "label", str(work / "a"), str(work / "o.gpkg"),
                    alpha_band=0, cache_dir=str(work / "cache"), seed=seed,
                )  # fmt: skip
                rows.append(figures(res.probabilities))
            r = np.array(rows)
            print(
                f"{n},{strategy},{len(r)},{r[:, 0].mean():.3f}; {r[:, 0].min():.3f}-{r[:, 0].max():.3f},"
                f"{r[:, 1].mean():.2f},{r[:, 2].mean():.2f}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
