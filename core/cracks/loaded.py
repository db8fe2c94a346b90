"""Loading a crack classifier from its card: architecture, weights (checked), preprocessing recipe.

Why a module of its own: prediction, evaluation, adaptation, training (to score its held-out
images) and the ONNX exporter all start from a loaded classifier; with the loader inside the
predictor, ``onnx_models`` and the predictor imported each other (issue 22's import circle).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..errors import InvalidInputError, ModelLoadError
from ..model_card import CrackCard
from ..runtime import load_weights
from .models import build_model, fold_batch_norms, target_layer
from .preprocess import RECIPE


@dataclass
class LoadedCrackModel:
    """A classifier and its card."""

    card: CrackCard
    model: torch.nn.Module
    mean: torch.Tensor
    std: torch.Tensor


def load_crack_model(card_path: str, device: torch.device, inference: bool = False) -> LoadedCrackModel:
    """Load a crack classifier from its card; refuses cards of other tasks.

    ``inference``: batch norms folded into their convolutions (:func:`.models.fold_batch_norms`),
    for runs that only score chips (mapping, Grad-CAM, evaluation); never for a model that is
    trained further or saved again.
    """
    card = CrackCard.load(card_path)
    try:
        model = build_model(
            card.architecture, len(card.classes), card.se_reduction, card.dropout, finetune_blocks=card.finetune_blocks
        )
    except (ValueError, KeyError, TypeError, InvalidInputError) as exc:
        raise ModelLoadError(f"The model card {card_path} names an unusable architecture or classes: {exc}") from exc
    w = card.weights_path(card_path)
    load_weights(model, w, card.architecture)
    resize = card.resize or RECIPE["resize"]  # cards before the recipe was recorded: the same
    if resize != RECIPE["resize"]:
        raise ModelLoadError(
            f"The model card {card_path} was trained with the resize '{resize}', which this version does not "
            f"reproduce ('{RECIPE['resize']}'): retrain the model with this version."
        )
    mean = torch.tensor(card.mean, dtype=torch.float32)[:, None, None]
    std = torch.tensor(card.std, dtype=torch.float32)[:, None, None]
    # channels-last: the bare forward runs 1.35x (ResNet50+SE) to 2.05x (CNN) faster on CPU (measured), same results
    model = model.to(device).eval().to(memory_format=torch.channels_last)
    if inference:
        # its own generator: loading a model must not move the global random stream
        rng = torch.Generator().manual_seed(0)
        example = torch.randn(2, 3, card.input_px, card.input_px, generator=rng).to(memory_format=torch.channels_last)
        model, _ = fold_batch_norms(model, example, target_layer(model))
    return LoadedCrackModel(card, model, mean.to(device), std.to(device))
