"""The ``lsm_train`` engine call: read samples, train and compare models, explain, report."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ..errors import InvalidInputError
from ..progress import NullProgress, Progress, SubProgress
from ..raster.io import write_csv_atomic, write_text_atomic
from .cross_validation import CVConfig, CVResult, EnsembleCV, area_cells, cross_validate, cv_rows, fold_rows
from .evaluate import fair_play_warnings, separability_flag, single_factor_auc
from .explain import correlation, deep_importance, tree_importance
from .fitting import EpochCallback, TrainConfig, check_packages
from .models import DEEP_MODELS, DISPLAY, SERIES_MODELS
from .report import comparison_table, correlation_outputs, curves_figure, importance_outputs, roc_figure
from .train import prepare, train_all


def _strategy_of(samples: str, crs_wkt: str) -> str | None:
    """The absence strategy recorded by ``lsm_sample_absences`` in the samples' 'strategy' field, if any."""
    from ..sampling.points import read_points

    attrs = read_points(samples, crs_wkt).attrs
    values = {str(v) for v in attrs.get("strategy", [])}
    return values.pop() if len(values) == 1 else None


#: cells drawn over the stack for the zoning breaks each card stores (binomial standard error of a
#: quintile break: sqrt(0.2 * 0.8 / 5000), 0.6 % of the area)
ZONING_CELLS = 5000


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
    mapped_card: str = ""  # the card a chained lsm_predict maps with
    mapping_note: str = ""  # why that one, in one or two sentences


#: ``mapped`` choice of :func:`run_training`: the model with the best CV prediction rate
BEST_BY_CV = "best_cv"
#: ``mapped`` choice: the mean of the models not distinguishable from the best (a mean card)
MEAN_OF_TOP = "mean_top"


def _write_mean(card: str, results: list, e: EnsembleCV) -> None:
    """The mean card of the ensemble ``e`` (an ``EnsembleCV``), with zoning breaks of the members' mean."""
    from .mean_card import write_mean_card
    from .train import zoning_breaks

    members = [r for k in e.kinds for r in results if r.kind == k]
    areas = [r.p_area for r in members if r.p_area.size]
    zoning = zoning_breaks(np.mean(areas, axis=0), areas[0].size) if len(areas) == len(members) else None
    metrics = {
        "cv": {
            "prediction_rate_auc": e.rate_auc,
            "prediction_rate_ci": list(e.rate_ci),
            "gain_on_best": e.gain,
            "gain_ci": list(e.gain_ci),
        },
        "fit": "mean of the member models' probabilities; each refit on all samples after the CV",
    }
    write_mean_card(card, [Path(r.card_path).name for r in members], metrics, zoning, int(members[0].test_prob.size))


class MappedChoice(NamedTuple):
    """The model to map: its card, the sentence that says why, and the ensemble when it is a mean.

    A mean's card does not exist yet when it is chosen: the caller writes it (:func:`_write_mean`),
    so that choosing has no side effect on the output folder.
    """

    card: str
    note: str
    ensemble: EnsembleCV | None = None


