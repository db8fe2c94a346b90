"""``crack_evaluate``: a trained crack card scored on any labelled image set, with intervals.

Why: the only figures used to be the 10 % test split of the training run; a user needs to know
how a model does on *their* imagery (other materials, other drones, crack-free scenes) before
trusting a crack-probability map. Accepts a labelled folder (``crack/`` + ``no_crack/``, or the
Özgenel names) or a folder of positives and/or a folder of negatives (crack-free imagery alone
measures the false-positive rate). Every image goes through the same preprocessing as training
and prediction (:mod:`.preprocess`).

torch (and the modules that need it) is imported inside the scoring functions: the metrics, the
intervals and the report are shared with ``crack_evaluate_scene``, which scores an existing chip
layer and runs without torch.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InvalidInputError
from ..metrics import CRACK_EVALUATION, binary_metrics, confusion
from ..progress import NullProgress, Progress, check
from ..raster.io import write_csv_atomic, write_text_atomic


@dataclass
class CrackEvaluation:
    """Metrics (with 95 % bootstrap intervals), confusion, per-image scores and written files."""

    metrics: dict[str, float]
    intervals: dict[str, tuple[float, float]]
    confusion: list[list[int]]
    paths: list[str]
    labels: np.ndarray
    probabilities: np.ndarray
    html: str
    csv: str | None
    gallery: list[str]
    #: distance of each image from the model's training domain (NaN: the card records no domain)
    domain_distance: np.ndarray
    #: images outside the training domain; with masking they were scored as "no crack"
    unfamiliar: np.ndarray
    #: the figures of the other setting ("masked" when the headline is raw, "raw" when it is masked)
    other: dict[str, float] = field(default_factory=dict)
    #: crack images the model itself called crack (raw probability >= threshold) that the mask turned to "no crack"
    masked_hits: int = 0


def labelled_images(
    folder: str | None = None, positives: str | None = None, negatives: str | None = None
) -> tuple[list[str], np.ndarray]:
    """Image paths and labels (1 = crack) from a labelled folder or from positive/negative folders."""
    from .images import check_disjoint, find_images, image_files

    if folder:
        if positives or negatives:
            raise InvalidInputError("Give either a labelled folder or positive/negative folders, not both.")
        found, labels_a, _ = find_images(folder)
        return found, labels_a
    paths: list[str] = []
    labels: list[int] = []
    for root, lab in ((positives, 1), (negatives, 0)):
        if not root:
            continue
        files = image_files(root)
        paths += files
        labels += [lab] * len(files)
    if not paths:
        raise InvalidInputError("Give a labelled folder, or a folder of crack images and/or one of crack-free images.")
    check_disjoint([p for p, lab in zip(paths, labels) if lab == 1], [p for p, lab in zip(paths, labels) if lab == 0])
    return paths, np.asarray(labels)


def classification_metrics(y: np.ndarray, p: np.ndarray, threshold: float) -> dict[str, float]:
    """The crack evaluation's metrics at ``threshold`` (``core.metrics.CRACK_EVALUATION``; NaN where undefined)."""
    return binary_metrics(y, p, threshold, CRACK_EVALUATION)


