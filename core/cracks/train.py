"""Crack classifier training: folder-per-class images, stratified 7:2:1 split, augmentation,
Adam + cross-entropy (class-weighted or focal), ReduceLROnPlateau, early stopping, and the
paper's two-stage transfer learning (pretrain on a source set, fine-tune with conv1..layer3 frozen).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..early_stopping import EarlyStopping
from ..errors import InvalidInputError
from ..model_card import ModelCard
from ..progress import NullProgress, Progress, check
from ..runtime import pick_device, seed_everything
from .domain import fit_domain, image_features
from .models import CLASSES, build_model, freeze_for_finetuning
from .preprocess import RECIPE, training_transforms

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp"}
#: accepted folder names per class (our names first, then the Özgenel dataset's)
CLASS_FOLDERS = {"crack": ("crack", "positive"), "no_crack": ("no_crack", "negative")}


@dataclass(frozen=True)
class CrackTrainConfig:
    """Training settings (units in names; defaults follow the paper where it gives them)."""

    arch: str = "resnet50_se"
    input_px: int = 227
    epochs: int = 30
    batch_size: int = 16
    lr: float = 1e-4
    weight_decay: float = 1e-4
    patience: int = 8
    se_reduction: int = 16
    dropout: float = 0.5
    loss: str = "weighted_ce"  # or "focal", "ce"
    focal_gamma: float = 2.0
    positive_fraction: float = 1.0  # imbalance experiment: keep this share of the crack images
    split: tuple[float, float, float] = (0.7, 0.2, 0.1)
    imagenet_weights: str | None = None
    seed: int = 42
    device: str = "auto"
    max_images_per_class: int | None = None


@dataclass
class ImageSet:
    """Paths and labels (1 = crack) with the split each image belongs to."""

    paths: list[str]
    labels: np.ndarray
    split: np.ndarray  # "train", "val", "test"
    groups: list[str] = field(default_factory=list)


def find_images(root: str, max_per_class: int | None = None, seed: int = 0) -> tuple[list[str], np.ndarray, list[str]]:
    """Images under ``root/<class>/[subtype/]*`` with labels and sub-type groups."""
    base = Path(root)
    paths, labels, groups = [], [], []
    found = {}
    for cls, names in CLASS_FOLDERS.items():
        dirs = [d for d in base.iterdir() if d.is_dir() and d.name.lower() in names] if base.is_dir() else []
        files = sorted(p for d in dirs for p in d.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        if max_per_class and len(files) > max_per_class:
            rng = np.random.default_rng(seed)
            files = [files[i] for i in sorted(rng.choice(len(files), max_per_class, replace=False))]
        found[cls] = len(files)
        for f in files:
            paths.append(str(f))
            labels.append(1 if cls == "crack" else 0)
            groups.append(f"{cls}/{f.parent.name}")
    for p in paths:
        check_image(p)
    missing = [c for c, n in found.items() if n == 0]
    if missing:
        raise InvalidInputError(
            f"{root} has no images for class(es) {missing}. Put images in sub-folders 'crack/' and 'no_crack/' "
            "(or 'Positive/' and 'Negative/'); both classes are needed."
        )
    return paths, np.asarray(labels), groups


#: fewest images per class that can fill three splits with something to learn and to test on
MIN_IMAGES_PER_CLASS = 5

#: chips cut from one photo are named ``<photo>_r<row>_c<col>`` (scripts/derive_uav75_chips.py)
_CHIP_NAME = re.compile(r"^(?P<photo>.+?)_r\d+_c\d+$")


def photo_id(path: str) -> str:
    """The source photo of a chip image (its folder + the name before ``_r<row>_c<col>``), else the image."""
    p = Path(path)
    m = _CHIP_NAME.match(p.stem)
    return f"{p.parent.name}/{m.group('photo') if m else p.stem}"


def stratified_split(
    labels: np.ndarray,
    groups: list[str],
    fractions: tuple[float, float, float],
    seed: int,
    photos: list[str] | None = None,
) -> np.ndarray:
    """Train/val/test labels per image, stratified by class *and* sub-type folder (7:2:1 by default).

    With ``photos``, whole source photos go to one split (chips of one photo share light, texture
    and often the same crack: splitting them would leak). A class folder with fewer than three
    photos falls back to single images (nothing else can make three splits of it).
    """
    rng = np.random.default_rng(seed)
    split = np.empty(labels.size, dtype=object)
    for g in sorted(set(groups)):
        idx = np.array([i for i, gg in enumerate(groups) if gg == g])
        units = [photos[i] for i in idx] if photos is not None else [str(i) for i in idx]
        names = sorted(set(units))
        if len(names) < 3:
            units, names = [str(i) for i in idx], [str(i) for i in idx]
        order = rng.permutation(len(names))
        members = {n: [] for n in names}
        for i, u in zip(idx, units):
            members[u].append(i)
        cut_tr, cut_va = fractions[0] * idx.size, (fractions[0] + fractions[1]) * idx.size
        done = 0
        for k, o in enumerate(order):
            part = members[names[o]]
            left = len(order) - k
            if done < cut_tr - 1e-9 and left > 2:
                name = "train"
            elif done < cut_va - 1e-9 and left > 1:
                name = "val"
            else:
                name = "test"
            split[part] = name
            done += len(part)
    return split


def transforms(input_px: int, train: bool):
    """Training/evaluation transforms: :func:`preprocess.training_transforms` (one path everywhere)."""
    return training_transforms(input_px, train)


#: PIL modes of 8-bit images; 16-bit ("I;16"), 32-bit ("I") and float ("F") images would be clipped
#: to white by ``convert("RGB")`` and silently trained on.
EIGHT_BIT_MODES = {"1", "L", "LA", "P", "PA", "RGB", "RGBA", "RGBX", "CMYK", "YCbCr", "LAB", "HSV"}


def check_image(path: str) -> None:
    """Refuse an unreadable or non-8-bit image, naming the file (reads the header only)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            mode = im.mode
    except (UnidentifiedImageError, OSError) as exc:
        raise InvalidInputError(f"Cannot read image {path} ({exc}); remove or replace it.") from exc
    if mode not in EIGHT_BIT_MODES:
        raise InvalidInputError(
            f"Image {path} is not an 8-bit image (PIL mode {mode}, e.g. 16-bit or float): the classifiers take "
            "8-bit RGB. Convert it to 8-bit (e.g. gdal_translate -ot Byte -scale) or remove it."
        )


