"""Models, training, prediction and model-card checks on tiny seeded data."""

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
from rasterio.crs import CRS

from landslide_ai.core.errors import GridMismatchError, InvalidInputError
from landslide_ai.core.metrics import SUSCEPTIBILITY as METRICS
from landslide_ai.core.raster.stack import FactorSpec, stack_factors
from landslide_ai.core.sampling.absences import SamplingConfig, Strategy, sample_absences, write_samples
from landslide_ai.core.sampling.points import read_points
from landslide_ai.core.susceptibility.comparison import run_training
from landslide_ai.core.susceptibility.dataset import TemporalMode
from landslide_ai.core.susceptibility.models import DeepHP, XGBoostLR
from landslide_ai.core.susceptibility.networks import SusceptibilityNet
from landslide_ai.core.susceptibility.predict import predict_and_zone, predict_stack
from landslide_ai.core.susceptibility.train import TrainConfig

WKT = CRS.from_epsg(32717).to_wkt()


@pytest.mark.parametrize("kind", ["cnn", "lstm", "cnn_lstm", "cnn_lstm_am"])
def test_architecture_shapes(kind):
    net = SusceptibilityNet(kind, n_factors=10, n_vars=2, hp=DeepHP())
    out = net(torch.zeros(4, 10, 30, 30), torch.zeros(4, 12, 2))
    assert out.shape == (4,)
    if net.cnn is not None:
        assert net.cnn.out_dim == 64  # 16 filters doubling twice -> 64-d pooled vector (paper)
    if kind == "cnn_lstm_am":
        lin = [m for m in net.attention if isinstance(m, torch.nn.Linear)]
        assert (lin[0].in_features, lin[0].out_features, lin[1].out_features) == (96, 256, 96)
        assert net.lstm.lstm.num_layers == 3 and net.lstm.out_dim == 32


def test_xgboost_lr_learns_a_separable_problem():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 3))
    y = (x[:, 0] + 0.2 * rng.normal(size=300) > 0).astype(int)
    m = XGBoostLR(n_estimators=20, seed=0).fit(x, y)
    assert ((m.predict_proba(x)[:, 1] > 0.5) == y).mean() > 0.9


@dataclass
class Trained:
    """What the ``trained`` fixture built: every model kind trained once on the tiny samples."""

    stack: str
    samples: str
    dir: Path
    out: object  # the run_training result
    epochs: list
    points: object


@pytest.fixture(scope="module")
def trained(tiny_samples, tmp_path_factory) -> Trained:
    stack, samples, pts = tiny_samples
    d = tmp_path_factory.mktemp("trained")
    cfg = TrainConfig(
        patch_size=8,
        epochs=3,
        batch_size=16,
        rf_trees=20,
        xgb_trees=10,
        shap_samples=10,
        temporal_mode=TemporalMode.FACTOR_SEQUENCE,
    )
    epochs = []
    out = run_training(stack, samples, str(d / "models"), cfg, on_epoch=lambda k, m: epochs.append((k, m)))
    return Trained(stack, samples, d, out, epochs, pts)


def test_training_writes_all_models_with_cards_and_reports(trained):
    d, out, epochs = trained.dir, trained.out, trained.epochs
    kinds = [r.kind for r in out.results]
    assert kinds == ["cnn", "lstm", "cnn_lstm", "cnn_lstm_am", "rf", "xgb_lr", "glm", "gam"]
    for r in out.results:
        assert 0.0 <= r.metrics["roc_auc"] <= 1.0 and set(r.metrics) == set(METRICS)
        card = json.loads((d / "models" / f"{r.kind}.json").read_text())
        assert card["inputs"]["factors"] == ["elev", "slope", "twi"]
        assert (d / "models" / card["weights_file"]).exists()
    # the slope-driven inventory is learnable: the forest separates it on the spatial test blocks
    assert out.results[4].metrics["roc_auc"] > 0.8
    assert {k for k, _ in epochs} == {"cnn", "lstm", "cnn_lstm", "cnn_lstm_am"}
    csv = (d / "models" / "comparison.csv").read_text().splitlines()
    assert csv[0] == "model,AUC,ACC,PRC,POD,Kappa,MSE,warnings" and len(csv) == 9
    for f in ("roc.png", "training_curves.png", "shap_importance.csv", "correlation.csv", "comparison.html"):
        assert (d / "models" / f).stat().st_size > 0
    shap = out.importance["rf"]
    assert max(shap, key=shap.get) == "slope"


