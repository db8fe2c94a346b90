"""Legitimate means for the deep models: one-hot categorical factors, direction-aware
augmentation, seed ensembles (issue 9)."""

import json

import numpy as np
import pytest
import rasterio
import torch

from conftest import write_raster
from landslide_ai.core.errors import InvalidInputError
from landslide_ai.core.raster.stack import FactorSpec, open_stack, stack_factors
from landslide_ai.core.susceptibility.augment import DihedralAugment, _centre_shift
from landslide_ai.core.susceptibility.dataset import Normalisation, SampleSet, band_stats, read_patches
from landslide_ai.core.susceptibility.fitting import TrainConfig, _gam_basis, fit_deep, fit_tree, predict_deep
from landslide_ai.core.susceptibility.models import DeepHP
from landslide_ai.core.susceptibility.networks import SeedEnsemble
from landslide_ai.core.terrain.derive import derive_terrain

SYMMETRIES = [(flip, k) for flip in (False, True) for k in range(4)]


@pytest.fixture(scope="module")
def litho_stack(tmp_path_factory):
    """A 40 x 40 stack: slope (continuous) and lithology codes 3/7/11 (categorical), one nodata cell."""
    d = tmp_path_factory.mktemp("litho")
    rng = np.random.default_rng(1)
    slope = rng.uniform(0, 40, (40, 40))
    litho = np.where(np.arange(40)[None, :] < 15, 3.0, np.where(np.arange(40)[:, None] < 20, 7.0, 11.0))
    litho = np.broadcast_to(litho, (40, 40)).copy()
    slope[5, 5] = -9999.0
    specs = [
        FactorSpec(write_raster(d / "slope.tif", slope), "slope"),
        FactorSpec(write_raster(d / "litho.tif", litho), "lithology", categorical=True),
    ]
    stack = str(d / "stack.tif")
    stack_factors(specs, stack)
    return stack, litho


def test_categorical_flag_travels_in_the_stack_and_becomes_one_hot(litho_stack):
    stack, litho = litho_stack
    info = open_stack(stack)
    assert info.categorical == ("lithology",)
    norm = band_stats(stack)
    assert norm.categories == {"1": [3.0, 7.0, 11.0]}
    assert norm.n_channels == 4
    assert norm.feature_names(info.names) == ["slope", "lithology=3", "lithology=7", "lithology=11"]
    rows, cols = np.array([10, 30, 5]), np.array([5, 30, 5])
    p = read_patches(stack, rows, cols, 3, norm)
    assert p.shape == (3, 4, 3, 3)
    # indicators are exact 0/1, one per valid cell; the nodata cell (5, 5) has none
    assert np.array_equal(p[0, 1:, 1, 1], [1, 0, 0]) and np.array_equal(p[1, 1:, 1, 1], [0, 0, 1])
    assert np.array_equal(p[2, :, 1, 1], [0, 0, 0, 0])
    assert set(np.unique(p[:, 1:])) <= {0.0, 1.0}
    # off: the old standardised codes
    assert band_stats(stack, one_hot=False).n_channels == 2


def test_too_many_categories_is_refused_with_a_hint(tmp_path):
    codes = np.arange(100 * 100, dtype=float).reshape(100, 100)
    stack = str(tmp_path / "s.tif")
    stack_factors([FactorSpec(write_raster(tmp_path / "c.tif", codes), "soil", categorical=True)], stack)
    with pytest.raises(InvalidInputError, match="'soil'.*more than 64 distinct.*Reclassify"):
        band_stats(stack)


def test_gam_takes_indicator_and_tied_columns():
    """Quantile knots on a 0/1 or heavily tied column would repeat; such columns still fit."""
    rng = np.random.default_rng(0)
    x = np.column_stack([rng.normal(size=300), rng.integers(0, 2, 300), np.maximum(rng.normal(size=300), 0)])
    y = (x[:, 0] + x[:, 1] > 0.5).astype(int)
    basis = _gam_basis(x)
    kinds = [t if isinstance(t, str) else t.knots for _, t, _ in basis.transformers]
    assert kinds == ["quantile", "passthrough", "uniform"]
    m = fit_tree("gam", x, y, TrainConfig())
    assert ((m.predict_proba(x)[:, 1] > 0.5) == y).mean() > 0.85


def _dem(tmp_path, z, name):
    return derive_terrain(write_raster(tmp_path / f"{name}.tif", z), str(tmp_path / name))


