"""Comparison tables (CSV + HTML) and figures (ROC, training curves, SHAP, correlation)."""

from __future__ import annotations

from types import ModuleType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from .cross_validation import CVResult
    from .train import ModelResult


import html
import json
from pathlib import Path

import numpy as np

from ..metrics import ROC_AUC, label
from ..raster.io import atomic_path, write_csv_atomic, write_text_atomic
from .evaluate import METRICS
from .models import DISPLAY


def _plt() -> ModuleType:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def comparison_table(
    results: list[ModelResult],
    out_dir: Path,
    split_note: str,
    warnings: list[str] | None = None,
    cv: CVResult | None = None,
    mapping_note: str = "",
) -> tuple[str, str]:
    """The comparison page (mapped model, warnings, spatial CV when run, then the saved models) and its CSV.

    With CV the second table holds the pooled out-of-fold metrics on the sampled absences of
    the models that were then refit on all samples; without CV, the single split's test metrics.

    The CSV holds the single-split rows (one per model); the CV tables are ``cv_comparison.csv``
    and ``cv_folds.csv``.
    """
    head = ["model"] + [label(k) for k in METRICS] + ["warnings"]
    rows = [
        [DISPLAY[r.kind]] + [f"{r.metrics[m]:.4f}" for m in METRICS] + ["; ".join(getattr(r, "flags", []))]
        for r in results
    ]
    csv = out_dir / "comparison.csv"
    write_csv_atomic(csv, head, rows)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    care = (
        "<h3 style='color:#b00'>Read with care</h3><ul>"
        + "".join(f"<li>{html.escape(w)}</li>" for w in warnings)
        + "</ul>"
        if warnings
        else ""
    )
    second = (
        "Saved models: refit on all samples; out-of-fold metrics on the sampled absences (not skill)"
        if cv is not None
        else "Susceptibility models: single held-out split"
    )
    page = (
        "<html><head><meta charset='utf-8'><title>Model comparison</title></head><body>"
        + (f"<p><b>{html.escape(mapping_note)}</b></p>" if mapping_note else "")
        + care
        + _cv_section(cv)
        + f"<h2>{second}</h2><p>{html.escape(split_note)}</p>"
        + "<table border='1' cellspacing='0' cellpadding='4'><tr>"
        + "".join(f"<th>{h}</th>" for h in head)
        + f"</tr>{body}</table><p><img src='roc.png'/> <img src='training_curves.png'/></p></body></html>"
    )
    htm = out_dir / "comparison.html"
    write_text_atomic(htm, page)
    return str(csv), str(htm)


def _cv_section(cv: CVResult | None) -> str:
    """The spatial cross-validation table, first on the page: the figures to quote."""
    if cv is None:
        return ""
    from .cross_validation import cv_rows

    head, rows = cv_rows(cv)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    from .cross_validation import leaders_sentence

    return (
        "<h2>Spatial cross-validation: the prediction-rate AUC is the figure to quote</h2>"
        f"<p><b>{html.escape(leaders_sentence(cv))}</b></p>"
        f"<p>{html.escape(cv.split_note)} Prediction-rate AUC: each fold's held-out landslides ranked against a "
        "uniform sample of the valid cells of its held-out blocks (no absences involved); its 95 % interval "
        "resamples whole blocks, their landslides and their cells together. The separability of the sampled "
        "absences is the AUC against the absences the sampling rule drew: a rule on an input factor (slope "
        "threshold, CF zones) decides much of it, so it is not skill (block bootstrap interval of the pooled "
        "out-of-fold predictions). Each factor alone is judged under the same folds: a model that does not beat "
        "the best factor is flagged. Per-fold figures: cv_folds.csv.</p>"
        + "".join(f"<p style='color:#b00'>{html.escape(c)}</p>" for c in cv.caveats)
        + "<table border='1' cellspacing='0' cellpadding='4'><tr>"
        + "".join(f"<th>{html.escape(h)}</th>" for h in head)
        + f"</tr>{body}</table>"
    )


def _savefig(fig: Figure, path: Path) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight", format="png")
    _plt().close(fig)