def test_prediction_covers_valid_cells_and_zones(trained, tmp_path):
    stack, d, pts = trained.stack, trained.dir, trained.points
    for kind in ("cnn_lstm_am", "rf"):
        prob, zones, table = tmp_path / f"{kind}.tif", tmp_path / f"{kind}_z.tif", tmp_path / f"{kind}.csv"
        breaks = predict_and_zone(
            str(d / "models" / f"{kind}.json"),
            stack,
            str(prob),
            str(zones),
            landslides=pts,
            table_csv=str(table),
            block=16,
        )
        with rasterio.open(prob) as ds, rasterio.open(stack) as st:
            p = ds.read(1)
            valid = st.read(1) != st.nodata
            assert ds.transform == st.transform and ds.crs == st.crs
            assert ds.profile["tiled"] and ds.profile.get("compress") == "deflate"
        assert np.all((p[valid] >= 0) & (p[valid] <= 1)) and np.all(p[~valid] == -9999)
        assert len(breaks) == 4
        rows = table.read_text().splitlines()[1:]
        assert sum(float(r.split(",")[4]) for r in rows) == pytest.approx(1.0)


def test_window_size_does_not_change_predictions(trained, tmp_path):
    stack, d = trained.stack, trained.dir
    outs = []
    for block in (7, 64):
        p = tmp_path / f"p{block}.tif"
        predict_stack(str(d / "models" / "cnn.json"), stack, str(p), block=block, batch=50)
        outs.append(rasterio.open(p).read(1))
    np.testing.assert_allclose(outs[0], outs[1], atol=1e-5)


def _edited_stack(stack: str, dest: str, edit, names=None) -> str:
    """A copy of ``stack`` with ``edit(data)`` applied and the given band names (default: the same)."""
    with rasterio.open(stack) as ds:
        prof, data, names = ds.profile, ds.read(), names or ds.descriptions
    with rasterio.open(dest, "w", **prof) as out:
        out.write(edit(data))
        for i, n in enumerate(names, 1):
            out.set_band_description(i, n)
    return dest


def test_model_factor_mismatch_is_refused(trained, tmp_path):
    stack, d = trained.stack, trained.dir
    other = _edited_stack(stack, str(tmp_path / "other.tif"), lambda a: a[::-1], ["twi", "slope", "elev"])
    dest = tmp_path / "p.tif"
    with pytest.raises(GridMismatchError, match="trained on factors"):
        predict_stack(str(d / "models" / "rf.json"), other, str(dest))
    assert not dest.exists()


def test_stack_with_undeclared_nan_is_refused(trained, tmp_path):
    stack, d = trained.stack, trained.dir

    def hole(a):
        a[1, 10, 10] = np.nan
        return a

    bad = _edited_stack(stack, str(tmp_path / "nan.tif"), hole)
    dest = tmp_path / "p.tif"
    with pytest.raises(InvalidInputError, match="NaN"):
        predict_stack(str(d / "models" / "cnn.json"), bad, str(dest))
    assert not dest.exists() and not list(tmp_path.glob(".p.*"))


