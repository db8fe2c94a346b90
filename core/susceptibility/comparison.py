"""The ``lsm_train`` engine call: read samples, train and compare models, explain, report."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InvalidInputError
from ..progress import NullProgress, Progress, SubProgress
from ..raster.io import write_csv_atomic, write_text_atomic
from .cross_validation import CVConfig, CVResult, cross_validate, cv_rows, fold_rows
from .evaluate import SEPARABLE_AUC, fair_play_warnings, single_factor_auc
from .explain import correlation, deep_importance, tree_importance
from .fitting import EpochCallback, TrainConfig, check_packages
from .models import DEEP_MODELS, DISPLAY
from .report import comparison_table, correlation_outputs, curves_figure, importance_outputs, roc_figure
from .train import prepare, train_all


def _strategy_of(samples: str, crs_wkt: str) -> str | None:
    """The absence strategy recorded by ``lsm_sample_absences`` in the samples' 'strategy' field, if any."""
    from ..sampling.points import read_points

    attrs = read_points(samples, crs_wkt).attrs
    values = {str(v) for v in attrs.get("strategy", [])}
    return values.pop() if len(values) == 1 else None


@dataclass
class TrainOutputs:
    """Paths and figures of a training run."""

    out_dir: str
    table_csv: str
    table_html: str
    results: list
    importance: dict
    flagged: list
    test_labels: np.ndarray  # labels of the test rows, in the order of each result's ``test_prob``
    cv: CVResult | None = None


def run_training(
    stack: str,
    samples: str,
    out_dir: str,
    cfg: TrainConfig,
    temporal_stack: str | None = None,
    progress: Progress | None = None,
    on_epoch: EpochCallback | None = None,
    corr_threshold: float = 0.5,
    cv: CVConfig | None = None,
    group_field: str | None = None,
) -> TrainOutputs:
    """Train ``cfg.models`` on ``samples`` over ``stack`` and write the comparison outputs to ``out_dir``."""
    check_packages(cfg)
    progress = progress or NullProgress()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    prep = prepare(stack, samples, cfg, temporal_stack, progress=SubProgress(progress, 0, 0.1))
    d = prep.data
    progress.log(
        f"{d.labels.size} samples ({int(d.labels.sum())} landslides); "
        f"train {int((~d.is_test).sum())}, test {int(d.is_test.sum())}; temporal mode {cfg.temporal_mode.value}"
    )
    cv_res = None
    start = 0.1
    if cv is not None and cv.folds >= 2:
        groups = None
        if group_field:
            if group_field not in prep.attrs:
                raise InvalidInputError(
                    f"The samples have no field '{group_field}' for the mapping units; their fields are "
                    f"{sorted(prep.attrs)}."
                )
            groups = prep.attrs[group_field]
        cv_res = cross_validate(prep, stack, cfg, cv, temporal_stack, groups, progress=SubProgress(progress, 0.1, 0.7))
        head, rows = cv_rows(cv_res)
        write_csv_atomic(out / "cv_comparison.csv", head, rows)
        head, rows = fold_rows(cv_res)
        write_csv_atomic(out / "cv_folds.csv", head, rows)
        start = 0.7
    results = train_all(prep, cfg, out_dir, SubProgress(progress, start, 0.85), on_epoch)
    note = (
        f"Test split: {int(d.is_test.sum())} held-out samples ({int(d.labels[d.is_test].sum())} landslides) "
        f"from the sample layer's 'split' field; temporal mode: {cfg.temporal_mode.value}; seed {cfg.seed}."
    )
    separability = single_factor_auc(d.centre, d.labels, prep.features)
    warnings = fair_play_warnings(separability, _strategy_of(samples, prep.crs_wkt))
    for r in results:
        warnings += [f"{DISPLAY[r.kind]} {f}." for f in r.flags]
    if cv_res is not None:
        for m in cv_res.models:
            warnings += [f"{DISPLAY[m.kind]} (spatial CV) {f}." for f in m.flags]
    for w in warnings:
        progress.log("Warning: " + w)
    write_csv_atomic(
        out / "fair_play.csv",
        ["factor", "single_factor_auc", "flag"],
        [[n, f"{a:.4f}", "separates alone" if a > SEPARABLE_AUC else ""] for n, a in separability.items()],
    )
    csv, htm = comparison_table(results, out, note, warnings, cv_res)
    roc_figure(results, out / "roc.png")
    curves_figure(results, out / "training_curves.png")
    progress.report(0.9, "SHAP importance")
    importance: dict[str, dict[str, float]] = {}
    te = np.flatnonzero(d.is_test)[: cfg.shap_samples]
    if cfg.shap_samples > 0:
        from .predict import load_model

        deep = [r for r in results if r.kind in DEEP_MODELS]
        explained = [max(deep, key=lambda r: DEEP_MODELS.index(r.kind))] if deep else []  # CNN-LSTM-AM first
        explained += [r for r in results if r.kind == "rf"]
        for r in explained:
            lm = load_model(r.card_path)
            if lm.net is not None:
                importance[r.kind] = deep_importance(
                    lm.net,
                    d.patches,
                    d.series,
                    50,
                    cfg.seed,
                    prep.features,
                    lm.card.temporal_mode,
                    ["rain", "temp"],
                    te,
                )
            else:
                importance[r.kind] = tree_importance(lm.tree, d.centre[te], prep.features)
        if importance:
            importance_outputs(importance, out)
    corr, flagged = correlation(d.centre, prep.features, corr_threshold)
    correlation_outputs(corr, prep.features, flagged, out, corr_threshold)
    write_text_atomic(out / "history.json", json.dumps({x.kind: x.history for x in results if x.history}))
    progress.report(1.0, "training done")
    return TrainOutputs(str(out), csv, htm, results, importance, flagged, d.labels[d.is_test], cv_res)
