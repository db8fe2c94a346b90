"""SHAP factor importance and the factor correlation matrix (paper Sect. 3.1).

Deep models: ``shap.GradientExplainer`` (expected gradients) on patches and series; a factor's
attribution is the sum of its SHAP values over the patch (and over the sequence position that
carries it in factor-sequence mode), and importance is the mean absolute attribution over the
explained test samples. Tree models: ``shap.TreeExplainer`` on the centre-cell vector.
"""

from __future__ import annotations

from types import ModuleType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


import numpy as np

from ..errors import MissingDependencyError


def _shap() -> ModuleType:
    try:
        import shap
    except ImportError as exc:
        raise MissingDependencyError("SHAP importance needs shap: pip install shap") from exc
    return shap


def deep_importance(
    model: torch.nn.Module,
    patches: np.ndarray,
    series: np.ndarray | None,
    background: int,
    seed: int,
    names: list[str],
    temporal_mode: str,
    climate_vars: list[str] | None = None,
    explain: np.ndarray | None = None,
) -> dict[str, float]:
    """Mean |SHAP| per factor for a deep model (plus one entry per climate variable)."""
    import torch

    shap = _shap()
    rng = np.random.default_rng(seed)
    bg = rng.choice(patches.shape[0], min(background, patches.shape[0]), replace=False)
    ex = explain if explain is not None else np.arange(min(100, patches.shape[0]))
    model = model.cpu().eval()
    inputs_bg, inputs_ex = [], []
    uses_cnn = model.cnn is not None
    if uses_cnn:
        inputs_bg.append(torch.from_numpy(patches[bg]))
        inputs_ex.append(torch.from_numpy(patches[ex]))
    if model.lstm is not None:
        if series is None:
            raise ValueError("a model with an LSTM branch needs its series to be explained")
        inputs_bg.append(torch.from_numpy(series[bg]))
        inputs_ex.append(torch.from_numpy(series[ex]))

    class Wrap(torch.nn.Module):
        def __init__(self, m: torch.nn.Module) -> None:
            super().__init__()
            self.m = m

        def forward(self, *xs: torch.Tensor) -> torch.Tensor:
            p = xs[0] if uses_cnn else None
            s = xs[-1] if self.m.lstm is not None else None
            return torch.sigmoid(self.m(p, s)).unsqueeze(1)

    explainer = shap.GradientExplainer(Wrap(model), inputs_bg)
    vals = explainer.shap_values(inputs_ex, rseed=seed)
    vals = [np.asarray(v) for v in (vals if isinstance(vals, list) else [vals])]
    vals = [v[..., 0] if v.shape[-1] == 1 and v.ndim > 2 else v for v in vals]
    contrib = np.zeros((len(ex), len(names)))
    extra: dict[str, np.ndarray] = {}
    i = 0
    if uses_cnn:
        contrib += vals[i].reshape(len(ex), len(names), -1).sum(axis=2)
        i += 1
    if model.lstm is not None:
        sv = vals[i]  # (N, T, V)
        if temporal_mode == "factor_sequence":
            contrib += sv[:, :, 0]
        else:
            for v, vn in enumerate(climate_vars or [f"var{j}" for j in range(sv.shape[2])]):
                extra[vn] = sv[:, :, v].sum(axis=1)
    out = {n: float(np.mean(np.abs(contrib[:, j]))) for j, n in enumerate(names)}
    out.update({k: float(np.mean(np.abs(v))) for k, v in extra.items()})
    return out


def tree_importance(model: object, x: np.ndarray, names: list[str]) -> dict[str, float]:
    """Mean |SHAP| per factor for a Random Forest (TreeExplainer, positive class)."""
    shap = _shap()
    sv = shap.TreeExplainer(model).shap_values(x)
    sv = np.asarray(sv)
    if sv.ndim == 3:  # (N, F, classes) in shap >= 0.45, or (classes, N, F) before
        sv = sv[..., 1] if sv.shape[-1] == 2 else sv[1]
    return {n: float(np.mean(np.abs(sv[:, j]))) for j, n in enumerate(names)}


def correlation(
    x: np.ndarray, names: list[str], threshold: float = 0.5
) -> tuple[np.ndarray, list[tuple[str, str, float]]]:
    """Pearson matrix of factor values at the samples and the pairs with |R| >= threshold."""
    r = np.corrcoef(x, rowvar=False)
    r = np.nan_to_num(r)
    flagged = [
        (names[i], names[j], float(r[i, j]))
        for i in range(len(names))
        for j in range(i + 1, len(names))
        if abs(r[i, j]) >= threshold
    ]
    return r, flagged