def test_spatial_cv_folds_blocks_and_prediction_rate(tiny_factors, tmp_path, monkeypatch):
    """Folds keep whole blocks, every model gets k fold results, intervals contain the estimate;
    the CV opens the stack once (it travels in ``prep``)."""
    from landslide_ai.core.susceptibility.cross_validation import CVConfig, correlation_length_m, cross_validate
    from landslide_ai.core.susceptibility.train import TrainConfig, prepare

    paths, inv = tiny_factors
    stack = str(tmp_path / "stack.tif")
    stack_factors([FactorSpec(p, n) for n, p in paths.items()], stack)
    length = correlation_length_m(stack)
    assert 30 <= length <= 60 * 30
    import rasterio

    with rasterio.open(stack) as ds:
        wkt = ds.crs.to_wkt()
    s = sample_absences(
        stack, read_points(inv, wkt), SamplingConfig(strategy=Strategy.BUFFER, buffer_m=60, block_size_m=300)
    )
    samples = str(tmp_path / "s.gpkg")
    write_samples(s, wkt, samples, "buffer")
    cfg = TrainConfig(models=("cnn", "rf"), patch_size=8, epochs=2, shap_samples=0)
    prep = prepare(stack, samples, cfg)
    opened = []
    real_open = rasterio.open
    monkeypatch.setattr(rasterio, "open", lambda f, *a, **k: opened.append(str(f)) or real_open(f, *a, **k))
    res = cross_validate(prep, cfg, CVConfig(folds=3, block_m=300.0, rate_cells=2000, n_boot=200))
    monkeypatch.setattr(rasterio, "open", real_open)
    assert opened == [stack]
    assert {m.kind for m in res.models} == {"cnn", "rf"}
    for m in res.models:
        assert len(m.fold_metrics) == 3 and len(m.fold_rate_auc) == 3
        lo, hi = m.auc_ci
        assert lo <= m.pooled["roc_auc"] <= hi
        assert 0 <= m.rate_auc <= 1 and m.rate_ci[0] <= m.rate_auc <= m.rate_ci[1]
    # no block is split between folds
    for g in np.unique(res.groups):
        assert np.unique(res.folds[res.groups == g]).size == 1
    rf = next(m for m in res.models if m.kind == "rf")
    assert rf.pooled["roc_auc"] > 0.8  # the slope-driven inventory is learnable across blocks
    # every factor alone is judged under the same folds; the slope-driven inventory's best factor is slope,
    # and a model that does not beat it says so in its flags
    names = [f[0] for f in res.factor_rates]
    assert names == list(prep.features)
    best = res.best_factor()
    assert best is not None and best[0] == "slope" and best[2][0] <= best[1] <= best[2][1]
    for m in res.models:
        assert (m.rate_auc <= best[1]) == any("does not beat the best single factor" in f for f in m.flags)
    from landslide_ai.core.susceptibility.cross_validation import cv_rows

    _, rows = cv_rows(res)
    assert sum(r[0].startswith("factor alone: ") for r in rows) == len(names)
    # automatic blocks are never smaller than one patch footprint unless the report says they shrank
    from landslide_ai.core.susceptibility.cross_validation import choose_block

    choice = choose_block(stack, prep.x, prep.y, 3, 0.0, 8 * 30.0)
    assert choice.range_m == length and (choice.side_m >= max(length, 240.0) or choice.shrunk)
    assert choice.shrunk == ("shrunk" in choice.note)


def test_class_weight_shifts_deep_predictions_towards_landslides():
    """With 1 landslide for 4 absences, weighting the landslide class 4x raises the predicted
    probabilities (same seed, same data): the weight reaches the loss."""
    from landslide_ai.core.susceptibility.dataset import SampleSet
    from landslide_ai.core.susceptibility.fitting import fit_deep

    rng = np.random.default_rng(0)
    n = 200
    labels = (np.arange(n) % 5 == 0).astype(int)
    patches = rng.normal(size=(n, 3, 8, 8)).astype(np.float32)
    patches[labels == 1, 0] += 0.5
    data = SampleSet(patches, None, labels, np.zeros(n, bool), np.arange(n) % 10)
    tr, va = np.arange(0, 160), np.arange(160, n)
    means = []
    for weight in (False, True):
        cfg = TrainConfig(epochs=3, batch_size=32, patience=10, class_weight=weight)
        model, _ = fit_deep("cnn", data, tr, va, cfg, DeepHP(), 3, 1)
        with torch.no_grad():
            means.append(float(torch.sigmoid(model(torch.from_numpy(patches), None)).mean()))
    assert means[1] > means[0] + 0.05


def test_confusion_matrix_rows_are_truth_columns_prediction():
    from landslide_ai.core.metrics import confusion

    y = np.array([0, 0, 0, 1, 1])
    p = np.array([0.1, 0.7, 0.2, 0.9, 0.4])
    assert confusion(y, p) == [[2, 1], [1, 1]]
    assert confusion(y, p, threshold=0.05) == [[0, 3], [0, 2]]


