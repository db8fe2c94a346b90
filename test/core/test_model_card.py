"""Typed model cards: one reader/writer per task, schema-checked, with the model kinds as enums."""

from __future__ import annotations

import json

import pytest

from landslide_ai.core.errors import ModelLoadError
from landslide_ai.core.model_card import CrackArch, CrackCard, ModelCard, ModelKind, SusceptibilityCard
from landslide_ai.core.susceptibility.models import ALL_MODELS, DEEP_MODELS, DISPLAY, SERIES_MODELS


def _susceptibility(**over) -> SusceptibilityCard:
    fields = {
        "architecture": "cnn_lstm_am",
        "weights_file": "m.pt",
        "inputs": {
            "factors": ["elevation", "slope"],
            "patch_size": 9,
            "n_vars": 2,
            "n_steps": 12,
            "temporal_mode": "climate",
            "resolution_m": 30.0,
        },
        "normalisation": {"factors": {"mean": [1.0, 2.0], "std": [3.0, 4.0]}, "climate": None},
        "classes": ["absence", "landslide"],
        "hyperparameters": {"ensemble": 3},
    }
    return SusceptibilityCard.create(**(fields | over))


def _crack() -> CrackCard:
    return CrackCard.create(
        architecture="resnet50_se",
        weights_file="c.pt",
        inputs={"input_px": 227, "domain": {"mean": [0.0]}},
        normalisation={"mean": [0.4, 0.5, 0.6], "std": [0.2, 0.2, 0.2], "resize": "x"},
        classes=["no_crack", "crack"],
        hyperparameters={"se_reduction": 8, "dropout": 0.3},
    )


def test_round_trip_returns_the_typed_card(tmp_path):
    s, c = _susceptibility(), _crack()
    s.save(tmp_path / "s.json")
    c.save(tmp_path / "c.json")
    back = ModelCard.load(tmp_path / "s.json")
    assert isinstance(back, SusceptibilityCard) and back == s
    assert back.kind is ModelKind.CNN_LSTM_AM and back.kind.is_deep and back.kind.uses_series
    assert (back.factors, back.patch_size, back.n_vars, back.n_steps) == (["elevation", "slope"], 9, 2, 12)
    assert (back.temporal_mode, back.resolution_m, back.ensemble) == ("climate", 30.0, 3)
    assert back.factor_normalisation == {"mean": [1.0, 2.0], "std": [3.0, 4.0]} and back.climate_normalisation is None
    cb = CrackCard.load(tmp_path / "c.json")
    assert cb.arch is CrackArch.RESNET50_SE and cb.input_px == 227
    assert cb.mean == (0.4, 0.5, 0.6) and cb.std == (0.2, 0.2, 0.2)
    assert (cb.se_reduction, cb.dropout, cb.resize, cb.domain) == (8, 0.3, "x", {"mean": [0.0]})


def test_typed_loader_refuses_the_other_task(tmp_path):
    _crack().save(tmp_path / "c.json")
    _susceptibility().save(tmp_path / "s.json")
    with pytest.raises(ModelLoadError, match="not a susceptibility model"):
        SusceptibilityCard.load(tmp_path / "c.json")
    with pytest.raises(ModelLoadError, match="not a crack classifier"):
        CrackCard.load(tmp_path / "s.json")
    with pytest.raises(ModelLoadError, match="holds 'crack' models"):
        CrackCard(task="susceptibility", architecture="cnn", weights_file="x", inputs={}, normalisation={}, classes=[])


def test_old_cards_read_with_documented_defaults(tmp_path):
    """Cards from before a key was recorded load with the value that version used."""
    s = _susceptibility(inputs={"factors": ["a", "b"], "patch_size": 1, "n_vars": 1}, hyperparameters={})
    s.architecture = "rf"
    s.save(tmp_path / "s.json")
    back = SusceptibilityCard.load(tmp_path / "s.json")
    assert (back.n_steps, back.temporal_mode, back.resolution_m, back.ensemble) == (None, "none", None, 1)
    assert back.kind is ModelKind.RF and back.kind.is_tree and not back.kind.is_deep


