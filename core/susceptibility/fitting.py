"""Fitting one susceptibility model.

The training settings, the deep models' epoch loop with early stopping, batched deep prediction,
the tree/GLM/GAM fits and the validation split.

torch is imported inside the deep functions only: the tree, GLM and GAM fits, and everything that
imports this module for ``TrainConfig``, run in a QGIS whose Python has no torch.

Why a module of its own: the model comparison (``train.py``), the spatial cross-validation and the
Bayesian search all fit models the same way; with the fitting here none of them imports another
(``train.py`` and ``search.py`` used to import each other inside functions to hide a cycle).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch
    from sklearn.compose import ColumnTransformer

    from .augment import DihedralAugment
    from .networks import SeedEnsemble, SusceptibilityNet

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..early_stopping import EarlyStopping
from ..errors import InvalidInputError, MissingDependencyError
from ..progress import NullProgress, Progress, SubProgress, check
from ..runtime import pick_device, seed_everything
from .dataset import Normalisation, SampleSet, TemporalMode
from .models import ALL_MODELS, DISPLAY, DeepHP, XGBoostLR

#: share of the grid one patch may cover before lsm_train warns (patch-size guidance)
PATCH_SHARE_WARNING = 0.02


EpochCallback = Callable[[str, dict], None]


@dataclass(frozen=True)
class TrainConfig:
    """Settings of one training run (units in names, defaults from the paper where it gives them)."""

    models: tuple[str, ...] = ALL_MODELS
    patch_size: int = 30
    temporal_mode: TemporalMode = TemporalMode.FACTOR_SEQUENCE
    epochs: int = 80
    batch_size: int = 32
    patience: int = 15
    val_fraction: float = 0.15
    hp: DeepHP = field(default_factory=DeepHP)
    rf_trees: int = 500
    xgb_trees: int = 200
    search_trials: int = 0
    search_model: str = "cnn_lstm_am"
    shap_samples: int = 100
    #: weight the landslide class of the deep models' loss by absences / landslides (the sampling
    #: ratio, 1:2 by default, otherwise makes "absence" the cheap answer); off = the paper
    class_weight: bool = False
    #: categorical factors (band metadata of the stack) become one 0/1 channel per code
    one_hot: bool = True
    #: random rotations/mirrors of training patches, directions rotated with them (augment.py)
    augment: bool = False
    #: deep models as the mean of this many members trained with seeds seed, seed+1, ...
    ensemble: int = 1
    seed: int = 42
    device: str = "auto"

    def __post_init__(self) -> None:
        """Refuse settings that would train nothing, whatever the front end (CLI, Processing, Python)."""
        checks = [
            (self.epochs >= 1, f"epochs must be at least 1, not {self.epochs}"),
            (self.batch_size >= 2, f"the batch size must be at least 2 (batch norm), not {self.batch_size}"),
            (self.patch_size >= 1, f"the patch size must be at least 1 cell, not {self.patch_size}"),
            (self.patience >= 1, f"patience must be at least 1 epoch, not {self.patience}"),
            (0 < self.val_fraction < 1, f"the validation fraction must be between 0 and 1, not {self.val_fraction}"),
            (self.rf_trees >= 1 and self.xgb_trees >= 1, "forests need at least 1 tree"),
            (self.ensemble >= 1, f"an ensemble needs at least 1 member, not {self.ensemble}"),
            (self.search_trials >= 0, "search trials must be 0 or more"),
        ]
        for ok, why in checks:
            if not ok:
                raise InvalidInputError(f"Training: {why}.")


def check_packages(cfg: TrainConfig) -> None:
    """Refuse, before any work, a run whose models or options need a package this Python lacks.

    Why: without torch the Random Forest, GLM and GAM still train; a run that also asks for a deep
    model, XGBoost-LR, the Bayesian search or SHAP says at once which package is missing and which
    choice needs it, instead of failing after the first models were fitted.
    """
    from ..dependencies import require
    from ..model_card import ModelKind

    deep = [DISPLAY[m] for m in cfg.models if ModelKind(m).is_deep]
    if deep:
        require(("torch",), ", ".join(deep) + " (deep models; train only RF, GLM or GAM to go without torch)")
    if ModelKind.XGB_LR.value in cfg.models:
        require(("xgboost",), "XGBoost-LR")
    if cfg.search_trials > 0 and deep:
        require(("optuna",), "The Bayesian search (set its trials to 0 to skip it)")
    if cfg.shap_samples > 0:
        require(("shap",), "SHAP importance (set SHAP samples to 0 to skip it)")


#: fewest samples of each class in an early-stopping validation split. Why: with 1 landslide among
#: 38 validation samples the validation loss barely moved and accuracy sat at 0.974 from epoch 1;
#: every deep model stopped at epoch 3 of 18 and maps made with 15 or 25 epochs were identical.
MIN_VAL_PER_CLASS = 5


def validation_split(data: SampleSet, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, val) within the training rows: whole blocks holding enough of both classes.

    Blocks are added in random order until the validation part holds ``fraction`` of the rows and
    at least ``MIN_VAL_PER_CLASS`` of each class (fewer only when a class is so rare that this would
    take more than a quarter of it), so that its loss can judge. When whole blocks cannot give that
    within half of the training rows, a split stratified by class is used instead: validation then
    shares blocks with training, which only makes early stopping less strict; the test rows or
    held-out folds are never involved either way.
    """
    rng = np.random.default_rng(seed)
    tr = np.flatnonzero(~data.is_test)
    y = data.labels[tr]
    need = {c: max(1, min(MIN_VAL_PER_CLASS, int((y == c).sum()) // 4)) for c in (0, 1)}

    def enough(mask: np.ndarray) -> bool:
        return all(int((y[mask] == c).sum()) >= need[c] for c in (0, 1)) and all(
            int((y[~mask] == c).sum()) >= need[c] for c in (0, 1)
        )

    blocks = np.unique(data.blocks[tr])
    if blocks.size >= 5:
        chosen: list[int] = []
        m = np.zeros(tr.size, bool)
        for b in rng.permutation(blocks):
            chosen.append(b)
            m = np.isin(data.blocks[tr], chosen)
            if m.sum() >= fraction * tr.size and enough(m):
                break
        if enough(m) and m.sum() <= 0.5 * tr.size:
            return tr[~m], tr[m]
    val = []
    for c in (0, 1):
        idx = rng.permutation(tr[y == c])
        val.append(idx[: max(need[c], int(round(fraction * idx.size)))])
    v = np.sort(np.concatenate(val))
    return np.setdiff1d(tr, v), v


def _tensors(
    data: SampleSet, idx: np.ndarray, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
    import torch

    p = torch.from_numpy(data.patches[idx]).to(device)
    s = torch.from_numpy(data.series[idx]).to(device) if data.series is not None else None
    y = torch.from_numpy(data.labels[idx].astype(np.float32)).to(device)
    return p, s, y


def predict_deep(
    model: SusceptibilityNet | SeedEnsemble,
    patches: np.ndarray,
    series: np.ndarray | None,
    device: torch.device,
    batch: int = 1024,
) -> np.ndarray:
    """Probabilities of a deep model for arrays of patches/series."""
    import torch

    model.eval()
    out = []
    with torch.no_grad():
        for i in range(0, patches.shape[0], batch):
            p = torch.from_numpy(patches[i : i + batch]).to(device)
            s = torch.from_numpy(series[i : i + batch]).to(device) if series is not None else None
            out.append(torch.sigmoid(model(p, s)).cpu().numpy())
    return np.concatenate(out) if out else np.empty(0, np.float32)


def fit_deep(
    kind: str,
    data: SampleSet,
    train_idx: np.ndarray,
    val_idx: np.ndarray,
    cfg: TrainConfig,
    hp: DeepHP,
    n_factors: int,
    n_vars: int,
    progress: Progress | None = None,
    on_epoch: EpochCallback | None = None,
    augment: DihedralAugment | None = None,
) -> tuple[SusceptibilityNet | SeedEnsemble, dict]:
    """One deep model, or a :class:`SeedEnsemble` of ``cfg.ensemble`` members (seeds seed, seed+1, ...).

    Every member sees the same training and validation rows; only initialisation, batch order and
    augmentation draws differ. The history returned is the first member's, with every member's
    best epoch.
    """
    from .networks import SeedEnsemble

    progress = progress or NullProgress()
    task = _FitTask(kind, data, train_idx, val_idx, cfg, hp, n_factors, n_vars, on_epoch, augment)
    n = max(1, cfg.ensemble)
    members, hists = [], []
    for i in range(n):
        model, hist = _fit_one(task, cfg.seed + i, SubProgress(progress, i / n, (i + 1) / n))
        members.append(model)
        hists.append(hist)
    hist = dict(hists[0])
    hist["best_epoch"] = [h["best_epoch"][0] for h in hists]
    return (members[0] if n == 1 else SeedEnsemble(members)), hist


@dataclass(frozen=True)
class _FitTask:
    """What every member of a deep model is fitted on (only the seed differs between members)."""

    kind: str
    data: SampleSet
    train_idx: np.ndarray
    val_idx: np.ndarray
    cfg: TrainConfig
    hp: DeepHP
    n_factors: int
    n_vars: int
    on_epoch: EpochCallback | None
    augment: DihedralAugment | None


def _fit_one(task: _FitTask, seed: int, progress: Progress) -> tuple[SusceptibilityNet, dict]:
    """Adam + binary cross-entropy with early stopping on validation loss; returns the best model."""
    import torch
    from torch import nn

    from .networks import SusceptibilityNet

    kind, data, cfg, hp, on_epoch, augment = task.kind, task.data, task.cfg, task.hp, task.on_epoch, task.augment
    train_idx, val_idx, n_factors, n_vars = task.train_idx, task.val_idx, task.n_factors, task.n_vars
    seed_everything(seed)
    device = pick_device(cfg.device)
    model = SusceptibilityNet(kind, n_factors, n_vars, hp, int(data.patches.shape[-1])).to(device)
    if model.needs_series and data.series is None:
        raise InvalidInputError(f"{DISPLAY[kind]} needs an LSTM input; temporal mode 'none' gives it none.")
    opt = torch.optim.Adam(model.parameters(), lr=hp.lr, weight_decay=hp.l2)
    pos_weight = None
    if cfg.class_weight:
        y = np.asarray(data.labels)[train_idx]
        pos_weight = torch.tensor([(y == 0).sum() / max((y == 1).sum(), 1)], dtype=torch.float32, device=device)
    lossf = nn.BCEWithLogitsLoss(pos_weight=pos_weight)
    ptr, str_, ytr = _tensors(data, train_idx, device)
    pva, sva, yva = _tensors(data, val_idx, device)
    g = torch.Generator().manual_seed(seed)
    # the factor-sequence series is the patch centre's channels: re-read after a symmetry
    reread_series = augment is not None and cfg.temporal_mode is TemporalMode.FACTOR_SEQUENCE and str_ is not None
    c = int(data.patches.shape[-1]) // 2
    hist: dict[str, list[float]] = {"loss": [], "val_loss": [], "acc": [], "val_acc": [], "val_auc": []}
    yva_np = data.labels[val_idx]
    stopper = EarlyStopping(cfg.patience)
    n = ptr.shape[0]
    for epoch in range(cfg.epochs):
        model.train()
        perm = torch.randperm(n, generator=g).to(device)
        tot, correct = 0.0, 0
        for i in range(0, n, cfg.batch_size):
            check(progress)
            b = perm[i : i + cfg.batch_size]
            if b.numel() < 2:  # batch norm needs two samples
                continue
            pb, sb = ptr[b], (str_[b] if str_ is not None else None)
            if augment is not None:
                pb = augment(pb, g)
                if reread_series:
                    sb = pb[:, :, c, c][:, :, None].contiguous()
            opt.zero_grad()
            logit = model(pb, sb)
            loss = lossf(logit, ytr[b])
            loss.backward()
            opt.step()
            tot += loss.item() * b.numel()
            correct += int(((logit > 0).float() == ytr[b]).sum())
        model.eval()
        vloss = vacc = vauc = float("nan")
        if yva.numel():  # no validation rows: a refit for a fixed number of epochs (the CV's)
            with torch.no_grad():
                lv = model(pva, sva)
                vloss = float(lossf(lv, yva))
                vacc = float(((lv > 0).float() == yva).float().mean())
            vauc = _auc(yva_np, lv.cpu().numpy())
        hist["loss"].append(tot / n)
        hist["acc"].append(correct / n)
        hist["val_loss"].append(vloss)
        hist["val_acc"].append(vacc)
        hist["val_auc"].append(vauc)
        if on_epoch:
            on_epoch(kind, {"epoch": epoch + 1, **{k: v[-1] for k, v in hist.items()}})
        progress.report(
            (epoch + 1) / cfg.epochs, f"{DISPLAY[kind]} epoch {epoch + 1}: loss {tot / n:.3f}, val_loss {vloss:.3f}"
        )
        if yva.numel() and stopper.step(vloss, model):
            break
    if not yva.numel():
        hist["best_epoch"] = [cfg.epochs]
        return model, hist
    stopper.restore(model)
    hist["best_epoch"] = [int(np.nanargmin(hist["val_loss"])) + 1]
    return model, hist


def _auc(y: np.ndarray, score: np.ndarray) -> float:
    """Validation AUC (NaN with one class): the ranking the map is made of, unlike accuracy at 0.5."""
    if np.unique(y).size < 2:
        return float("nan")
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, score))


def make_augment(
    cfg: TrainConfig, features: list[str], norm: Normalisation, names: list[str]
) -> DihedralAugment | None:
    """The training augmentation of ``cfg`` (None when off); refuses stacks it cannot rotate correctly."""
    if not cfg.augment:
        return None
    from .augment import DihedralAugment

    return DihedralAugment.for_features(features, norm, names)


def _gam_basis(x: np.ndarray, n_knots: int = 5) -> ColumnTransformer:
    """Per-column cubic B-spline bases (quantile knots where distinct), 0/1 columns passed through."""
    from sklearn.compose import ColumnTransformer
    from sklearn.preprocessing import SplineTransformer

    parts = []
    for j in range(x.shape[1]):
        col = x[:, j]
        if np.unique(col).size <= 2:
            parts.append((f"linear_{j}", "passthrough", [j]))
            continue
        q = np.quantile(col, np.linspace(0, 1, n_knots))
        knots = "quantile" if np.all(np.diff(q) > 0) else "uniform"
        parts.append((f"spline_{j}", SplineTransformer(n_knots=n_knots, degree=3, knots=knots), [j]))
    return ColumnTransformer(parts)


def fit_tree(kind: str, x: np.ndarray, y: np.ndarray, cfg: TrainConfig) -> Any:
    """Random Forest, XGBoost-LR, GLM or GAM on centre-cell factor vectors.

    GLM: L2 logistic regression on the (already standardised) factors. GAM-style: each factor
    expanded in a cubic B-spline basis (5 knots at quantiles, so every factor gets a smooth
    non-linear effect), then an L2 logistic regression: an additive model without interactions,
    the classical baseline of susceptibility studies. 0/1 columns (one-hot classes of a categorical
    factor) enter linearly; a column whose quantiles repeat (many tied values, e.g. distance 0)
    gets uniform knots, since quantile knots must be distinct.
    """
    if kind in ("glm", "gam"):
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline

        lr = LogisticRegression(C=1.0, max_iter=5000)
        if kind == "glm":
            return make_pipeline(lr).fit(x, y)
        return make_pipeline(_gam_basis(x), lr).fit(x, y)
    if kind == "rf":
        from sklearn.ensemble import RandomForestClassifier

        rf = RandomForestClassifier(n_estimators=cfg.rf_trees, min_samples_leaf=2, n_jobs=2, random_state=cfg.seed)
        # trees are grown in 2 threads (deterministic per seed); predictions are summed in one, because
        # threads add the trees' votes in whatever order they finish: the last bit then varies, and on
        # tied cells it flipped the rate AUC in the 4th decimal between two runs with the same seed
        return rf.fit(x, y).set_params(n_jobs=1)
    try:
        return XGBoostLR(n_estimators=cfg.xgb_trees, seed=cfg.seed).fit(x, y)
    except ImportError as exc:
        raise MissingDependencyError("XGBoost-LR needs xgboost: pip install xgboost") from exc
