"""A card for the mean of several saved models: the map is the mean of their probability maps.

Why: when the cross-validation cannot tell the leading models apart, the user may map their mean
(``lsm_train``'s "Model to map" = mean of the top models). The card names member cards that sit in
the same folder (plain file names, nothing else is followed), carries the mean's own CV figures
and its zoning breaks, and is read by ``predict_stack`` / ``predict_and_zone``; each member is
loaded and checked exactly as on its own.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio

from ..errors import InvalidInputError, ModelLoadError
from ..model_card import SusceptibilityCard
from ..progress import NullProgress, Progress, SubProgress, check
from ..raster.grid import Grid
from ..raster.io import FLOAT_NODATA, atomic_path, write_text_atomic

FORMAT = "landslide_ai.mean_of_models.v1"


@dataclass(frozen=True)
class MeanCard:
    """Member card paths (resolved in the card's folder), their cards (read once), the CV figures and training."""

    members: list[Path]
    metrics: dict
    training: dict
    #: each member's card, read and schema-checked when the mean card is read (never read again)
    cards: list[SusceptibilityCard]


def write_mean_card(path: str | Path, members: list[str], metrics: dict, zoning: dict | None, n_train: int) -> None:
    """Write a mean card beside its members (``members``: card file names in the same folder)."""
    doc = {
        "format": FORMAT,
        "task": "susceptibility",
        "members": [Path(m).name for m in members],
        "metrics": metrics,
        "training": {"fit_on": "all samples", "n_train": n_train, "n_test": 0} | ({"zoning": zoning} if zoning else {}),
    }
    write_text_atomic(path, json.dumps(doc, indent=2))


def read_mean_card(path: str | Path) -> MeanCard | None:
    """The mean card at ``path``, or None when the file is another card (an ordinary model card)."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return mean_card_from_dict(doc, path)


def mean_card_from_dict(doc: object, path: str | Path) -> MeanCard | None:
    """The mean card held by a parsed card file, or None when it is another card."""
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        return None
    names = doc.get("members")
    if not isinstance(names, list) or len(names) < 2 or not all(isinstance(n, str) for n in names):
        raise ModelLoadError(f"{path}: a mean-of-models card must list at least two member card names.")
    folder = Path(path).resolve().parent
    members = []
    for n in names:
        if Path(n).name != n or n in ("", ".", ".."):
            raise ModelLoadError(f"{path}: member '{n}' is not a plain file name in the card's folder; refused.")
        m = folder / n
        if m.is_symlink() or not m.is_file():
            raise ModelLoadError(
                f"{path}: member card '{n}' is missing beside it (or is a link); copy the folder whole."
            )
        members.append(m)
    cards = [SusceptibilityCard.load(m) for m in members]
    return MeanCard(members, dict(doc.get("metrics") or {}), dict(doc.get("training") or {}), cards)


def predict_mean(
    card: MeanCard,
    predict_one: Callable[..., None],
    load_one: Callable[[str, SusceptibilityCard], object],
    stack: str,
    out: str,
    temporal_stack: str | None,
    progress: Progress | None = None,
    block: int = 256,
    tags: dict[str, str] | None = None,
    **options: object,
) -> None:
    """Each member's probability map into a staging folder beside ``out``, then their mean, window by window.

    ``predict_one``: ``predict_stack``, and ``load_one``: ``load_model`` (passed in, so that this
    module does not import the predictor and the loader that read it). Each member is loaded from
    the card already read, just before it is mapped (one member's weights in memory at a time).
    """
    progress = progress or NullProgress()
    dest = Path(out)
    stage = dest.parent / f".{dest.name}.members"
    stage.mkdir(parents=True, exist_ok=True)
    n = len(card.members)
    try:
        parts = []
        for i, m in enumerate(card.members):
            part = stage / f"{i}.tif"
            sub = SubProgress(progress, 0.9 * i / n, 0.9 * (i + 1) / n)
            loaded = load_one(str(m), card.cards[i])
            predict_one(str(m), stack, str(part), temporal_stack, block=block, progress=sub, loaded=loaded, **options)
            parts.append(part)
        srcs = [rasterio.open(p) for p in parts]
        try:
            grid = Grid.from_dataset(srcs[0])
            prof = grid.profile(1, "float32", FLOAT_NODATA)
            with atomic_path(out) as tmp, rasterio.open(tmp, "w", **prof) as dst:
                dst.update_tags(**(tags or {}))
                for win in grid.windows(block):
                    check(progress)
                    a = np.stack([s.read(1, window=win) for s in srcs])
                    bad = np.any(a == FLOAT_NODATA, axis=0)
                    dst.write(np.where(bad, FLOAT_NODATA, a.mean(axis=0)).astype(np.float32), 1, window=win)
        finally:
            for s in srcs:
                s.close()
    finally:
        for p in stage.glob("*"):
            p.unlink()
        stage.rmdir()
    progress.report(1.0, "mean of the members written")


def check_members_match(card: MeanCard) -> None:
    """Refuse a mean card whose members disagree on the factors they read."""
    factors = {tuple(c.factors) for c in card.cards}
    if len(factors) != 1:
        raise InvalidInputError("The member models of this mean card read different factors; retrain them together.")