@pytest.mark.parametrize(("flip", "k"), SYMMETRIES)
def test_augmentation_rotates_directions_like_the_terrain(tmp_path, flip, k):
    """Rotating/mirroring a DEM and deriving its terrain again gives what the augmentation gives
    when it transforms the original channels: northness/eastness rotate, slope does not."""
    yy, xx = np.mgrid[0:23, 0:23].astype(float)
    z = 800 + 6 * xx + 0.4 * (xx - 9) ** 2 + 3 * yy + 0.3 * (yy - 14) ** 2 + 0.2 * xx * yy  # no symmetry
    base = _dem(tmp_path, z, "a")
    zt = np.fliplr(z) if flip else z
    moved = _dem(tmp_path, np.rot90(zt, k).copy(), "b")
    names = ["slope", "northness", "eastness"]
    inner = (slice(2, -2), slice(2, -2))  # 19 x 19: odd, no centre shift
    orig = np.stack([rasterio.open(base[n]).read(1)[inner] for n in names])
    want = np.stack([rasterio.open(moved[n]).read(1)[inner] for n in names])
    norm = Normalisation([20.0, 0.1, -0.2], [8.0, 0.7, 0.6])
    aug = DihedralAugment.for_features(names, norm, names)
    zs = norm.apply(orig, np.ones(orig.shape[1:], bool))
    got = aug.transform(torch.from_numpy(zs)[None], flip, k)[0].numpy()
    back = got * np.asarray(norm.std, np.float32)[:, None, None] + np.asarray(norm.mean, np.float32)[:, None, None]
    assert np.allclose(back, want, atol=1e-4)


@pytest.mark.parametrize(("flip", "k"), SYMMETRIES)
def test_even_patches_keep_the_sample_cell_at_the_centre(flip, k):
    x = torch.arange(2 * 30 * 30, dtype=torch.float32).reshape(1, 2, 30, 30) + 1
    aug = DihedralAugment(None, None)
    y = aug.transform(x, flip, k)
    assert torch.equal(y[0, :, 15, 15], x[0, :, 15, 15])
    dr, dc = _centre_shift(30, flip, k)
    assert max(abs(dr), abs(dc)) <= 1  # at most one strip moved in, and it is 0 (the factor mean)
    assert (y == 0).sum() == 2 * 30 * (abs(dr) + abs(dc)) - 2 * abs(dr * dc)


def test_augmentation_refuses_aspect_and_half_a_vector():
    norm = Normalisation([0.0, 0.0], [1.0, 1.0])
    with pytest.raises(InvalidInputError, match="aspect.*northness and eastness"):
        DihedralAugment.for_features(["slope", "aspect"], norm, ["slope", "aspect"])
    with pytest.raises(InvalidInputError, match="both northness and eastness"):
        DihedralAugment.for_features(["slope", "northness"], norm, ["slope", "northness"])


def test_each_patch_of_a_batch_gets_one_of_the_eight_symmetries():
    """``__call__`` gives every row one whole symmetry of its own patch (identity included), draws
    them from the generator (same seed, same draws) and uses more than one in a batch."""
    norm = Normalisation([0.0, 0.1, -0.2], [1.0, 0.7, 0.6])
    aug = DihedralAugment.for_features(["slope", "northness", "eastness"], norm, ["slope", "northness", "eastness"])
    x = torch.randn(64, 3, 9, 9)
    out = aug(x, torch.Generator().manual_seed(7))
    assert torch.equal(out, aug(x, torch.Generator().manual_seed(7)))
    used = set()
    for i in range(x.shape[0]):
        hits = [s for s in SYMMETRIES if torch.allclose(out[i], aug.transform(x[i : i + 1], *s)[0], atol=1e-6)]
        assert hits, f"row {i} is not a symmetry of its input"
        used.add(hits[0])
    assert len(used) >= 6 and not torch.equal(out, x)


def _toy(n=160, seed=0):
    rng = np.random.default_rng(seed)
    labels = (np.arange(n) % 3 == 0).astype(int)
    patches = rng.normal(size=(n, 3, 9, 9)).astype(np.float32)
    patches[labels == 1, 0, 3:6, 3:6] += 1.0
    series = patches[:, :, 4, 4][:, :, None].copy()
    return SampleSet(patches, series, labels, np.zeros(n, bool), np.arange(n) % 8)


def test_augmented_training_runs_and_differs_from_plain():
    data = _toy()
    tr, va = np.arange(0, 130), np.arange(130, 160)
    aug = DihedralAugment(None, None)
    probs = []
    for a in (None, aug):
        model, _ = fit_deep(
            "cnn_lstm_am", data, tr, va, TrainConfig(epochs=2, batch_size=16), DeepHP(), 3, 1, augment=a
        )
        probs.append(predict_deep(model, data.patches, data.series, torch.device("cpu")))
    assert np.all(np.isfinite(probs[1])) and not np.allclose(probs[0], probs[1])


def test_seed_ensemble_is_the_mean_of_its_members():
    data = _toy()
    tr, va = np.arange(0, 130), np.arange(130, 160)
    cfg = TrainConfig(epochs=2, batch_size=16, ensemble=3)
    ens, hist = fit_deep("cnn", data, tr, va, cfg, DeepHP(), 3, 1)
    assert isinstance(ens, SeedEnsemble) and len(ens.members) == 3 and len(hist["best_epoch"]) == 3
    dev = torch.device("cpu")
    members = [predict_deep(m, data.patches, None, dev) for m in ens.members]
    assert not np.allclose(members[0], members[1])  # the seeds differ
    assert np.allclose(predict_deep(ens, data.patches, None, dev), np.mean(members, axis=0), atol=1e-5)
    single, _ = fit_deep("cnn", data, tr, va, TrainConfig(epochs=2, batch_size=16), DeepHP(), 3, 1)
    assert np.allclose(predict_deep(single, data.patches, None, dev), members[0], atol=1e-6)  # member 0 = seed 42


