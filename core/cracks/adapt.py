"""The field loop: a pretrained crack model adapted to one orthomosaic from chips the user labels on the map.

Why: no crack head carries from one site to another (a head fitted on concrete scored 0.62 on drone
chips; one fitted on UAV75 scored 0.52-0.56 on other walls, issue 20), while labels from the site
itself do (AUC 0.71 -> 0.92 for 10 -> 200 labelled crops). With a frozen backbone the expensive
part, the features of every chip, is computed once and cached; refitting the head on new labels
then takes well under a second, so the user can label, adapt, look at the map, label again.

What a run does, in order:

1. reads the chip layer (``crack_tile`` / ``crack_predict`` output, or any polygons on the
   orthomosaic) and its label field (crack: 1 / crack / yes / true; crack-free: 0 / no_crack / no /
   false; anything else, NULL included: unlabelled);
2. computes (or loads from the cache) the pooled backbone features of every chip and the base
   model's probability;
3. scores the adapted head by cross-validation **grouped by area** (blocks of chips, so
   neighbouring chips never sit on both sides), beside the base model on the same labelled chips;
4. fits the head on all labels, writes a new card (lineage: base card, labels, chip layer) and
   the chip layer with the adapted probability and a ``suggest`` rank: the unlabelled chips most
   worth labelling next (the most uncertain, spread over the feature space by k-means).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from scipy.special import expit

from ..errors import InvalidInputError, ModelLoadError
from ..metrics import ROC_AUC
from ..progress import NullProgress, Progress, SubProgress, check

CRACK_VALUES = {"1", "crack", "yes", "y", "true", "t", "c"}
NO_CRACK_VALUES = {"0", "no_crack", "no crack", "nocrack", "no", "n", "false", "f"}
#: fewest labels per class before a head is fitted (and a grouped CV is possible)
MIN_PER_CLASS = 3
#: chips per side of one area block of the grouped cross-validation
BLOCK_CHIPS = 4
#: C of a fresh head (no base head to start from; the comparison row of scripts/measure_field_loop.py)
HEAD_C_GRID = (0.003, 0.01, 0.03, 0.1, 0.3, 1.0)
#: strengths of the pull towards the base head (L2 on the change, in standardised feature units); the
#: last is "keep the base head" (only its bias moves), so a few noisy labels cannot make the model worse
#: than it was, by the grouped CV's own measure
PRIOR_LAMBDA_GRID = (1.0, 3.0, 10.0, 30.0, 100.0, 300.0, 1000.0, 1e6)


@dataclass
class ChipSet:
    """Chips of a layer: pixel windows on the orthomosaic, labels (1, 0, -1 unlabelled), feature ids."""

    windows: list[tuple[int, int, int, int]]  # col_off, row_off, width, height
    labels: np.ndarray
    fids: list[int]
    layer_name: str


@dataclass
class AdaptResult:
    """What :func:`adapt_crack_model` measured and wrote."""

    card: str
    chips_out: str
    n_labels: dict[str, int]
    cv: dict[str, Any]
    probabilities: np.ndarray
    suggestions: list[int]
    seconds_fit: float
    cached: bool
    notes: list[str] = field(default_factory=list)
    #: median chip side (px) of the layer: the chip size a re-map of the orthomosaic uses
    chip_px: int = 0


def parse_label(value: object) -> int:
    """1 crack, 0 crack-free, -1 unlabelled (NULL, empty, anything else)."""
    if value is None:
        return -1
    text = str(value).strip().lower()
    if text.endswith(".0"):
        text = text[:-2]
    return 1 if text in CRACK_VALUES else 0 if text in NO_CRACK_VALUES else -1


def read_chip_layer(path: str, ortho: str, label_field: str) -> ChipSet:
    """Windows of the layer's polygons on the orthomosaic's pixel grid, and their labels."""
    import rasterio
    from osgeo import ogr

    ds = ogr.Open(str(path).split("|")[0])
    if ds is None:
        raise InvalidInputError(f"Cannot open the chip layer {path}.")
    lyr = ds.GetLayer(0)
    names = [lyr.GetLayerDefn().GetFieldDefn(i).GetName() for i in range(lyr.GetLayerDefn().GetFieldCount())]
    if label_field not in names:
        raise InvalidInputError(
            f"The chip layer has no field '{label_field}' (its fields: {names}). Add an integer field, set 1 on "
            "chips with a crack and 0 on crack-free chips (the label map tool does this), and leave the rest empty."
        )
    windows, labels, fids = [], [], []
    with rasterio.open(ortho) as src:
        for f in lyr:
            g = f.GetGeometryRef()
            if g is None:
                continue
            minx, maxx, miny, maxy = g.GetEnvelope()
            w = src.window(minx, miny, maxx, maxy)
            c0, r0 = int(round(w.col_off)), int(round(w.row_off))
            wd, ht = int(round(w.width)), int(round(w.height))
            if wd < 8 or ht < 8 or c0 + wd <= 0 or r0 + ht <= 0 or c0 >= src.width or r0 >= src.height:
                continue  # off the image, or not a chip
            windows.append((c0, r0, wd, ht))
            labels.append(parse_label(f.GetField(label_field)))
            fids.append(int(f.GetFID()))
    if not windows:
        raise InvalidInputError(f"No polygon of {path} lies on {ortho}: check that the layer belongs to this image.")
    return ChipSet(windows, np.asarray(labels), fids, lyr.GetName())


def _cache_key(card: Any, ortho: str, windows: list, alpha_band: int) -> str:
    st = os.stat(ortho)
    h = hashlib.sha256()
    payload = [card.weights_sha256, card.architecture, card.input_px, card.finetune_blocks]
    payload += [os.path.realpath(ortho), st.st_size, st.st_mtime_ns, alpha_band]
    h.update(json.dumps(payload).encode())
    h.update(np.asarray(windows, np.int64).tobytes())
    return h.hexdigest()[:32]


def chip_features(
    card_path: str,
    ortho: str,
    windows: list[tuple[int, int, int, int]],
    alpha_band: int = -1,
    cache_dir: str | None = None,
    progress: Progress | None = None,
    device: str = "auto",
    loaded: Any = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    """(backbone features (N, C), domain features (N, C'), base probabilities (N,), from cache?) of the chips.

    ``loaded``: the card's model already loaded (:func:`load_pretrained`), so a caller that needs it
    too does not read the card and weights again; by default it is loaded here, on a cache miss only.

    Cached in ``cache_dir`` (default: a ``landslide_ai_features`` folder in the system temporary
    folder) under a key of the card's weights, the orthomosaic (path, size, modification time) and
    the windows, so a second run on the same chips reads a file instead of running the network.
    """
    import rasterio
    import torch
    from rasterio.windows import Window

    from ..model_card import CrackCard
    from .chips import ChipSpec, read_chip
    from .domain import pooled_features
    from .preprocess import model_input

    progress = progress or NullProgress()
    folder = Path(cache_dir or Path(tempfile.gettempdir()) / "landslide_ai_features")
    key = _cache_key(loaded.card if loaded else CrackCard.load(card_path), ortho, windows, alpha_band)
    cached = folder / f"{key}.npz"
    if cached.is_file():
        try:
            with np.load(cached, allow_pickle=False) as z:
                return z["features"], z["domain"], z["probability"], True
        except (OSError, ValueError, KeyError):
            pass  # a damaged cache is recomputed
    m = loaded or load_pretrained(card_path, device)
    dev = m.mean.device
    spec = ChipSpec(alpha_band=alpha_band)
    feats, dom, prob = [], [], []
    batch = 32
    with rasterio.open(ortho) as src, pooled_features(m.model) as hook:
        for i in range(0, len(windows), batch):
            check(progress)
            part = windows[i : i + batch]
            rgb = [read_chip(src, Window(*w), spec)[0] for w in part]
            x = torch.stack([model_input(c, m.card.input_px, m.card.mean, m.card.std, dev) for c in rgb])
            with torch.no_grad():
                f = m.model.features(x)
                logits = m.model.head(f)
            feats.append(f.float().cpu().numpy())
            dom.append(hook[0].numpy())
            prob.append(torch.softmax(logits, 1)[:, 1].float().cpu().numpy())
            progress.report(
                min(1.0, (i + len(part)) / len(windows)), f"features of {i + len(part)}/{len(windows)} chips"
            )
    out = np.concatenate(feats), np.concatenate(dom), np.concatenate(prob).astype(np.float64)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".{key}.{os.getpid()}.npz"
        with open(tmp, "wb") as fh:
            np.savez(fh, features=out[0], domain=out[1], probability=out[2])
        os.replace(tmp, cached)
    except OSError:
        pass  # no cache is slower, not wrong
    return (*out, False)


def load_pretrained(card_path: str, device: str = "auto") -> Any:
    """The card's :class:`~.predict.LoadedCrackModel`, refused unless it has a pretrained backbone to adapt."""
    from ..runtime import pick_device
    from .loaded import load_crack_model
    from .models import PretrainedCrackNet

    m = load_crack_model(card_path, pick_device(device))
    if not isinstance(m.model, PretrainedCrackNet):
        raise ModelLoadError(
            f"{card_path} is a {m.card.architecture} card: adapting from labels needs a pretrained backbone "
            "(efficientnet_lite0, e.g. the shipped default). Train one with crack_train or use the default."
        )
    return m


def base_head(card: Any) -> tuple[np.ndarray, float]:
    """(w, b) of a pretrained card's head (a card path or a loaded model) as one logistic regression."""
    from .models import logistic_head

    m = load_pretrained(card, "cpu") if isinstance(card, str) else card
    return logistic_head(m.model)


def area_groups(windows: list[tuple[int, int, int, int]], block_chips: int = BLOCK_CHIPS) -> np.ndarray:
    """Area block of each chip (``block_chips`` chip widths per side): the unit of the grouped CV."""
    w = np.asarray(windows, np.float64)
    size = max(1.0, float(np.median(w[:, 2])))
    bx = np.floor(w[:, 0] / (size * block_chips)).astype(np.int64)
    by = np.floor(w[:, 1] / (size * block_chips)).astype(np.int64)
    _, g = np.unique(np.stack([bx, by], 1), axis=0, return_inverse=True)
    return np.asarray(g).ravel()


def _fit_towards(
    x: np.ndarray, y: np.ndarray, w0: np.ndarray, b0: float, lam: float, start: np.ndarray | None = None
) -> tuple[np.ndarray, float, np.ndarray]:
    """(w, b, solution) of a logistic regression from the base head (w0, b0), moving as far as the labels pay for.

    Loss: class-balanced log-loss of the labels + lam/2 |d|^2, where the logit is the base head's
    plus d . (standardised x) + delta. With few labels (or a large lam) the result stays the base
    model; with many it becomes the site's own. Why not a fresh head: on UAV75's held-out photos a
    head fitted on 50 site labels alone scored 0.72, below the unadapted model's 0.85.
    """
    from scipy.optimize import minimize

    mu, sd = x.mean(0), x.std(0) + 1e-6
    z = (x - mu) / sd
    off = x @ w0 + b0
    s = 2.0 * y - 1.0
    counts = np.bincount(y.astype(int), minlength=2).astype(float)
    sw = (counts.sum() / (2 * np.maximum(counts, 1)))[y.astype(int)]

    def f(theta: np.ndarray) -> tuple[float, np.ndarray]:
        d, delta = theta[:-1], theta[-1]
        m = off + z @ d + delta
        loss = float(np.sum(sw * np.logaddexp(0.0, -s * m)) + 0.5 * lam * (d @ d))
        g = -s * sw * expit(-s * m)
        return loss, np.concatenate([z.T @ g + lam * d, [g.sum()]])

    x0 = np.zeros(x.shape[1] + 1) if start is None else start
    res = minimize(f, x0, jac=True, method="L-BFGS-B", options={"maxiter": 500})
    d, delta = res.x[:-1], float(res.x[-1])
    # the solution in its own (standardised) units: the warm start of the next, weaker strength
    return w0 + d / sd, float(b0 + delta - np.sum(d * mu / sd)), res.x


def suggest_chips(x: np.ndarray, p: np.ndarray, unlabelled: np.ndarray, n: int, seed: int = 0) -> list[int]:
    """Indices of up to ``n`` unlabelled chips worth labelling next: uncertain, and unlike each other.

    The 5n chips whose probability is closest to 0.5 are clustered (k-means on standardised
    features) into n groups; the chip nearest each centre is proposed, most uncertain first.
    """
    from sklearn.cluster import KMeans

    cand = np.flatnonzero(unlabelled)
    if n <= 0 or cand.size == 0:
        return []
    pool = cand[np.argsort(np.abs(p[cand] - 0.5), kind="stable")][: 5 * n]
    if pool.size <= n:
        return [int(i) for i in pool]
    z = (x[pool] - x[pool].mean(0)) / (x[pool].std(0) + 1e-6)
    km = KMeans(n_clusters=n, n_init=3, random_state=seed).fit(z)
    picks = []
    for c in range(n):
        members = np.flatnonzero(km.labels_ == c)
        if members.size:
            d = np.linalg.norm(z[members] - km.cluster_centers_[c], axis=1)
            picks.append(int(pool[members[np.argmin(d)]]))
    return sorted(set(picks), key=lambda i: abs(p[i] - 0.5))


def fit_adapted_head(
    x: np.ndarray,
    y: np.ndarray,
    groups: np.ndarray,
    head_c: float | None = None,
    seed: int = 0,
    prior: tuple[np.ndarray, float] | None = None,
) -> tuple[np.ndarray, float, float, dict[str, Any]]:
    """(w, b, strength, grouped-CV figures) of the head on labelled chip features; strength by grouped-CV log-loss.

    With ``prior`` (the base head's w, b) the head moves from it (:func:`_fit_towards`, strength =
    lambda); without, a fresh head is fitted (strength = C).

    The same area groups choose C and give the reported figure (its interval is computed for the
    chosen C only). Without two groups holding both classes there is no CV: the middle C is used
    and the figure is NaN, said as such.
    """
    from .models import fit_logistic

    if prior is not None:
        w0, b0 = prior
        lams = (head_c,) if head_c else PRIOR_LAMBDA_GRID

        def towards(xt: np.ndarray, yt: np.ndarray, lam: float, start: Any) -> tuple[np.ndarray, float, Any]:
            return _fit_towards(xt, yt, w0, b0, lam, start)

        return _fit_path(x, y, groups, sorted(lams, reverse=True), towards, seed, fallback=min(lams))
    cs = (head_c,) if head_c else HEAD_C_GRID

    def fresh(xt: np.ndarray, yt: np.ndarray, c: float, start: Any) -> tuple[np.ndarray, float, Any]:
        return (*fit_logistic(xt, yt, c), None)

    return _fit_path(x, y, groups, sorted(cs), fresh, seed, fallback=cs[len(cs) // 2])


def _fit_path(
    x: np.ndarray,
    y: np.ndarray,
    groups: np.ndarray,
    strengths: list[float],
    fit: Callable[[np.ndarray, np.ndarray, float, Any], tuple[np.ndarray, float, Any]],
    seed: int,
    fallback: float,
) -> tuple[np.ndarray, float, float, dict[str, Any]]:
    """Every strength fitted per area fold, strongest first; the best by log-loss, refitted on all labels.

    Why a path: with a prior, each fit starts from the previous (stronger) one's solution, so the
    whole sequence costs little more than one fit; the out-of-fold probabilities of each strength
    give both the choice and, for the chosen one, the reported AUC and interval, with no second CV.
    ``fallback``: the strength used when no fold has both classes (the figure is then NaN).
    """
    from sklearn.model_selection import GroupKFold

    k = min(5, np.unique(groups).size)
    oof = {s: np.full(y.size, np.nan) for s in strengths}
    if k >= 2:
        for tr, te in GroupKFold(n_splits=k).split(x, y, groups):
            if np.unique(y[tr]).size < 2:
                continue
            start = None
            for strength in strengths:
                w, b, start = fit(x[tr], y[tr], strength, start)
                oof[strength][te] = expit(x[te] @ w + b)
    best = None
    for strength in strengths:
        ok = np.isfinite(oof[strength])
        if ok.sum() == 0 or np.unique(y[ok]).size < 2:
            continue
        q = np.clip(oof[strength][ok], 1e-6, 1 - 1e-6)
        loss = float(-np.mean(y[ok] * np.log(q) + (1 - y[ok]) * np.log(1 - q)))
        if best is None or loss < best[0] - 1e-12:
            best = (loss, strength)
    chosen = best[1] if best else fallback
    cv: dict[str, Any] = {ROC_AUC: float("nan"), "ci": [float("nan")] * 2, "folds": 0}
    if best:
        cv = _auc_with_interval(y, oof[chosen], groups, seed) | {"folds": k}
    w, b, _ = fit(x, y, chosen, None)
    return w, b, chosen, cv


def _auc_with_interval(y: np.ndarray, p: np.ndarray, groups: np.ndarray, seed: int, n_boot: int = 1000) -> dict:
    """ROC AUC of out-of-fold probabilities and a percentile bootstrap interval over area groups."""
    from sklearn.metrics import roc_auc_score

    ok = np.isfinite(p)
    auc = float(roc_auc_score(y[ok], p[ok]))
    rng = np.random.default_rng(seed)
    ug = np.unique(groups[ok])
    members = {g: np.flatnonzero((groups == g) & ok) for g in ug}
    boots = []
    for _ in range(n_boot):
        idx = np.concatenate([members[g] for g in rng.choice(ug, ug.size)])
        if np.unique(y[idx]).size == 2:
            boots.append(roc_auc_score(y[idx], p[idx]))
    ci = [float(np.percentile(boots, 2.5)), float(np.percentile(boots, 97.5))] if boots else [float("nan")] * 2
    return {ROC_AUC: auc, "ci": ci, "oof": p}


def adapt_crack_model(
    card_path: str,
    ortho: str,
    chips_layer: str,
    label_field: str,
    out_dir: str,
    chips_out: str,
    n_suggest: int = 20,
    alpha_band: int = -1,
    head_c: float | None = None,
    cache_dir: str | None = None,
    seed: int = 0,
    progress: Progress | None = None,
    device: str = "auto",
) -> AdaptResult:
    """Adapt ``card_path``'s head to the labelled chips of one orthomosaic (see the module docstring)."""
    import time

    import torch

    from ..model_card import CrackCard, file_sha256
    from .domain import fit_domain
    from .models import saved_state, set_logistic_head

    progress = progress or NullProgress()
    chips = read_chip_layer(chips_layer, ortho, label_field)
    y_all = chips.labels
    lab = y_all >= 0
    n_pos, n_neg = int((y_all == 1).sum()), int((y_all == 0).sum())
    if n_pos < MIN_PER_CLASS or n_neg < MIN_PER_CLASS:
        raise InvalidInputError(
            f"The field '{label_field}' marks {n_pos} crack and {n_neg} crack-free chip(s): label at least "
            f"{MIN_PER_CLASS} of each (1 = crack, 0 = no crack), better 20 or more, spread over the image."
        )
    m = load_pretrained(card_path, device)  # the one read of the card and weights in this run
    x, dom, p_base, cached = chip_features(
        card_path, ortho, chips.windows, alpha_band, cache_dir, SubProgress(progress, 0, 0.85), device, m
    )
    prior = base_head(m)
    t0 = time.perf_counter()
    xl, yl = x[lab], y_all[lab]
    groups = area_groups([w for w, keep in zip(chips.windows, lab) if keep])
    w, b, c, cv = fit_adapted_head(xl, yl, groups, head_c, seed, prior)
    seconds = time.perf_counter() - t0
    p_new = expit(x @ w + b)
    from sklearn.metrics import roc_auc_score

    base_auc = float(roc_auc_score(yl, p_base[lab]))
    cv_out = {k: v for k, v in cv.items() if k != "oof"} | {"lambda": c, "base_roc_auc_same_chips": base_auc}
    # the new card: the base card's network with the adapted head
    set_logistic_head(m.model, w, b)
    base = m.card
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    name = f"{Path(card_path).stem}_adapted"
    torch.save(saved_state(m.model), out / f"{name}.pt")
    # the site's own chips are now the familiar imagery
    inputs = replace(base.typed_inputs, domain=fit_domain(dom))
    card = CrackCard.create(
        architecture=base.architecture,
        weights_file=f"{name}.pt",
        inputs=inputs,
        normalisation=base.typed_normalisation,
        classes=list(base.classes),
        metrics={
            "adapt_cv": cv_out,
            "split": f"{cv.get('folds', 0)}-fold cross-validation grouped by {BLOCK_CHIPS} x {BLOCK_CHIPS}-chip "
            "area blocks of the labelled chips (neighbouring chips never on both sides)",
        },
        hyperparameters=dict(base.hyperparameters) | {"adapt_lambda": c},
        training={
            "adapted_from": {
                "card": str(card_path),
                "weights_sha256": base.weights_sha256 or file_sha256(base.weights_path(card_path)),
            },
            "labels": {"crack": n_pos, "no_crack": n_neg, "layer": str(chips_layer), "field": label_field},
            "orthomosaic": str(ortho),
            "fit_seconds": round(seconds, 3),
        },
    )
    card_path_out = out / f"{name}.json"
    card.save(card_path_out)
    unl = ~lab
    sugg = suggest_chips(x, p_new, unl, n_suggest, seed)
    _write_adapted_layer(chips_layer, chips_out, chips, label_field, p_base, p_new, sugg)
    notes = []
    if np.isfinite(cv[ROC_AUC]) and cv["ci"][0] <= 0.5 <= cv["ci"][1]:
        notes.append("The adapted model is NOT distinguishable from chance on these labels (interval contains 0.5).")
    progress.report(1.0, f"adapted on {n_pos + n_neg} labels")
    return AdaptResult(
        str(card_path_out),
        chips_out,
        {"crack": n_pos, "no_crack": n_neg},
        cv_out,
        p_new,
        sugg,
        seconds,
        cached,
        notes,
        int(np.median([w[2] for w in chips.windows])),
    )


def _write_adapted_layer(
    src: str,
    dest: str,
    chips: ChipSet,
    label_field: str,
    p_base: np.ndarray,
    p_new: np.ndarray,
    suggestions: list[int],
) -> None:
    """The chip layer again, with ``label`` kept and ``probability`` (adapted), ``base_probability``, ``suggest``."""
    from osgeo import ogr

    from ..raster.io import atomic_path

    rank = {i: r + 1 for r, i in enumerate(suggestions)}
    src_ds = ogr.Open(str(src).split("|")[0])
    lyr = src_ds.GetLayer(0)
    by_fid = {fid: i for i, fid in enumerate(chips.fids)}
    with atomic_path(dest) as tmp:
        ds = ogr.GetDriverByName("GPKG").CreateDataSource(str(tmp))
        out = ds.CreateLayer(Path(dest).stem, lyr.GetSpatialRef(), ogr.wkbPolygon)
        for name, t in ((label_field, ogr.OFTInteger), ("probability", ogr.OFTReal)):
            out.CreateField(ogr.FieldDefn(name, t))
        out.CreateField(ogr.FieldDefn("base_probability", ogr.OFTReal))
        out.CreateField(ogr.FieldDefn("suggest", ogr.OFTInteger))
        ds.StartTransaction()
        lyr.ResetReading()
        for f in lyr:
            i = by_fid.get(int(f.GetFID()))
            if i is None:
                continue
            g = ogr.Feature(out.GetLayerDefn())
            g.SetGeometry(f.GetGeometryRef().Clone())
            if chips.labels[i] >= 0:
                g.SetField(label_field, int(chips.labels[i]))
            g.SetField("probability", float(p_new[i]))
            g.SetField("base_probability", float(p_base[i]))
            if i in rank:
                g.SetField("suggest", rank[i])
            out.CreateFeature(g)
        ds.CommitTransaction()
        ds = None