def roc_figure(results: list[ModelResult], path: Path, title: str = "ROC, test split") -> None:
    """ROC curves of all models on one plot."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5, 5))
    for r in results:
        ax.plot(r.roc["fpr"], r.roc["tpr"], label=f"{DISPLAY[r.kind]} (AUC {r.metrics[ROC_AUC]:.3f})")
    ax.plot([0, 1], [0, 1], "k:", lw=0.8)
    ax.set(xlabel="False positive rate", ylabel="True positive rate", title=title)
    ax.legend(fontsize=8, loc="lower right")
    _savefig(fig, path)


def curves_figure(results: list[ModelResult], path: Path) -> None:
    """Training and validation loss, and validation AUC, per epoch of the deep models."""
    deep = [r for r in results if r.history]
    if not deep:
        return
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for r in deep:
        h = r.history
        assert h is not None
        line = axes[0].plot(h["loss"], label=f"{DISPLAY[r.kind]} train")[0]
        axes[0].plot(h["val_loss"], "--", color=line.get_color(), label=f"{DISPLAY[r.kind]} val")
        axes[1].plot(h.get("val_auc", []), "--", color=line.get_color(), label=DISPLAY[r.kind])
    axes[0].set(xlabel="epoch", ylabel="BCE loss", title="Loss")
    # validation AUC, not accuracy: on an imbalanced split accuracy at 0.5 is flat whatever the ranking
    axes[1].set(xlabel="epoch", ylabel="validation AUC", title="Validation ranking (AUC)")
    axes[0].legend(fontsize=7)
    _savefig(fig, path)


def importance_outputs(importance: dict[str, dict[str, float]], out_dir: Path) -> None:
    """SHAP importance CSV and bar chart."""
    lines = ["model,factor,mean_abs_shap"]
    for model, imp in importance.items():
        lines += [f"{DISPLAY.get(model, model)},{k},{v:.6g}" for k, v in imp.items()]
    write_text_atomic(out_dir / "shap_importance.csv", "\n".join(lines) + "\n")
    plt = _plt()
    fig, axes = plt.subplots(1, len(importance), figsize=(5 * len(importance), 4), squeeze=False)
    for ax, (model, imp) in zip(axes[0], importance.items()):
        items = sorted(imp.items(), key=lambda kv: kv[1])
        ax.barh([k for k, _ in items], [v for _, v in items], color="#c0504d")
        ax.set(title=f"SHAP importance: {DISPLAY.get(model, model)}", xlabel="mean |SHAP|")
    _savefig(fig, out_dir / "shap_importance.png")


def correlation_outputs(r: np.ndarray, names: list[str], flagged: list, out_dir: Path, threshold: float) -> None:
    """Correlation matrix CSV, heat map and the flagged pairs as JSON."""
    lines = ["factor," + ",".join(names)] + [n + "," + ",".join(f"{v:.4f}" for v in row) for n, row in zip(names, r)]
    write_text_atomic(out_dir / "correlation.csv", "\n".join(lines) + "\n")
    write_text_atomic(
        out_dir / "correlation_flagged.json",
        json.dumps(
            {"threshold_abs_r": threshold, "pairs": [{"a": a, "b": b, "r": v} for a, b, v in flagged]}, indent=2
        ),
    )
    plt = _plt()
    fig, ax = plt.subplots(figsize=(1 + 0.7 * len(names), 1 + 0.6 * len(names)))
    im = ax.imshow(r, cmap="RdBu_r", vmin=-1, vmax=1)
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right")
    ax.set_yticks(range(len(names)), names)
    for i in range(len(names)):
        for j in range(len(names)):
            ax.text(
                j,
                i,
                f"{r[i, j]:.2f}" + ("*" if i != j and abs(r[i, j]) >= threshold else ""),
                ha="center",
                va="center",
                fontsize=7,
            )
    fig.colorbar(im, ax=ax, shrink=0.8)
    ax.set_title(f"Pearson R (* |R| >= {threshold})")
    _savefig(fig, out_dir / "correlation.png")