def test_unknown_architecture_is_named(tmp_path):
    d = json.loads(_susceptibility().to_json())
    d["architecture"] = "unet"
    (tmp_path / "s.json").write_text(json.dumps(d))
    with pytest.raises(ModelLoadError, match="'architecture'.*'unet'"):
        ModelCard.load(tmp_path / "s.json")


def test_model_tuples_are_views_of_the_enum():
    assert ALL_MODELS == tuple(k.value for k in ModelKind)
    assert DEEP_MODELS == ("cnn", "lstm", "cnn_lstm", "cnn_lstm_am")
    assert SERIES_MODELS == ("lstm", "cnn_lstm", "cnn_lstm_am")
    assert DISPLAY["xgb_lr"] == ModelKind.XGB_LR.display == "XGBoost-LR"
    assert ModelKind("cnn") == "cnn"  # a StrEnum: cards keep plain strings


def test_card_payloads_are_one_spelling_for_writer_reader_and_validator(tmp_path):
    """inputs / crack normalisation are dataclasses: a typo is refused when the card is written, a bad
    value names its key when it is read, and a key a newer card adds is left out, not guessed at."""
    import json

    from landslide_ai.core.model_card import CrackCard, CrackInputs, CrackNormalisation, SusceptibilityInputs

    good = SusceptibilityInputs(factors=["a", "b"], n_vars=1, patch_size=8, n_steps=2, resolution_m=30.0)
    norm = {"factors": {"mean": [0.0, 0.0], "std": [1.0, 1.0]}}
    card = SusceptibilityCard.create(
        architecture="cnn", weights_file="m.pt", inputs=good, normalisation=norm, classes=["absence", "landslide"]
    )
    assert card.typed_inputs == good and card.patch_size == 8 and card.n_steps == 2 and card.resolution_m == 30.0
    with pytest.raises(ModelLoadError, match="'inputs.patch_size': the key is missing"):
        SusceptibilityCard.create(
            architecture="cnn",
            weights_file="m.pt",
            inputs={"factors": ["a"], "n_vars": 1, "patchsize": 8},  # the typo a dict lets through
            normalisation=norm,
            classes=["absence", "landslide"],
        )
    d = json.loads(card.to_json())
    d["inputs"]["n_vars"] = "1"
    (tmp_path / "c.json").write_text(json.dumps(d))
    with pytest.raises(ModelLoadError, match=r"'inputs.n_vars': expected int, found str"):
        SusceptibilityCard.load(tmp_path / "c.json")
    d["inputs"]["n_vars"], d["inputs"]["factors"] = 1, ["a", 2]
    (tmp_path / "c.json").write_text(json.dumps(d))
    with pytest.raises(ModelLoadError, match="'inputs.factors': expected a list of str"):
        SusceptibilityCard.load(tmp_path / "c.json")
    d["inputs"]["factors"], d["inputs"]["added_later"] = ["a", "b"], {"x": 1}
    (tmp_path / "c.json").write_text(json.dumps(d))
    assert SusceptibilityCard.load(tmp_path / "c.json").typed_inputs == good
    crack = CrackCard.create(
        architecture="cnn",
        weights_file="c.pt",
        inputs=CrackInputs(input_px=48),
        normalisation=CrackNormalisation(mean=[0.5, 0.5, 0.5], std=[0.2, 0.2, 0.2], resize="bilinear"),
        classes=["no_crack", "crack"],
    )
    assert crack.input_px == 48 and crack.std == (0.2, 0.2, 0.2) and crack.resize == "bilinear"
    d = json.loads(crack.to_json())
    d["normalisation"]["mean"] = [0.5, True, 0.5]  # a bool is not a number
    (tmp_path / "k.json").write_text(json.dumps(d))
    with pytest.raises(ModelLoadError, match="'normalisation.mean': expected a list of float"):
        CrackCard.load(tmp_path / "k.json")
