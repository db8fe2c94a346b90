"""Crack image sets: finding labelled images, checking them, photo-grouped splits, lazy datasets.

Why a module of its own: training, evaluation and Grad-CAM all read images the same way (8-bit
only, a clear error naming a bad file), and the split rules (stratified by class and sub-folder,
whole source photos per split) are the part of training a reviewer checks for leakage.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from ..errors import InvalidInputError

if TYPE_CHECKING:
    from PIL import Image

    from .config import CrackTrainConfig

#: the split stratum of hard negatives (crack-free images of the target imagery)
HARD_NEGATIVES = "no_crack/hard_negatives"

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp"}


#: accepted folder names per class (our names first, then the Özgenel dataset's)
CLASS_FOLDERS = {"crack": ("crack", "positive"), "no_crack": ("no_crack", "negative")}


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
        files = sorted(Path(f) for d in dirs for f in _listed(d, base))
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
    check_disjoint(
        [pth for pth, lab in zip(paths, labels) if lab == 1], [pth for pth, lab in zip(paths, labels) if lab == 0]
    )
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
        members: dict[str, list[int]] = {n: [] for n in names}
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


def open_rgb(path: str) -> Image.Image:
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

    def __init__(self, paths: list[str], labels: np.ndarray, tf: Callable) -> None:
        self.paths, self.labels, self.tf = paths, labels, tf

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return self.tf(open_rgb(self.paths[i])), int(self.labels[i])


def _listed(folder: Path, root: Path) -> list[str]:
    """Image files under ``folder``; a symbolic link that leads outside ``root`` is refused.

    Why: a shared training folder could hold ``crack/x.png -> ~/.ssh/id_rsa`` (or a link to a
    whole other tree); the tools read only what lies inside the folder the user chose.
    """
    top = root.resolve()
    files = []
    for p in folder.rglob("*"):
        if p.suffix.lower() not in IMAGE_SUFFIXES:
            continue
        real = p.resolve()
        if p.is_symlink() or real != p.absolute():
            if not real.is_relative_to(top):
                raise InvalidInputError(
                    f"{p} is a symbolic link to {real}, outside the folder {root}: images are read only from inside "
                    "the chosen folder. Copy the image in, or remove the link."
                )
        files.append(str(p))
    return sorted(files)


def check_disjoint(crack: list[str], no_crack: list[str]) -> None:
    """Refuse one file labelled both crack and crack-free (the same folder given twice, a link or a copy).

    Why: every such image is scored right and wrong at once; the metrics stay plausible and mean
    nothing. Identity is the file itself (device and inode), then the bytes.
    """
    import hashlib

    def keys(paths: list[str]) -> dict[object, str]:
        out: dict[object, str] = {}
        for p in paths:
            st = os.stat(p)
            out[(st.st_dev, st.st_ino)] = p
            with open(p, "rb") as f:
                out[hashlib.sha1(f.read()).hexdigest()] = p
        return out

    a, b = keys(crack), keys(no_crack)
    both = [(a[k], b[k]) for k in a.keys() & b.keys()]
    if both:
        x, y = sorted(both)[0]
        raise InvalidInputError(
            f"{len(both)} image(s) are both crack and crack-free, e.g. {x} and {y} (the same file or the same "
            "bytes): the crack and crack-free images must be different images. Check the folders."
        )


def image_files(folder: str) -> list[str]:
    """Every image under ``folder`` (recursively), sorted; refused if there is none."""
    files = _listed(Path(folder), Path(folder))
    if not files:
        raise InvalidInputError(f"{folder} holds no image ({', '.join(sorted(IMAGE_SUFFIXES))}).")
    for f in files:
        check_image(f)
    return files


def load_image_set(root: str, cfg: CrackTrainConfig, hard_negatives: str | None = None) -> ImageSet:
    """Find, subsample (imbalance experiment) and split an image folder.

    ``hard_negatives``: a folder of crack-free images from the imagery the model will be used on
    (chips of the orthomosaic without cracks, joints, shadows, vegetation, textures) added to the
    ``no_crack`` class as their own stratum, so every split holds some of them.
    """
    paths, labels, groups = find_images(root, cfg.max_images_per_class, cfg.seed)
    if hard_negatives:
        extra = image_files(hard_negatives)
        check_disjoint([p for p, lab in zip(paths, labels) if lab == 1], extra)
        paths += extra
        labels = np.concatenate([labels, np.zeros(len(extra), labels.dtype)])
        groups += [HARD_NEGATIVES] * len(extra)
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
