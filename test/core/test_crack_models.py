"""Crack classifiers: shapes, SE placement in layer4 only, freezing for fine-tuning, chip grid exactness."""

import numpy as np
import pytest
import rasterio
import torch

from conftest import ORTHO_TRANSFORM, write_raster
from landslide_ai.core.cracks.chips import ChipSpec, chip_footprint, iter_chips
from landslide_ai.core.cracks.models import SqueezeExcitation, build_model, freeze_for_finetuning
from landslide_ai.core.errors import InvalidInputError
from landslide_ai.core.raster.grid import Grid


@pytest.mark.parametrize("arch", ["cnn", "resnet50", "resnet50_se"])
def test_classifiers_output_two_logits(arch):
    net = build_model(arch).eval()
    with torch.no_grad():
        assert net(torch.zeros(2, 3, 227, 227)).shape == (2, 2)


def test_se_blocks_only_after_layer4_bottlenecks_and_freezing():
    net = build_model("resnet50_se", se_reduction=8)
    se = [n for n, m in net.named_modules() if isinstance(m, SqueezeExcitation)]
    assert se == ["layer4.0.1", "layer4.1.1", "layer4.2.1"]
    assert net.layer4[0][1].fc[0].out_features == 2048 // 8
    trainable = freeze_for_finetuning(net)
    assert trainable and all(n.startswith(("layer4", "fc")) for n in trainable)
    assert not any(p.requires_grad for p in net.layer3.parameters())


def test_chip_footprints_equal_their_pixel_windows(tmp_path):
    p = tmp_path / "ortho.tif"
    rng = np.random.default_rng(0)
    data = rng.integers(0, 255, (4, 100, 130), dtype=np.uint8)
    data[3] = 255
    data[3, :, :40] = 0  # alpha: left strip is nodata
    write_raster(p, data, ORTHO_TRANSFORM, "EPSG:32633")
    spec = ChipSpec(chip_px=32, stride_px=16, alpha_band=4, min_valid=0.5)
    chips = list(iter_chips(str(p), spec))
    g = Grid.from_path(str(p))
    assert chips and all(c.valid_fraction >= 0.5 for c, _ in chips)
    for c, rgb in chips:
        left, bottom, right, top = chip_footprint(g, c.window)
        assert left == pytest.approx(638838.7 + 0.02 * c.window.col_off)
        assert top == pytest.approx(5802604.9 - 0.02 * c.window.row_off)
        assert right - left == pytest.approx(0.64) and top - bottom == pytest.approx(0.64)
        r0, c0 = int(c.window.row_off), int(c.window.col_off)
        inside = rgb[:, : 100 - r0, : 130 - c0]
        np.testing.assert_array_equal(inside, data[:3, r0 : r0 + 32, c0 : c0 + 32])
    assert min(c.window.col_off for c, _ in chips) >= 16  # chips in the alpha-masked strip were skipped


def test_single_band_and_16_bit_images_are_refused(tmp_path):
    for count, dtype, msg in ((1, "uint8", "band"), (3, "uint16", "8-bit")):
        p = tmp_path / f"{count}{dtype}.tif"
        with rasterio.open(
            p,
            "w",
            driver="GTiff",
            width=8,
            height=8,
            count=count,
            dtype=dtype,
            crs="EPSG:32633",
            transform=rasterio.Affine(0.02, 0, 0, 0, -0.02, 0),
        ) as ds:
            ds.write(np.ones((count, 8, 8), dtype=dtype))
        with pytest.raises(InvalidInputError, match=msg):
            list(iter_chips(str(p), ChipSpec(chip_px=8, stride_px=8)))