def open_rgb(path: str):
    """An 8-bit image as a PIL RGB image, refused clearly if unreadable or not 8-bit."""
    from PIL import Image

    check_image(path)
    try:
        with Image.open(path) as im:
            return im.convert("RGB")
    except OSError as exc:  # truncated file: the header was fine, the pixels are not
        raise InvalidInputError(f"Cannot read image {path} ({exc}); remove or replace it.") from exc


class ImageDataset(torch.utils.data.Dataset):
    """Reads images lazily; a corrupt file is a clear error naming the file."""

    def __init__(self, paths: list[str], labels: np.ndarray, tf) -> None:
        self.paths, self.labels, self.tf = paths, labels, tf

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int):
        return self.tf(open_rgb(self.paths[i])), int(self.labels[i])


class FocalLoss(nn.Module):
    """Focal loss (Lin et al., 2017) on softmax outputs, for strongly imbalanced chip sets."""

    def __init__(self, gamma: float = 2.0, weight: torch.Tensor | None = None) -> None:
        super().__init__()
        self.gamma, self.weight = gamma, weight

    def forward(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:  # noqa: D102
        ce = nn.functional.cross_entropy(logits, y, weight=self.weight, reduction="none")
        pt = torch.exp(-nn.functional.cross_entropy(logits, y, reduction="none"))
        return ((1 - pt) ** self.gamma * ce).mean()


def evaluate(model: nn.Module, loader, device: torch.device) -> tuple[np.ndarray, np.ndarray]:
    """Labels and crack probabilities over a loader."""
    model.eval()
    ys, ps = [], []
    with torch.no_grad():
        for x, y in loader:
            ps.append(torch.softmax(model(x.to(device)), 1)[:, 1].cpu().numpy())
            ys.append(y.numpy())
    return np.concatenate(ys), np.concatenate(ps)


def crack_metrics(y: np.ndarray, p: np.ndarray) -> dict:
    """Accuracy, recall, precision, F1, AUC and the confusion matrix at 0.5."""
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_score, recall_score, roc_auc_score

    yhat = (p >= 0.5).astype(int)
    return {
        "accuracy": float(accuracy_score(y, yhat)),
        "recall": float(recall_score(y, yhat, zero_division=0)),
        "precision": float(precision_score(y, yhat, zero_division=0)),
        "f1": float(f1_score(y, yhat, zero_division=0)),
        "auc": float(roc_auc_score(y, p)) if len(np.unique(y)) == 2 else float("nan"),
        "confusion": confusion_matrix(y, yhat, labels=[0, 1]).tolist(),
    }


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
    tr, va = data.split == "train", data.split == "val"
    g = torch.Generator().manual_seed(cfg.seed)
    dl_tr = torch.utils.data.DataLoader(
        ImageDataset([p for p, m in zip(data.paths, tr) if m], data.labels[tr], transforms(cfg.input_px, True)),
        batch_size=cfg.batch_size,
        shuffle=True,
        generator=g,
    )
    dl_va = torch.utils.data.DataLoader(
        ImageDataset([p for p, m in zip(data.paths, va) if m], data.labels[va], transforms(cfg.input_px, False)),
        batch_size=cfg.batch_size,
    )
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


def _train_features(model: nn.Module, data: ImageSet, cfg: CrackTrainConfig) -> np.ndarray:
    """Pooled last-stage features of the training images (no augmentation): the model's domain."""
    tr = data.split == "train"
    dl = torch.utils.data.DataLoader(
        ImageDataset([p for p, m in zip(data.paths, tr) if m], data.labels[tr], transforms(cfg.input_px, False)),
        batch_size=cfg.batch_size,
    )
    return image_features(model, dl)


def load_image_set(root: str, cfg: CrackTrainConfig) -> ImageSet:
    """Find, subsample (imbalance experiment) and split an image folder."""
    paths, labels, groups = find_images(root, cfg.max_images_per_class, cfg.seed)
    if cfg.positive_fraction < 1.0:
        rng = np.random.default_rng(cfg.seed)
        pos = np.flatnonzero(labels == 1)
        keep_pos = rng.choice(pos, max(2, int(round(cfg.positive_fraction * pos.size))), replace=False)
        keep = np.sort(np.concatenate([np.flatnonzero(labels == 0), keep_pos]))
        paths, labels, groups = [paths[i] for i in keep], labels[keep], [groups[i] for i in keep]
    for c, name in ((1, "crack"), (0, "no_crack")):
        n = int((labels == c).sum())
        if n < MIN_IMAGES_PER_CLASS:
            raise InvalidInputError(
                f"{root}: class '{name}' has {n} image(s): too few for a train, validation and test split; "
                f"add images (at least {MIN_IMAGES_PER_CLASS}, better about 10 or more per class)."
            )
    split = stratified_split(labels, groups, cfg.split, cfg.seed, [photo_id(p) for p in paths])
    empty = [name for name in ("train", "val", "test") if not (split == name).any()]
    if empty:
        raise InvalidInputError(
            f"{root}: {len(paths)} images leave the {' and '.join(empty)} split(s) empty with the "
            f"{'/'.join(str(f) for f in cfg.split)} split; add images (at least about 10 per class) "
            "or change the split fractions."
        )
    return ImageSet(paths, labels, split, groups)


def train_crack_model(
    target: str,
    out_dir: str,
    cfg: CrackTrainConfig,
    source: str | None = None,
    progress: Progress | None = None,
    on_epoch=None,
    name: str | None = None,
) -> tuple[str, dict]:
    """Train (optionally pretrain on ``source``, then fine-tune on ``target`` with conv1..layer3 frozen).

    Returns the model card path and the target test-split metrics.
    """
    progress = progress or NullProgress()
    from ..progress import SubProgress

    pick_device(cfg.device)  # an unusable device is refused before any work
    seed_everything(cfg.seed)  # before building: weight initialisation draws from torch's generator
    model = build_model(cfg.arch, 2, cfg.se_reduction, cfg.dropout, cfg.imagenet_weights)
    stages = {}
    if source:
        src = load_image_set(source, cfg)
        model, h = fit(model, src, cfg, SubProgress(progress, 0, 0.5), on_epoch)
        stages["pretrain"] = {"images": len(src.paths), "epochs_run": len(h["loss"])}
        stages["trainable_after_freeze"] = len(freeze_for_finetuning(model))
    tgt = load_image_set(target, cfg)
    model, hist = fit(model, tgt, cfg, SubProgress(progress, 0.5 if source else 0, 1.0), on_epoch)
    te = tgt.split == "test"
    dl = torch.utils.data.DataLoader(
        ImageDataset([p for p, m in zip(tgt.paths, te) if m], tgt.labels[te], transforms(cfg.input_px, False)),
        batch_size=cfg.batch_size,
    )
    y, p = evaluate(model, dl, pick_device(cfg.device))
    m = crack_metrics(y, p)
    domain = fit_domain(np.concatenate([_train_features(model, s, cfg) for s in ([src, tgt] if source else [tgt])]))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    name = name or (cfg.arch + ("_tl" if source else ""))
    torch.save(model.state_dict(), out / f"{name}.pt")
    card = ModelCard(
        task="crack",
        architecture=cfg.arch,
        weights_file=f"{name}.pt",
        inputs={"input_px": cfg.input_px, "bands": "RGB uint8", "se_reduction": cfg.se_reduction, "domain": domain},
        normalisation=dict(RECIPE),
        classes=list(CLASSES),
        metrics={
            "test": m,
            "split": (
                f"stratified {cfg.split} of {target}, whole source photos per split "
                f"({len({photo_id(p) for p in tgt.paths})} photos); test images {int(te.sum())}"
            ),
        },
        hyperparameters={k: v for k, v in asdict(cfg).items() if k not in ("device",)},
        training={"transfer": stages or None, "history": hist},
    )
    card_path = out / f"{name}.json"
    card.save(card_path)
    return str(card_path), m
