"""One metric vocabulary for both tasks (issue 22): the values, the undefined cases, old cards read in it."""

import json
import re
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    cohen_kappa_score,
    f1_score,
    precision_score,
    recall_score,
    roc_auc_score,
)

from landslide_ai.core import metrics as lm
from landslide_ai.core.errors import ModelLoadError
from landslide_ai.core.model_card import CARD_VERSION, CrackCard, ModelCard, SusceptibilityCard

ROOT = Path(__file__).resolve().parents[2]


def test_binary_metrics_agree_with_scikit_learn_at_any_threshold():
    """Every key equals scikit-learn's own function of the same labels, scores and threshold."""
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 300)
    p = np.clip(0.35 * y + rng.random(300) * 0.65, 0, 1)
    for t in (0.3, 0.5, 0.7):
        yhat = (p >= t).astype(int)
        m = lm.binary_metrics(y, p, t)
        assert list(m) == list(lm.ALL)
        assert m["roc_auc"] == pytest.approx(roc_auc_score(y, p))
        assert m["pr_auc"] == pytest.approx(average_precision_score(y, p))
        assert m["accuracy"] == pytest.approx(accuracy_score(y, yhat))
        assert m["precision"] == pytest.approx(precision_score(y, yhat))
        assert m["recall"] == pytest.approx(recall_score(y, yhat))
        assert m["f1"] == pytest.approx(f1_score(y, yhat))
        assert m["kappa"] == pytest.approx(cohen_kappa_score(y, yhat))
        assert m["mse"] == pytest.approx(np.mean((p - y) ** 2))
        assert m["false_positive_rate"] == pytest.approx(((yhat == 1) & (y == 0)).sum() / (y == 0).sum())
        assert lm.confusion(y, p, t) == [[int(((y == a) & (yhat == b)).sum()) for b in (0, 1)] for a in (0, 1)]


def test_undefined_metrics_are_nan_not_zero_and_unknown_keys_are_refused():
    """No positive prediction: precision is undefined (NaN), not 0; one class: both AUCs NaN."""
    y = np.array([0, 1, 0, 1])
    m = lm.binary_metrics(y, np.array([0.1, 0.2, 0.3, 0.4]), 0.5)
    assert np.isnan(m["precision"]) and np.isnan(m["f1"]) and m["recall"] == 0.0 and m["accuracy"] == 0.5
    one = lm.binary_metrics(np.zeros(4, int), np.array([0.1, 0.6, 0.3, 0.4]), 0.5)
    assert np.isnan(one["roc_auc"]) and np.isnan(one["pr_auc"]) and np.isnan(one["recall"])
    assert one["false_positive_rate"] == 0.25
    with pytest.raises(ValueError, match="Unknown metric 'auc'"):
        lm.binary_metrics(y, y.astype(float), 0.5, ["auc"])


def test_old_spellings_are_renamed_and_labels_are_for_display_only():
    """The paper's labels and the crack trainer's ``auc`` map onto the keys; a key already new wins."""
    assert lm.canonical_keys({"AUC": 0.8, "POD": 0.7, "MSE": 0.1, "n_test": 5}) == {
        "roc_auc": 0.8,
        "recall": 0.7,
        "mse": 0.1,
        "n_test": 5,
    }
    assert lm.canonical_keys({"auc": 0.1, "roc_auc": 0.9}) == {"roc_auc": 0.9}
    assert [lm.label(k) for k in lm.SUSCEPTIBILITY] == ["AUC", "ACC", "PRC", "POD", "Kappa", "MSE"]
    assert lm.label("f1") == "f1"


def _v1(card: ModelCard, path: Path, metrics: dict) -> Path:
    d = json.loads(card.to_json())
    d["card_version"] = 1
    d["metrics"] = metrics
    path.write_text(json.dumps(d))
    return path


def test_version_1_cards_are_read_in_the_new_vocabulary_and_newer_ones_refused(tmp_path):
    """A susceptibility card with AUC/POD, a crack card with test.auc and an adaptation's old key."""
    sus = SusceptibilityCard.create(
        architecture="rf",
        weights_file="m.skops",
        inputs={"factors": ["a"], "patch_size": 1, "n_vars": 1},
        normalisation={"factors": {"mean": [0.0], "std": [1.0]}},
        classes=["absence", "landslide"],
    )
    p = _v1(sus, tmp_path / "s.json", {"test": {"AUC": 0.8, "POD": 0.6}, "cv": {"sampled_absences": {"ACC": 0.7}}})
    got = SusceptibilityCard.load(p)
    assert got.card_version == CARD_VERSION
    assert got.metrics == {"test": {"roc_auc": 0.8, "recall": 0.6}, "cv": {"sampled_absences": {"accuracy": 0.7}}}
    crack = CrackCard.create(
        architecture="cnn",
        weights_file="c.pt",
        inputs={"input_px": 32},
        normalisation={"mean": [0.5] * 3, "std": [0.2] * 3},
        classes=["no_crack", "crack"],
    )
    old = {
        "test": {"auc": 0.9, "recall": 0.8, "confusion": [[1, 0], [0, 1]]},
        "held_out": {"site": {"roc_auc": {"value": 0.7, "ci95": [0.6, 0.8]}}},
        "adapt_cv": {"auc": 0.75, "base_auc_same_chips": 0.6},
    }
    got = ModelCard.load(_v1(crack, tmp_path / "c.json", old))
    assert got.metrics["test"] == {"roc_auc": 0.9, "recall": 0.8, "confusion": [[1, 0], [0, 1]]}
    assert got.metrics["held_out"] == old["held_out"]
    assert got.metrics["adapt_cv"] == {"roc_auc": 0.75, "base_roc_auc_same_chips": 0.6}
    d = json.loads(crack.to_json()) | {"card_version": CARD_VERSION + 1}
    (tmp_path / "n.json").write_text(json.dumps(d))
    with pytest.raises(ModelLoadError, match="newer than this Landslide AI reads"):
        ModelCard.load(tmp_path / "n.json")


def test_shipped_cards_read_in_the_new_vocabulary():
    """The shipped crack cards (written at version 1) give ``roc_auc`` to every reader."""
    for f in sorted((ROOT / "resources" / "pretrained").glob("*.json")):
        card = CrackCard.load(f)
        assert "auc" not in card.metrics["test"] and 0.5 < card.metrics["test"]["roc_auc"] <= 1.0


def test_no_code_reads_or_writes_an_old_metric_key():
    """Outside ``core/metrics.py`` no module subscripts or writes a metric by its old spelling."""
    old = re.compile(r"""(\[|\{\s*|,\s*|get\()["'](AUC|ACC|PRC|POD|Kappa|MSE|auc)["']\s*[\]:,)]""")
    found = [
        f"{f.relative_to(ROOT)}:{i}"
        for folder in ("core", "algorithms", "ui", "plugin", "scripts", "bench")
        for f in (ROOT / folder).rglob("*.py")
        if f.name != "metrics.py" or f.parent.name != "core"
        for i, line in enumerate(f.read_text(encoding="utf-8").splitlines(), 1)
        if old.search(line)
    ]
    assert not found, found
