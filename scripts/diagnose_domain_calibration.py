"""Diagnostic: how many unseen in-domain images does each domain threshold flag as unfamiliar?

Why: ``cracks.domain.fit_domain`` takes the threshold from the training images and, when given,
the validation images. This trains the paper's CNN on the bundled concrete images (112 px, 10
epochs; all or 30 % of the crack images, three losses), then counts, among 400 other Özgenel concrete images (the
same kind of imagery), those beyond the threshold fitted on the training images alone and on
training + validation images. It prints to the terminal; the figures are quoted in the README.

    bash -c 'source scripts/qgis_env.sh; $VENV/bin/python scripts/diagnose_domain_calibration.py'
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

SETTINGS = (("ce", 1.0), ("focal", 0.3), ("weighted_ce", 0.3))


def main() -> int:
    """Train each setting, fit both thresholds on the same network, count the flagged held-out images."""
    import torch
    from study_crack_transfer import held_out_concrete

    from core.cracks.domain import distances, fit_domain, image_features
    from core.cracks.evaluate import labelled_images
    from core.cracks.images import ImageDataset, load_image_set
    from core.cracks.predict import load_crack_model
    from core.cracks.preprocess import training_transforms
    from core.cracks.train import CrackTrainConfig, _split_features, train_crack_model

    work = Path(tempfile.mkdtemp(prefix="lsai_calib_"))
    source = ROOT / "sample_data" / "concrete_cracks"
    shared = ROOT.parent / "shared" / "data" / "concrete_crack_ozgenel_subset"
    paths, y = labelled_images(str(held_out_concrete(shared, source, work / "concrete", 200)))
    for loss, share in SETTINGS:
        cfg = CrackTrainConfig(arch="cnn", input_px=112, epochs=10, lr=1e-3, loss=loss, positive_fraction=share)
        card, _ = train_crack_model(str(source), str(work / "m"), cfg, name=f"{loss}_{share}")
        net = load_crack_model(card, torch.device("cpu")).model
        data = load_image_set(str(source), cfg)  # the training run's split (seeded)
        (train, _), (val, _) = _split_features(net, data, cfg, "train"), _split_features(net, data, cfg, "val")
        loader = torch.utils.data.DataLoader(ImageDataset(paths, y, training_transforms(112, False)), batch_size=32)
        feats, _ = image_features(net, loader)
        for name, dom in (("training images", fit_domain(train)), ("training + validation", fit_domain(train, val))):
            flagged = int((distances(feats, dom) > dom["threshold"]).sum())
            print(f"{loss}, {share:.0%} of crack images kept, threshold from {name}: {flagged} of {len(paths)} flagged")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