def choose_mapped(results: list, cv: CVResult | None, mapped: str = BEST_BY_CV) -> MappedChoice:
    """The model to map (card path and reason; a mean's card is written by the caller).

    ``mapped``: a model kind (the user's choice, e.g. the paper's ``cnn_lstm_am``) or ``best_cv``:
    the model with the best cross-validated prediction rate, with a sentence saying whether it is
    distinguishable from the runner-up. Without CV there is no evidence to choose by: the paper's
    CNN-LSTM-AM when trained (never "the best test AUC", which would make the test figure
    optimistic), else the first model.
    Why: on a held-back area the always-mapped CNN-LSTM-AM ranked 5th-8th of 8 in the tool's own CV.
    """
    from .cross_validation import leaders_sentence, ranking

    by_kind = {r.kind: r.card_path for r in results}
    if not by_kind:
        return MappedChoice("", "No model was trained.")
    if mapped == MEAN_OF_TOP:
        e = cv.ensemble if cv is not None else None
        if e is not None and all(k in by_kind for k in e.kinds):
            card = str(Path(by_kind[e.kinds[0]]).parent / "mean_top.json")
            verdict = "better than" if e.gain_ci[0] > 0 else "not distinguishable from"
            return MappedChoice(
                card,
                (
                    f"Mapped model: the {e.name} (chosen by the user), CV prediction rate {e.rate_auc:.3f} "
                    f"({e.rate_ci[0]:.3f}-{e.rate_ci[1]:.3f}), {verdict} the best single model "
                    f"({e.gain:+.3f}, paired 95 % CI {e.gain_ci[0]:+.3f} to {e.gain_ci[1]:+.3f})."
                ),
                e,
            )
        mapped = BEST_BY_CV
        lead = "No mean was mapped: fewer than two models are indistinguishable from the best (or no CV ran). "
    else:
        lead = ""
    if mapped != BEST_BY_CV:
        if mapped not in by_kind:
            raise InvalidInputError(
                f"The model to map, {DISPLAY.get(mapped, mapped)}, was not trained; add it to the models or choose "
                "'best cross-validated prediction rate'."
            )
        note = f"Mapped model: {DISPLAY[mapped]} (chosen by the user)."
        if cv is not None:
            note += " " + leaders_sentence(cv)
        return MappedChoice(by_kind[mapped], note)
    if cv is not None:
        best = next((m for m in ranking(cv) if m.kind in by_kind and np.isfinite(m.rate_auc)), None)
        if best is not None:
            return MappedChoice(
                by_kind[best.kind],
                f"{lead}Mapped model: {DISPLAY[best.kind]}, the best cross-validated prediction rate. "
                + leaders_sentence(cv),
            )
    kind = "cnn_lstm_am" if "cnn_lstm_am" in by_kind else results[0].kind
    return MappedChoice(
        by_kind[kind],
        f"{lead}Mapped model: {DISPLAY[kind]} (no cross-validation ran, so there is no evidence to choose by; "
        "the paper's model when trained).",
    )


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
    mapped: str = BEST_BY_CV,
) -> TrainOutputs:
    """Train ``cfg.models`` on ``samples`` over ``stack`` and write the comparison outputs to ``out_dir``.

    With ``cv`` the saved models are refit on all samples after the cross-validation and the
    mapped model is chosen by ``mapped`` (see :func:`choose_mapped`).
    """
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
        cv_res = cross_validate(prep, cfg, cv, groups, progress=SubProgress(progress, 0.1, 0.7), on_epoch=on_epoch)
        head, rows = cv_rows(cv_res)
        write_csv_atomic(out / "cv_comparison.csv", head, rows)
        head, rows = fold_rows(cv_res)
        write_csv_atomic(out / "cv_folds.csv", head, rows)
        start = 0.7
    if mapped not in (BEST_BY_CV, MEAN_OF_TOP) and mapped not in cfg.models:
        raise InvalidInputError(f"The model to map, {DISPLAY.get(mapped, mapped)}, is not among the models trained.")
    area = area_cells(prep, cfg, ZONING_CELLS)
    results = train_all(prep, cfg, out_dir, SubProgress(progress, start, 0.85), on_epoch, cv_res, area)
    del area
    if cv_res is not None:
        note = (
            f"Saved models: refit on all {d.labels.size} samples ({int(d.labels.sum())} landslides) after the "
            "cross-validation above, whose figures estimate their skill. Below: pooled out-of-fold metrics on the "
            f"sampled absences (not skill); temporal mode: {cfg.temporal_mode.value}; seed {cfg.seed}."
        )
    else:
        note = (
            f"Test split: {int(d.is_test.sum())} held-out samples ({int(d.labels[d.is_test].sum())} landslides) "
            f"from the sample layer's 'split' field; temporal mode: {cfg.temporal_mode.value}; seed {cfg.seed}."
        )
    choice = choose_mapped(results, cv_res, mapped)
    if choice.ensemble is not None:
        _write_mean(choice.card, results, choice.ensemble)
    mapped_card, mapping_note = choice.card, choice.note
    progress.log(mapping_note)
    separability = single_factor_auc(d.centre, d.labels, prep.features)
    warnings = fair_play_warnings(separability, _strategy_of(samples, prep.crs_wkt))
    if cv_res is not None:  # the saved models' flags are their CV flags: said once
        for m in cv_res.models:
            warnings += [f"{DISPLAY[m.kind]} (spatial CV) {f}." for f in m.flags]
    else:
        for r in results:
            warnings += [f"{DISPLAY[r.kind]} {f}." for f in r.flags]
    for w in warnings:
        progress.log("Warning: " + w)
    write_csv_atomic(
        out / "fair_play.csv",
        ["factor", "single_factor_auc", "flag"],
        [[n, f"{a:.4f}", separability_flag(a)] for n, a in separability.items()],
    )
    csv, htm = comparison_table(results, out, note, warnings, cv_res, mapping_note)
    roc_figure(
        results, out / "roc.png", "ROC, out-of-fold (sampled absences)" if cv_res is not None else "ROC, test split"
    )
    curves_figure(results, out / "training_curves.png")
    progress.report(0.9, "SHAP importance")
    importance: dict[str, dict[str, float]] = {}
    if cv_res is None:
        te = np.flatnonzero(d.is_test)[: cfg.shap_samples]
    else:  # refit on all samples: explain a seeded subset of them
        rng = np.random.default_rng(cfg.seed)
        te = np.sort(rng.permutation(d.labels.size)[: cfg.shap_samples])
    if cfg.shap_samples > 0:
        deep = [r for r in results if r.kind in DEEP_MODELS]
        explained = [max(deep, key=lambda r: DEEP_MODELS.index(r.kind))] if deep else []  # CNN-LSTM-AM first
        explained += [r for r in results if r.kind == "rf"]
        for r in explained:
            if r.kind in DEEP_MODELS:
                importance[r.kind] = deep_importance(
                    r.model,
                    d.patches,
                    d.series,
                    50,
                    cfg.seed,
                    prep.features,
                    cfg.temporal_mode.value if r.kind in SERIES_MODELS else "none",
                    prep.climate_vars,
                    te,
                )
            else:
                importance[r.kind] = tree_importance(r.model, d.centre[te], prep.features)
        if importance:
            importance_outputs(importance, out)
    corr, flagged = correlation(d.centre, prep.features, corr_threshold)
    correlation_outputs(corr, prep.features, flagged, out, corr_threshold)
    write_text_atomic(out / "history.json", json.dumps({x.kind: x.history for x in results if x.history}))
    progress.report(1.0, "training done")
    labels = d.labels if cv_res is not None else d.labels[d.is_test]
    return TrainOutputs(str(out), csv, htm, results, importance, flagged, labels, cv_res, mapped_card, mapping_note)