@pytest.fixture(scope="module")
def trained_cv(tiny_samples, tmp_path_factory):
    """run_training with spatial CV: models refit on all samples, the mapped one chosen by the CV."""
    from landslide_ai.core.susceptibility.cross_validation import CVConfig

    stack, samples, _ = tiny_samples
    d = tmp_path_factory.mktemp("trained_cv")
    cfg = TrainConfig(models=("cnn", "rf", "glm"), patch_size=8, epochs=4, batch_size=16, rf_trees=30, shap_samples=0)
    cv = CVConfig(folds=3, block_m=450.0, rate_cells=1500, n_boot=200)
    return stack, d, run_training(stack, samples, str(d / "models"), cfg, cv=cv)


def test_cv_run_refits_on_all_samples_and_maps_the_best_cv_model(trained_cv):
    from landslide_ai.core.susceptibility.cross_validation import ranking

    _, d, out = trained_cv
    n = int(out.test_labels.size)
    for r in out.results:
        card = json.loads(Path(r.card_path).read_text())
        assert card["training"]["fit_on"] == "all samples" and card["training"]["n_train"] == n
        m = next(x for x in out.cv.models if x.kind == r.kind)
        assert card["metrics"]["cv"]["prediction_rate_auc"] == pytest.approx(m.rate_auc)
        breaks = card["training"]["zoning"]["breaks"]
        assert len(breaks) == 4 and breaks == sorted(breaks)
        assert np.array_equal(r.test_prob, m.oof)  # the figures shown are the out-of-fold ones
    cnn = json.loads((d / "models" / "cnn.json").read_text())
    cnn_cv = next(x for x in out.cv.models if x.kind == "cnn")
    assert cnn["training"]["epochs_refit"] == max(1, int(np.median(cnn_cv.best_epochs)))
    best = ranking(out.cv)[0]
    assert Path(out.mapped_card).name == f"{best.kind}.json"
    assert "distinguishable" in out.mapping_note and "Mapped model" in out.mapping_note


def test_mapped_model_choice_by_user_and_without_cv(trained_cv, trained):
    from landslide_ai.core.susceptibility.comparison import choose_mapped

    _, _, out = trained_cv
    card, note, _ = choose_mapped(out.results, out.cv, "glm")
    assert Path(card).name == "glm.json" and "chosen by the user" in note
    with pytest.raises(InvalidInputError, match="was not trained"):
        choose_mapped(out.results, out.cv, "cnn_lstm_am")
    card, note, _ = choose_mapped(trained.out.results, None)  # no CV: no evidence, the paper's model
    assert Path(card).name == "cnn_lstm_am.json" and "no cross-validation" in note


def _tile(stack: str, dest: Path, col_off: int, width: int) -> str:
    """A column range of the stack as its own stack (same bands, names and tags)."""
    from rasterio.windows import Window

    with rasterio.open(stack) as ds:
        win = Window(col_off, 0, width, ds.height)
        prof = ds.profile | {"width": width, "transform": ds.window_transform(win)}
        with rasterio.open(dest, "w", **prof) as out:
            out.write(ds.read(window=win))
            out.descriptions = ds.descriptions
            out.update_tags(**ds.tags())
            for b in range(1, ds.count + 1):
                out.update_tags(b, **ds.tags(b))
    return str(dest)