def wilson_interval(hits: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """Wilson score interval of a proportion ``hits / n`` (95 % by default); sound at 0 or n hits."""
    if n <= 0:
        return float("nan"), float("nan")
    q = hits / n
    centre = (q + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(q * (1 - q) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return float(max(0.0, centre - half)), float(min(1.0, centre + half))


def _proportion_counts(y: np.ndarray, p: np.ndarray, threshold: float) -> dict[str, tuple[int, int]]:
    """(hits, trials) of each proportion metric of :func:`classification_metrics`."""
    (tn, fp), (fn, tp) = confusion(y, p, threshold)
    return {
        "accuracy": (tp + tn, y.size),
        "precision": (tp, tp + fp),
        "recall": (tp, tp + fn),
        "false_positive_rate": (fp, fp + tn),
    }


def bootstrap_intervals(
    y: np.ndarray, p: np.ndarray, threshold: float, n_boot: int, seed: int, groups: np.ndarray | None = None
) -> dict[str, tuple[float, float]]:
    """95 % intervals of every metric: percentile bootstrap; with ``groups``, whole groups are resampled.

    Why groups: overlapping or neighbouring chips are not independent, and resampling them one by
    one would make the interval too narrow. Why Wilson too: for the proportions (accuracy,
    precision, recall, false-positive rate) the interval is the wider of the bootstrap's and the
    Wilson score interval of the counts: a bootstrap of 0 false positives among 20 crack-free
    images is 0-0, which claims a certainty 20 images cannot give (Wilson: 0-0.16).
    """
    rng = np.random.default_rng(seed)
    draws: dict[str, list[float]] = {}
    if groups is None:
        groups = np.arange(y.size)
    names, inverse = np.unique(groups, return_inverse=True)
    members = [np.flatnonzero(inverse == g) for g in range(names.size)]
    for _ in range(n_boot):
        i = np.concatenate([members[g] for g in rng.integers(0, names.size, names.size)])
        for name, value in classification_metrics(y[i], p[i], threshold).items():
            draws.setdefault(name, []).append(value)
    out: dict[str, tuple[float, float]] = {}
    for k, v in draws.items():
        a = np.asarray(v, float)
        a = a[np.isfinite(a)]
        out[k] = (float(np.quantile(a, 0.025)), float(np.quantile(a, 0.975))) if a.size else (np.nan, np.nan)
    for k, (hits, n) in _proportion_counts(y, p, threshold).items():
        if n:
            wl, wh = wilson_interval(hits, n)
            lo, hi = out.get(k, (np.nan, np.nan))
            out[k] = (float(np.nanmin([lo, wl])), float(np.nanmax([hi, wh])))
    return out


def score_images(
    card_path: str, paths: list[str], batch: int = 32, device: str = "auto", progress: Progress | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Crack probability, training-domain distance and the unfamiliar flag of each image.

    Each whole image is resized to the model's input, as in training. Distance and flag are the
    ones ``crack_predict`` uses to mark chips unfamiliar (``cracks.domain``: the features, and the
    image statistics where the card records them); NaN distances and no flag when the card records
    no domain.
    """
    import torch

    from ..runtime import pick_device
    from .domain import check_batch, pooled_features
    from .images import open_rgb
    from .loaded import load_crack_model
    from .preprocess import model_input

    progress = progress or NullProgress()
    dev = pick_device(device)
    m = load_crack_model(card_path, dev, inference=True)
    size, mean, std, domain = m.card.input_px, m.card.mean, m.card.std, m.card.domain
    out = np.empty(len(paths), np.float64)
    dist = np.full(len(paths), np.nan)
    odd = np.zeros(len(paths), bool)
    with pooled_features(m.model) as feats:
        for i in range(0, len(paths), batch):
            check(progress)
            part = paths[i : i + batch]
            x = torch.stack(
                [model_input(np.asarray(open_rgb(p)).transpose(2, 0, 1), size, mean, std, dev) for p in part]
            )
            with torch.no_grad():
                out[i : i + len(part)] = torch.softmax(m.model(x), 1)[:, 1].cpu().numpy()
            dist[i : i + len(part)], _, odd[i : i + len(part)] = check_batch(feats[0].numpy(), x, domain)
            progress.report(min(1.0, (i + len(part)) / len(paths)), f"scored {i + len(part)}/{len(paths)} images")
    return out, dist, odd


def evaluate_images(
    card_path: str,
    out_html: str,
    folder: str | None = None,
    positives: str | None = None,
    negatives: str | None = None,
    out_csv: str | None = None,
    gallery_dir: str | None = None,
    n_gallery: int = 6,
    threshold: float = 0.5,
    n_boot: int = 1000,
    seed: int = 0,
    device: str = "auto",
    progress: Progress | None = None,
    mask_unfamiliar: bool = False,
) -> CrackEvaluation:
    """Score a labelled image set; write the HTML report, the per-image CSV and a gallery of real mistakes.

    Both settings are always computed and reported side by side: **raw** (the model's own
    probability for every image; the default headline, since an evaluation is about the model)
    and **masked** (images outside the model's training domain scored "no crack", which is what
    the map shows there). ``mask_unfamiliar`` makes the masked figures the headline. Either way the
    report says how many crack images the model called crack that the mask turned into misses:
    the mask must never hide a failure or a success silently.

    The gallery shows the most confident *real* mistakes (raw probability on the wrong side of the
    threshold), then, apart and named ``masked_...``, crack images the mask hid.
    """
    from .predict import gradcam_chips, gradcam_overlays

    progress = progress or NullProgress()
    paths, y = labelled_images(folder, positives, negatives)
    raw, dist, odd = score_images(card_path, paths, device=device, progress=progress)
    masked = np.where(odd, 0.0, raw)
    p = masked if mask_unfamiliar else raw
    met = classification_metrics(y, p, threshold)
    other = classification_metrics(y, raw if mask_unfamiliar else masked, threshold)
    ci = bootstrap_intervals(y, p, threshold, n_boot, seed)
    yhat = p >= threshold
    matrix = confusion(y, p, threshold)
    hidden = np.flatnonzero(odd & (y == 1) & (raw >= threshold))
    if out_csv:
        rows = [
            [path, int(lab), f"{prob:.6f}", f"{r:.6f}", f"{d:.4f}", int(u), int(pred), int(bool(pred) == bool(lab))]
            for path, lab, prob, r, d, u, pred in zip(paths, y, p, raw, dist, odd, yhat)
        ]
        head = ["image", "label", "probability", "raw_probability", "domain_distance", "unfamiliar", "predicted"]
        write_csv_atomic(out_csv, [*head, "correct"], rows)
    gallery: list[str] = []
    if gallery_dir and n_gallery > 0:
        wrong = np.flatnonzero((raw >= threshold) != (y == 1))
        worst = wrong[np.argsort(-np.abs(raw[wrong] - threshold))][:n_gallery]  # most confident real mistakes
        shown = [(int(i), "false_negative" if y[i] == 1 else "false_positive") for i in worst]
        shown += [(int(i), "masked_crack") for i in hidden[: max(0, n_gallery - len(shown))]]
        if shown:
            items = gradcam_chips(card_path, [paths[i] for i, _ in shown], device=device)
            for it, (i, kind) in zip(items, shown):
                it["name"] = f"{kind}_{Path(paths[i]).name}"
            gallery = gradcam_overlays(items, gallery_dir)
    title = f"Crack model {Path(card_path).name} on {len(paths)} images"
    notes = unfamiliar_notes(y, odd, mask_unfamiliar)
    if gallery:
        from ..model_card import CrackCard
        from .predict import gradcam_resolution_note

        if cam_note := gradcam_resolution_note(CrackCard.load(card_path)):
            notes.append("Gallery: " + cam_note)
    if hidden.size:
        notes.append(
            f"The mask turned {hidden.size} crack image(s) the model called crack (raw probability >= {threshold:g}) "
            "into 'no crack': the masked figures understate the model on this imagery. Compare the two columns."
        )
    compare = {
        "raw (model)": met if not mask_unfamiliar else other,
        "masked (as the map)": other if not mask_unfamiliar else met,
    }
    page = report_html(title, y, met, ci, matrix, threshold, gallery, out_html, notes, compare=compare)
    write_text_atomic(out_html, page)
    return CrackEvaluation(
        met, ci, matrix, paths, y, p, out_html, out_csv, gallery, dist, odd, other=other, masked_hits=int(hidden.size)
    )


def _compare_table(compare: dict[str, dict[str, float]] | None) -> str:
    """The side-by-side table of the raw and masked figures (empty without a comparison)."""
    if not compare:
        return ""
    e = html.escape
    names = list(compare)
    keys = [k for k in next(iter(compare.values())) if all(k in c for c in compare.values())]
    head = "".join(f"<th>{e(n)}</th>" for n in names)
    body = "".join(
        f"<tr><td>{e(k)}</td>" + "".join(f"<td>{compare[n][k]:.3f}</td>" for n in names) + "</tr>" for k in keys
    )
    return (
        "<h3>Raw and masked side by side</h3><p>Raw: the model's probability for every image. Masked: images "
        "outside its training domain scored 'no crack', as crack_predict leaves them off the map.</p>"
        f"<table border='1' cellspacing='0' cellpadding='4'><tr><th>metric</th>{head}</tr>{body}</table>"
    )


def unfamiliar_notes(y: np.ndarray, odd: np.ndarray, masked: bool) -> list[str]:
    """What the unfamiliar images did to the figures, per class (empty when there were none)."""
    if not odd.any():
        return []
    pos, neg = int((odd & (y == 1)).sum()), int((odd & (y == 0)).sum())
    how = "scored as 'no crack' (masked, as on the map)" if masked else "scored with their raw probability"
    return [
        f"{int(odd.sum())} of {odd.size} images lie outside the model's training domain ({pos} crack, {neg} "
        f"crack-free) and were {how}. Many unfamiliar crack images mean the model was not trained on imagery "
        "like this: fine-tune it on labelled images of this kind (crack_train, 'Start from model')."
    ]


def report_html(
    title: str,
    y: np.ndarray,
    met: dict[str, float],
    ci: dict[str, tuple[float, float]],
    confusion: list[list[int]],
    threshold: float,
    gallery: list[str],
    out_html: str,
    notes: list[str] | None = None,
    unit: str = "images",
    resampled: str = "images",
    compare: dict[str, dict[str, float]] | None = None,
) -> str:
    """The evaluation page: warnings first (chance, one class), metrics with intervals, confusion, gallery."""
    e = html.escape
    rows = "".join(
        f"<tr><td>{e(k)}</td><td><b>{v:.3f}</b></td><td>{ci[k][0]:.3f} – {ci[k][1]:.3f}</td></tr>"
        for k, v in met.items()
    )
    n_pos, n_neg = int((y == 1).sum()), int((y == 0).sum())
    notes = list(notes or [])
    if n_pos == 0:
        notes.append(f"Only crack-free {unit}: the false-positive rate is the figure to read.")
    if n_neg == 0:
        notes.append(f"Only crack {unit}: recall is the figure to read.")
    if np.isfinite(met["roc_auc"]) and ci["roc_auc"][0] <= 0.5 <= ci["roc_auc"][1]:
        notes.append("ROC AUC is not distinguishable from chance (its 95 % interval contains 0.5).")
    base = Path(out_html).parent
    imgs = "".join(
        f"<figure><img src='{e(str(Path(g).relative_to(base)) if Path(g).is_relative_to(base) else g)}' "
        f"width='420'/><figcaption>{e(Path(g).stem)}</figcaption></figure>"
        for g in gallery
    )
    return (
        "<html><head><meta charset='utf-8'><title>Crack model evaluation</title></head><body>"
        f"<h2>{e(title)} ({n_pos} crack, {n_neg} crack-free {e(unit)})</h2>"
        + "".join(f"<p style='color:#b00'>{e(n)}</p>" for n in notes)
        + f"<p>Threshold {threshold:g}; 95 % intervals: percentile bootstrap over {e(resampled)} (1000 resamples); "
        "for the proportions, the wider of that and the Wilson score interval.</p>"
        "<table border='1' cellspacing='0' cellpadding='4'><tr><th>metric</th><th>value</th><th>95 % CI</th></tr>"
        f"{rows}</table><h3>Confusion (rows: true no crack / crack; columns: predicted)</h3>"
        f"<table border='1' cellspacing='0' cellpadding='4'><tr><td>{confusion[0][0]}</td><td>{confusion[0][1]}</td>"
        f"</tr><tr><td>{confusion[1][0]}</td><td>{confusion[1][1]}</td></tr></table>"
        + _compare_table(compare)
        + (
            f"<h3>Most confident real mistakes (and crack images the mask hid), with Grad-CAM</h3>{imgs}"
            if imgs
            else ""
        )
        + "</body></html>"
    )
