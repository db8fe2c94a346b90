"""The Bayesian hyper-parameter search: inside the paper's intervals, seeded, training rows only."""

from __future__ import annotations

import numpy as np

from landslide_ai.core.susceptibility.fitting import TemporalMode, TrainConfig
from landslide_ai.core.susceptibility.models import DeepHP
from landslide_ai.core.susceptibility.search import search_hyperparameters
from landslide_ai.core.susceptibility.train import prepare


def test_search_is_seeded_bounded_and_never_reads_the_test_rows(tiny_samples, monkeypatch):
    stack, samples, _ = tiny_samples
    cfg = TrainConfig(
        patch_size=8, epochs=2, batch_size=32, search_trials=3, search_model="cnn", temporal_mode=TemporalMode.NONE
    )
    prep = prepare(stack, samples, cfg)
    seen: list[np.ndarray] = []
    from landslide_ai.core.susceptibility import search

    real_fit = search.fit_deep

    def spy(kind, data, train_idx, val_idx, *args, **kwargs):
        seen.append(np.concatenate([train_idx, val_idx]))
        return real_fit(kind, data, train_idx, val_idx, *args, **kwargs)

    monkeypatch.setattr(search, "fit_deep", spy)
    first = search_hyperparameters(prep, cfg)
    second = search_hyperparameters(prep, cfg)
    assert first == second and isinstance(first, DeepHP)  # the sampler is seeded
    assert 16 <= first.filters <= 128 and 1e-4 <= first.lr <= 1e-2 and 1e-5 <= first.l2 <= 1e-1
    assert (
        0.1 <= first.dropout <= 0.5 and 1 <= first.lstm_layers <= 3 and first.activation in {"relu", "tanh", "sigmoid"}
    )
    assert len(seen) == 2 * 3 * 3  # two searches x 3 trials x 3 spatial folds
    rows = np.unique(np.concatenate(seen))
    assert not prep.data.is_test[rows].any()  # only training rows are fitted or validated on


def test_a_searched_model_after_cv_says_its_cv_figures_are_for_the_defaults(tiny_samples, tmp_path):
    """The CV evaluates the default hyper-parameters; a searched refit must not borrow those figures silently."""
    import json

    from landslide_ai.core.susceptibility.comparison import run_training
    from landslide_ai.core.susceptibility.cross_validation import CVConfig

    stack, samples, _ = tiny_samples
    cfg = TrainConfig(
        models=("cnn", "rf"), patch_size=8, epochs=2, batch_size=32, search_trials=2, search_model="cnn",
        temporal_mode=TemporalMode.NONE, shap_samples=0, rf_trees=20,
    )  # fmt: skip
    logs: list[str] = []

    from landslide_ai.core.progress import NullProgress

    class Log(NullProgress):
        def log(self, message: str) -> None:
            logs.append(message)

    run_training(stack, samples, str(tmp_path), cfg, progress=Log(), cv=CVConfig(folds=3, block_m=450.0, n_boot=50))
    cnn = json.loads((tmp_path / "cnn.json").read_text())["metrics"]["cv"]
    rf = json.loads((tmp_path / "rf.json").read_text())["metrics"]["cv"]
    assert "searched" in cnn.get("hyperparameters", "") and "hyperparameters" not in rf
    assert any("did not evaluate" in line for line in logs)