def test_two_overlapping_tiles_zone_every_shared_cell_alike(trained_cv, tmp_path):
    """Acceptance of issue 21: the card's breaks zone the same cell the same way in any tile."""
    stack, d, _ = trained_cv
    with rasterio.open(stack) as ds:
        w = ds.width
    a = _tile(stack, tmp_path / "a.tif", 0, int(w * 0.7))
    b = _tile(stack, tmp_path / "b.tif", int(w * 0.4), w - int(w * 0.4))
    shared = slice(int(w * 0.4), int(w * 0.7))
    card = str(d / "models" / "rf.json")
    zones = {}
    for method in ("card", "quantile"):
        for name, tile, off in (("a", a, 0), ("b", b, int(w * 0.4))):
            predict_and_zone(card, tile, str(tmp_path / f"p{name}{method}.tif"), str(tmp_path / f"z{name}{method}.tif"),
                             method)  # fmt: skip
            with rasterio.open(tmp_path / f"z{name}{method}.tif") as z:
                zones[method, name] = z.read(1)[:, shared.start - off : shared.stop - off]
    ok = zones["card", "a"] > 0
    assert ok.sum() > 100 and np.array_equal(zones["card", "a"], zones["card", "b"])
    # each run's own quantiles do not: the test would see a difference
    assert not np.array_equal(zones["quantile", "a"][ok], zones["quantile", "b"][ok])


def test_validation_split_holds_enough_of_both_classes():
    """Early stopping judges on a split with at least MIN_VAL_PER_CLASS of each class (was 1 landslide in 38)."""
    from landslide_ai.core.susceptibility.dataset import SampleSet
    from landslide_ai.core.susceptibility.fitting import MIN_VAL_PER_CLASS, validation_split

    rng = np.random.default_rng(0)
    n = 400
    labels = (rng.random(n) < 0.1).astype(int)
    blocks = rng.integers(0, 40, n)
    labels[blocks < 30] = 0  # landslides only in a quarter of the blocks
    labels[(blocks >= 30) & (rng.random(n) < 0.5)] = 1
    data = SampleSet(np.zeros((n, 1, 1, 1), np.float32), None, labels, np.zeros(n, bool), blocks)
    for seed in range(10):
        tr, va = validation_split(data, 0.15, seed)
        assert np.intersect1d(tr, va).size == 0 and tr.size + va.size == n
        for c in (0, 1):
            assert (labels[va] == c).sum() >= MIN_VAL_PER_CLASS and (labels[tr] == c).sum() >= MIN_VAL_PER_CLASS


def test_a_deep_card_saved_before_the_centre_skip_still_loads(trained, tmp_path):
    """Cards without ``centre_skip`` (all cards before 0.4) are the paper's network: loaded as such."""
    import shutil

    from landslide_ai.core.susceptibility.predict import load_model

    src = trained.dir / "models"
    for f in ("cnn.json", "cnn.pt"):
        shutil.copy(src / f, tmp_path / f)
    card = json.loads((tmp_path / "cnn.json").read_text())
    assert card["hyperparameters"]["centre_skip"] is True  # the default now
    # a card of the paper's network, written before the option existed
    import torch as _torch

    from landslide_ai.core.susceptibility.networks import SusceptibilityNet

    hp = {k: v for k, v in card["hyperparameters"].items() if k in DeepHP().to_dict()} | {"centre_skip": False}
    net = SusceptibilityNet("cnn", 3, 1, DeepHP(**hp), card["inputs"]["patch_size"])
    _torch.save(net.state_dict(), tmp_path / "cnn.pt")
    del card["hyperparameters"]["centre_skip"]
    card.pop("weights_sha256", None)
    (tmp_path / "cnn.json").write_text(json.dumps(card))
    lm = load_model(str(tmp_path / "cnn.json"))
    assert lm.net.cnn.centre is None


