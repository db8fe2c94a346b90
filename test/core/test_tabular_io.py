"""The data-only tabular model format: exact round trips, portability between scikit-learn versions, and
files that do not fit the schema refused with the file named."""

from __future__ import annotations

import json

import numpy as np
import pytest

from landslide_ai.core.errors import ModelLoadError
from landslide_ai.core.susceptibility.fitting import TrainConfig, fit_tree
from landslide_ai.core.susceptibility.tabular_io import load_tabular, save_tabular


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 5))
    x[:, 3] = rng.integers(0, 2, 300)  # a 0/1 column (enters the GAM linearly)
    x[:, 4] = np.round(rng.random(300) * 2)  # tied values (uniform knots)
    y = (x[:, 0] + x[:, 4] + rng.normal(size=300) > 0).astype(int)
    return x, y, rng.normal(size=(400, 5)) * 2


@pytest.mark.parametrize("kind", ["rf", "glm", "gam", "xgb_lr"])
def test_round_trip_predicts_identically(data, tmp_path, kind):
    if kind == "xgb_lr":
        pytest.importorskip("xgboost")
    x, y, xt = data
    model = fit_tree(kind, x, y, TrainConfig(rf_trees=20, xgb_trees=10))
    save_tabular(model, kind, tmp_path / "m.npz")
    again = load_tabular(tmp_path / "m.npz", kind)
    np.testing.assert_allclose(again.predict_proba(xt), model.predict_proba(xt), rtol=0, atol=1e-12)


def _rewrite(path, edit):
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    edit(arrays)
    with open(path, "wb") as f:
        np.savez(f, **arrays)


@pytest.fixture
def forest(data, tmp_path):
    x, y, _ = data
    model = fit_tree("rf", x, y, TrainConfig(rf_trees=5))
    save_tabular(model, "rf", tmp_path / "rf.npz")
    return model, tmp_path / "rf.npz"


def test_counts_and_fractions_give_the_same_forest(data, forest):
    """scikit-learn <= 1.3 stores node class counts, >= 1.4 fractions: both load to the same probabilities."""
    _, _, xt = data
    model, path = forest
    before = load_tabular(path, "rf").predict_proba(xt)

    def as_counts(a):
        for k in [k for k in a if k.endswith(".values")]:
            a[k] = a[k] * 37.0

    _rewrite(path, as_counts)
    np.testing.assert_allclose(load_tabular(path, "rf").predict_proba(xt), before, atol=1e-12)
    assert before.max() <= 1.0


def test_a_node_table_from_a_newer_scikit_learn_loads(data, forest):
    """A table with the ``missing_go_to_left`` field of scikit-learn >= 1.3 loads in any version."""
    _, _, xt = data
    model, path = forest
    before = load_tabular(path, "rf").predict_proba(xt)

    def add_field(a):
        for k in [k for k in a if k.endswith(".nodes")]:
            old = a[k]
            names = [n for n in old.dtype.names if n != "missing_go_to_left"]
            new = np.zeros(old.size, dtype=[*[(n, old.dtype[n]) for n in names], ("missing_go_to_left", "u1")])
            for n in names:
                new[n] = old[n]
            a[k] = new

    _rewrite(path, add_field)
    np.testing.assert_allclose(load_tabular(path, "rf").predict_proba(xt), before, atol=1e-12)


@pytest.mark.parametrize(
    "edit,match",
    [
        (
            lambda a: a["t0.nodes"].__setitem__("left_child", np.where(a["t0.nodes"]["left_child"] > 0, 10**6, -1)),
            "out of range",
        ),
        (
            lambda a: a["t0.nodes"].__setitem__("feature", np.where(a["t0.nodes"]["left_child"] > 0, 99, -2)),
            "out of range",
        ),
        (lambda a: a.__setitem__("classes", np.array([0, 2])), "classes must be"),
        (lambda a: a.__setitem__("t0.values", -a["t0.values"]), "non-negative"),
        (lambda a: a.pop("t1.nodes"), "KeyError"),
        (lambda a: a.__setitem__("__meta__", np.array(json.dumps({"format": "other"}))), "header"),
    ],
    ids=["child-index", "factor-index", "classes", "negative-values", "missing-tree", "format"],
)
def test_files_outside_the_schema_are_refused(forest, edit, match):
    _, path = forest
    _rewrite(path, edit)
    with pytest.raises(ModelLoadError, match=match) as info:
        load_tabular(path, "rf")
    assert str(path) in str(info.value)


DATA = __import__("pathlib").Path(__file__).resolve().parents[1] / "data"


@pytest.mark.parametrize("kind", ["rf", "gam"])
def test_models_saved_by_qgis_3_22s_scikit_learn_load_anywhere(kind):
    """Files written with scikit-learn 1.2.1 (QGIS 3.22's Python) predict the recorded probabilities.

    Run in QGIS 3.40's Python (scikit-learn 1.4, ``scripts/test_qgis_versions.sh trixie``) this is the
    cross-version check; the forest failed it (values up to 30) before node values became fractions.
    """
    table = np.loadtxt(DATA / f"{kind}_sklearn1.2.1_expected.csv", delimiter=",")
    model = load_tabular(DATA / f"{kind}_sklearn1.2.1.npz", kind)
    np.testing.assert_allclose(model.predict_proba(table[:, :4])[:, 1], table[:, 4], rtol=1e-9, atol=1e-12)


def test_xgboost_lr_fast_path_equals_the_encoder():
    """The leaf-weight table gives the one-hot + logistic regression probabilities, saved and reloaded too."""
    pytest.importorskip("xgboost")
    from landslide_ai.core.susceptibility.models import XGBoostLR
    from landslide_ai.core.susceptibility.tabular_io import load_tabular, save_tabular

    rng = np.random.default_rng(5)
    x = rng.normal(size=(600, 4))
    y = (x[:, 0] + 0.5 * x[:, 1] ** 2 + rng.normal(0, 0.7, 600) > 0.5).astype(int)
    m = XGBoostLR(n_estimators=30, seed=1).fit(x, y)
    new = rng.normal(0, 2.5, size=(2000, 4))  # wider than training: some leaves the encoder never saw
    assert np.allclose(m.predict_proba(new), m.predict_proba_reference(new), rtol=1e-10, atol=1e-12)
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as d:
        save_tabular(m, "xgb_lr", Path(d) / "m.npz")
        back = load_tabular(Path(d) / "m.npz", "xgb_lr")
    assert np.allclose(back.predict_proba(new), m.predict_proba_reference(new), rtol=1e-10, atol=1e-12)
