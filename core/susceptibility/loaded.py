"""Loading a saved susceptibility model: its card, normalisation and weights, checked, ready to score.

Why a module of its own: prediction, the Dask workers and the ONNX exporter all start from a loaded
model; with the loader inside the predictor, ``onnx_models`` and ``distributed`` imported the
predictor that imported them back (issue 22's import circle).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..model_card import read_card_json
from .mean_card import MeanCard, mean_card_from_dict

if TYPE_CHECKING:
    from .networks import SeedEnsemble, SusceptibilityNet


from dataclasses import dataclass

from ..dependencies import require
from ..errors import ModelLoadError
from ..model_card import ModelKind, SusceptibilityCard
from .dataset import Normalisation
from .models import DeepHP
from .tabular_io import LEGACY_SUFFIX, load_tabular, model_n_features


@dataclass
class LoadedModel:
    """A model ready to score cells."""

    card: SusceptibilityCard
    kind: str
    net: SusceptibilityNet | SeedEnsemble | None
    tree: Any
    norm: Normalisation
    climate_norm: Normalisation | None


def load_model(card_path: str, card: SusceptibilityCard | None = None) -> LoadedModel:
    """Load a model from its card (the weights file sits beside it, checked by ``weights_path``).

    Nothing here can run code from the files: torch weights are read with ``weights_only`` and the
    tabular models from the data-only format of :mod:`.tabular_io`; a ``.joblib`` (pickle) of an
    older version is refused with the one command that converts it safely.
    """
    card = card or SusceptibilityCard.load(card_path)  # a card already read is not read again
    w = card.weights_path(card_path)
    norm = Normalisation(**card.factor_normalisation)
    cn = card.climate_normalisation
    climate_norm = Normalisation(**cn) if cn else None
    if card.kind.is_deep:
        require(("torch",), f"The {card.kind.display} model of {card_path}")
        from ..runtime import load_weights
        from .networks import SeedEnsemble, SusceptibilityNet

        hpd = {k: v for k, v in card.hyperparameters.items() if k in DeepHP().to_dict()}
        hpd.setdefault("cnn_padding", "same")  # cards written before the unpadded variant existed
        hpd.setdefault("centre_skip", False)  # cards written before the centre skip existed
        members = [
            SusceptibilityNet(
                card.architecture,
                norm.n_channels,
                card.n_vars,
                DeepHP(**hpd),
                card.patch_size,
            )
            for _ in range(card.ensemble)
        ]
        net = members[0] if len(members) == 1 else SeedEnsemble(members)
        load_weights(net, w, card.architecture)
        return LoadedModel(card, card.architecture, net.eval(), None, norm, climate_norm)
    if w.suffix == LEGACY_SUFFIX:
        raise ModelLoadError(
            f"{w} is a pickled model of Landslide AI <= 0.2; pickles can run code when loaded, so it is not "
            "opened. Convert the card once with Processing 'Convert an old model card (.joblib)' or "
            f"`python -m core convert-model {card_path} NEW_FOLDER` (both read only the expected scikit-learn/XGBoost "
            "types and refuse anything else), or retrain."
        )
    if card.kind is ModelKind.XGB_LR:
        require(("xgboost",), f"The XGBoost-LR model of {card_path}")
    tree = load_tabular(w, card.kind.value)
    if model_n_features(tree, card.kind.value) != norm.n_channels:
        raise ModelLoadError(
            f"The model file {w} takes {model_n_features(tree, card.kind.value)} factor values but its card names "
            f"{norm.n_channels}: the card and the file belong to different models. Use the card saved with the file."
        )
    return LoadedModel(card, card.architecture, None, tree, norm, climate_norm)


def open_card(card_path: str) -> LoadedModel | MeanCard:
    """The model a card file holds, read once: a loaded model, or a mean card (whose members load later)."""
    path, doc = read_card_json(card_path)
    mean = mean_card_from_dict(doc, path)
    if mean is not None:
        return mean
    return load_model(str(path), SusceptibilityCard.from_dict(doc, path))