def test_mean_card_maps_the_mean_of_its_members_and_refuses_paths(trained_cv, tmp_path, count_opens, monkeypatch):
    from landslide_ai.core.errors import ModelLoadError
    from landslide_ai.core.susceptibility.mean_card import read_mean_card, write_mean_card

    stack, d, out = trained_cv
    models = d / "models"
    card = models / "mean_test.json"
    write_mean_card(
        card, ["rf.json", "glm.json"], {"cv": {}}, {"method": "quantile", "breaks": [0.1, 0.2, 0.3, 0.4]}, 9
    )
    maps = {}
    for name in ("rf", "glm"):
        predict_stack(str(models / f"{name}.json"), stack, str(tmp_path / f"{name}.tif"))
        with rasterio.open(tmp_path / f"{name}.tif") as ds:
            maps[name] = ds.read(1)
    counts = count_opens(card, models / "rf.json", models / "glm.json")
    breaks = predict_and_zone(str(card), stack, str(tmp_path / "mean.tif"), str(tmp_path / "z.tif"))
    monkeypatch.undo()
    assert set(counts.values()) == {1}, counts  # the mean card and each member's card read once
    assert breaks == [0.1, 0.2, 0.3, 0.4]  # the mean card's own breaks
    with rasterio.open(tmp_path / "mean.tif") as ds:
        mean, nodata = ds.read(1), ds.nodata
        assert ds.tags()["LANDSLIDEAI_FIT_ON"] == "all samples"
    ok = mean != nodata
    np.testing.assert_allclose(mean[ok], (maps["rf"][ok] + maps["glm"][ok]) / 2, rtol=1e-6)
    assert not list(tmp_path.glob(".mean.tif.members*"))  # the members' staging is gone
    bad = models / "mean_bad.json"
    write_mean_card(bad, ["rf.json", "glm.json"], {}, None, 9)
    bad.write_text(bad.read_text().replace('"glm.json"', '"../glm.json"'))
    with pytest.raises(ModelLoadError, match="not a plain file name"):
        read_mean_card(bad)


def test_mean_of_top_models_is_cross_validated_and_mapped_when_chosen(trained_cv):
    from landslide_ai.core.susceptibility.comparison import MEAN_OF_TOP, choose_mapped
    from landslide_ai.core.susceptibility.cross_validation import top_models

    _, _, out = trained_cv
    top = top_models(out.cv.models)
    card, note, chosen = choose_mapped(out.results, out.cv, MEAN_OF_TOP)
    if len(top) >= 2:
        e = out.cv.ensemble
        # choosing is free of side effects: the mean card is written by run_training, not here
        assert chosen is e and not Path(card).exists()
        assert e is not None and e.kinds == [m.kind for m in top] and e.rate_ci[0] <= e.rate_auc <= e.rate_ci[1]
        assert Path(card).name == "mean_top.json" and "Mapped model: the mean of" in note
    else:  # one clear leader: nothing to average, and the note says why
        assert out.cv.ensemble is None and "No mean was mapped" in note


def test_top_models_are_the_best_and_those_the_paired_interval_cannot_tell_from_it():
    from landslide_ai.core.susceptibility.cross_validation import ModelCV, top_models
    from landslide_ai.core.susceptibility.rates import BlockRate

    rng = np.random.default_rng(0)
    common = rng.normal(0, 0.03, 500)  # shared block draws: the pairing

    def model(kind, auc, noise):
        draws = auc + common + rng.normal(0, noise, 500)
        return ModelCV(kind, [], {"roc_auc": 0.9}, (0.8, 0.95), BlockRate(auc, (auc - 0.06, auc + 0.06), draws), [], [])

    best, close, far = model("gam", 0.82, 0.01), model("rf", 0.815, 0.01), model("cnn", 0.70, 0.01)
    assert [m.kind for m in top_models([far, close, best])] == ["gam", "rf"]


@pytest.mark.parametrize("backend", ["torch", "onnx"])
def test_a_map_run_reads_its_card_once_and_its_weights_at_most_twice(trained, tmp_path, count_opens, backend):
    """A counting spy on every file open: the card once, the weights once for the checksum and once to load.

    Why: one lsm_predict with the ONNX backend used to read the card and the weights three times each
    (issue 22); the loaded model now travels down and checksums are remembered while a file is unchanged.
    """
    import shutil

    src = trained.dir / "models"
    for f in ("cnn_lstm_am.json", "cnn_lstm_am.pt"):
        shutil.copy(src / f, tmp_path / f)
    card, weights = (tmp_path / "cnn_lstm_am.json").resolve(), (tmp_path / "cnn_lstm_am.pt").resolve()
    counts = count_opens(card, weights)
    predict_and_zone(str(card), trained.stack, str(tmp_path / "p.tif"), str(tmp_path / "z.tif"), backend=backend)
    assert counts[card] == 1 and 1 <= counts[weights] <= 2, counts
    with rasterio.open(tmp_path / "p.tif") as ds:  # provenance written with the raster, not added afterwards
        assert ds.tags()["LANDSLIDEAI_FIT_ON"] == "training rows of the split"
