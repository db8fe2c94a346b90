"""Dense susceptibility inference equals the per-patch reference (issue 12)."""

import numpy as np
import pytest
import rasterio
import torch

from landslide_ai.core.raster.stack import FactorSpec, stack_factors
from landslide_ai.core.sampling.absences import SamplingConfig, Strategy, sample_absences, write_samples
from landslide_ai.core.sampling.points import read_points
from landslide_ai.core.susceptibility.comparison import run_training
from landslide_ai.core.susceptibility.dataset import TemporalMode
from landslide_ai.core.susceptibility.models import DeepHP, resolved_padding
from landslide_ai.core.susceptibility.networks import SpatialCNN, SusceptibilityNet, dense_cnn_features
from landslide_ai.core.susceptibility.predict import predict_stack
from landslide_ai.core.susceptibility.train import TrainConfig


def _randomised(cnn: SpatialCNN, seed: int) -> SpatialCNN:
    """Random weights and batch-norm statistics, so that no layer is an identity."""
    g = torch.Generator().manual_seed(seed)
    for m in cnn.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.3)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.weight.data.copy_(torch.randn(m.num_features, generator=g))
            m.bias.data.copy_(torch.randn(m.num_features, generator=g))
    return cnn.eval()


@pytest.mark.parametrize("patch", [18, 21, 30])
@pytest.mark.parametrize("activation", ["tanh", "relu"])
@pytest.mark.parametrize("centre", [False, True])
def test_dense_features_equal_per_patch_features(patch, activation, centre):
    torch.manual_seed(patch)
    cnn = _randomised(SpatialCNN(4, DeepHP(activation=activation, filters=8, centre_skip=centre), "valid"), patch)
    h, w = 7, 11
    z = torch.randn(1, 4, h + patch - 1, w + patch - 1)
    z[:, :, :5, :] = 0  # a nodata edge (standardised nodata is 0) and a hole
    z[:, :, 12:15, 9:13] = 0
    with torch.no_grad():
        dense = dense_cnn_features(cnn, z, patch)
        patches = torch.stack([z[0, :, y : y + patch, x : x + patch] for y in range(h) for x in range(w)])
        ref = cnn(patches)
    assert dense.shape == ref.shape == (h * w, 32)
    torch.testing.assert_close(dense, ref, rtol=1e-4, atol=1e-5)


def test_padding_choice():
    assert resolved_padding(DeepHP(), 30) == "valid" and resolved_padding(DeepHP(), 8) == "same"
    with pytest.raises(ValueError, match="at least 18"):
        resolved_padding(DeepHP(cnn_padding="valid"), 12)
    assert not SusceptibilityNet("cnn", 3, 1, DeepHP(), 8).dense and SusceptibilityNet("cnn", 3, 1, DeepHP(), 18).dense


@pytest.fixture(scope="module")
def dense_card(tiny_factors, tmp_path_factory):
    """A CNN-LSTM-AM with the centre skip, trained for real (briefly) with 18-cell patches, on a stack with holes."""
    paths, inv = tiny_factors
    d = tmp_path_factory.mktemp("dense")
    holed = {}
    for n, p in paths.items():
        with rasterio.open(p) as src:
            a, prof = src.read(1), src.profile
        a[20:24, 30:41] = src.nodata  # a hole inside the area and one at the edge
        a[:, :2] = src.nodata
        holed[n] = str(d / f"{n}.tif")
        with rasterio.open(holed[n], "w", **prof) as dst:
            dst.write(a, 1)
    stack = str(d / "stack.tif")
    stack_factors([FactorSpec(p, n) for n, p in holed.items()], stack)
    pts = read_points(inv, rasterio.open(stack).crs.to_wkt())
    s = sample_absences(
        stack, pts, SamplingConfig(strategy=Strategy.BUFFER, buffer_m=90, block_size_m=450, min_spacing_m=30)
    )
    samples = str(d / "samples.gpkg")
    write_samples(s, rasterio.open(stack).crs.to_wkt(), samples, "buffer")
    cfg = TrainConfig(
        models=("cnn_lstm_am",),
        patch_size=18,
        epochs=2,
        batch_size=16,
        shap_samples=0,
        temporal_mode=TemporalMode.FACTOR_SEQUENCE,
        hp=DeepHP(centre_skip=True),
    )
    run_training(stack, samples, str(d / "models"), cfg)
    return stack, str(d / "models" / "cnn_lstm_am.json"), d


def test_dense_prediction_equals_per_patch_prediction(dense_card):
    """Whole maps, windows of 16 cells (so window seams, stack edges and nodata are all crossed)."""
    stack, card, d = dense_card
    predict_stack(card, stack, str(d / "dense.tif"), block=16, dense=True)
    predict_stack(card, stack, str(d / "patch.tif"), block=16, dense=False, batch=64)
    with rasterio.open(d / "dense.tif") as a, rasterio.open(d / "patch.tif") as b, rasterio.open(stack) as st:
        pa, pb = a.read(1), b.read(1)
        valid = st.read(1) != st.nodata
    assert (pa == -9999).sum() == (~valid).sum() and np.array_equal(pa == -9999, pb == -9999)
    np.testing.assert_allclose(pa[valid], pb[valid], rtol=1e-4, atol=1e-5)
    assert pa[valid].std() > 1e-4  # the map is not constant: the comparison means something