def test_one_hot_ensemble_augmented_model_maps_through_its_card(litho_stack, tmp_path):
    """Trained with all three means on a stack with a categorical factor, the saved card maps the
    stack; the dense and per-patch paths agree, and the map equals the in-memory ensemble."""
    from landslide_ai.core.sampling.absences import Samples, write_samples
    from landslide_ai.core.susceptibility.predict import load_model, predict_stack
    from landslide_ai.core.susceptibility.train import prepare, train_all

    stack, litho = litho_stack
    info = open_stack(stack)
    rng = np.random.default_rng(3)
    rows, cols = rng.integers(3, 37, 120), rng.integers(3, 37, 120)
    labels = (litho[rows, cols] == 7).astype(int)  # landslides on one rock type
    x, y = info.grid.xy(rows, cols)
    samples = str(tmp_path / "s.gpkg")
    s = Samples(rows, cols, np.asarray(x), np.asarray(y), labels, cols > 25, (cols // 10).astype(int))
    write_samples(s, info.grid.crs_wkt, samples, "buffer")
    cfg = TrainConfig(models=("cnn_lstm_am", "gam"), patch_size=18, epochs=2, batch_size=16, ensemble=2, augment=False)
    prep = prepare(stack, samples, cfg)
    assert prep.features == ["slope", "lithology=3", "lithology=7", "lithology=11"]
    res = train_all(prep, cfg, str(tmp_path / "m"))
    card = json.loads((tmp_path / "m" / "cnn_lstm_am.json").read_text())
    assert card["inputs"]["features"] == prep.features and card["hyperparameters"]["ensemble"] == 2
    assert card["normalisation"]["factors"]["categories"] == {"1": [3.0, 7.0, 11.0]}
    lm = load_model(res[0].card_path)
    assert isinstance(lm.net, SeedEnsemble)
    maps = []
    for dense in (True, False):
        out = str(tmp_path / f"p{dense}.tif")
        predict_stack(res[0].card_path, stack, out, dense=dense, block=16)
        maps.append(rasterio.open(out).read(1))
    ok = maps[0] != -9999
    assert np.allclose(maps[0][ok], maps[1][ok], atol=1e-5)
    te = np.flatnonzero(prep.data.is_test)
    want = predict_deep(lm.net, prep.data.patches[te], prep.data.series[te], torch.device("cpu"))
    r, c = info.grid.rowcol(prep.x[te], prep.y[te])
    assert np.allclose(maps[0][r, c], want, atol=1e-5)
    assert np.allclose(res[0].test_prob, want, atol=1e-5)


def test_unseen_category_codes_are_warned_at_prediction(litho_stack, tmp_path):
    """A categorical code the training stack never had gets all-zero indicators: mapped, but said."""
    from landslide_ai.core.sampling.absences import Samples, write_samples
    from landslide_ai.core.susceptibility.predict import predict_stack
    from landslide_ai.core.susceptibility.train import prepare, train_all

    stack, litho = litho_stack
    info = open_stack(stack)
    rng = np.random.default_rng(5)
    rows, cols = rng.integers(3, 37, 80), rng.integers(3, 37, 80)
    x, y = info.grid.xy(rows, cols)
    s = Samples(rows, cols, np.asarray(x), np.asarray(y), (litho[rows, cols] == 7).astype(int), cols > 25, cols // 10)
    write_samples(s, info.grid.crs_wkt, str(tmp_path / "s.gpkg"), "buffer")
    cfg = TrainConfig(models=("glm",))
    card = train_all(prepare(stack, str(tmp_path / "s.gpkg"), cfg), cfg, str(tmp_path / "m"))[0].card_path
    other_litho = litho.copy()
    other_litho[:, 30:] = 5.0  # a rock type the model never saw, on a quarter of the area
    d = tmp_path / "other"
    d.mkdir()
    with rasterio.open(stack) as src:
        slope = src.read(1)
        slope[slope == src.nodata] = -9999.0
    other = str(d / "stack.tif")
    stack_factors(
        [
            FactorSpec(write_raster(d / "slope.tif", slope), "slope"),
            FactorSpec(write_raster(d / "litho.tif", other_litho), "lithology", categorical=True),
        ],
        other,
    )

    class Log:
        lines: list = []

        def report(self, *a):
            pass

        def is_canceled(self):
            return False

        def log(self, m):
            self.lines.append(m)

    log = Log()
    predict_stack(card, other, str(tmp_path / "p.tif"), progress=log, allow_shift=True)
    warn = [m for m in log.lines if "not trained on" in m]
    assert len(warn) == 1 and "'lithology'" in warn[0] and "(5)" in warn[0] and "25%" in warn[0]
    log.lines.clear()
    predict_stack(card, stack, str(tmp_path / "q.tif"), progress=log)
    assert not [m for m in log.lines if "not trained on" in m]
