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


@pytest.mark.parametrize("arch", ["efficientnet_lite0", "resnet50_se"])
def test_batch_norms_fold_into_their_convolutions_with_the_same_output(arch):
    """Inference copies lose their batch norms (activations kept) and give the same logits; the
    Grad-CAM layer keeps its norm; the model itself is not changed."""
    from torch import nn

    from landslide_ai.core.cracks.models import fold_batch_norms, target_layer

    torch.manual_seed(0)
    m = build_model(arch, 2).eval()
    for mod in m.modules():  # statistics far from (0, 1), so a wrong fold cannot pass
        if isinstance(mod, nn.BatchNorm2d):
            mod.running_mean.uniform_(-0.5, 0.5)
            mod.running_var.uniform_(0.5, 2.0)
    n_bn = sum(isinstance(k, nn.BatchNorm2d) for k in m.modules())
    folded, n = fold_batch_norms(m, torch.randn(2, 3, 64, 64), target_layer(m))
    left = sum(isinstance(k, nn.BatchNorm2d) for k in folded.modules())
    assert n > 10 and left == n_bn - n and sum(isinstance(k, nn.BatchNorm2d) for k in m.modules()) == n_bn
    if arch == "efficientnet_lite0":
        assert left == 1  # the norm after conv_head, the Grad-CAM layer
        assert sum(isinstance(k, nn.ReLU6) for k in folded.modules()) == sum(
            isinstance(k, nn.ReLU6) for k in m.modules()
        )
    x = torch.randn(3, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(folded(x), m(x), rtol=1e-4, atol=1e-4)


def test_a_norm_declared_after_but_applied_before_its_convolution_is_not_folded():
    """Children in definition order that are not in forward order: the output check returns the original."""
    from torch import nn

    from landslide_ai.core.cracks.models import fold_batch_norms

    class NormFirst(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 3, 3)
            self.bn = nn.BatchNorm2d(3)

        def forward(self, x):
            return self.conv(self.bn(x)).mean(dim=(2, 3))

    m = NormFirst().eval()
    m.bn.running_mean.fill_(0.7)
    m.bn.running_var.fill_(3.0)
    out, n = fold_batch_norms(m, torch.randn(2, 3, 16, 16))
    assert out is m and n == 0
