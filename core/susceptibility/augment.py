"""Rotations and reflections of factor patches that keep the terrain physically consistent.

Why: the deep models see 30 x 30-cell patches of a few hundred landslides; the eight symmetries of
the square (rotations by 90 degrees, with and without a mirror) are the classical way to show a
CNN more views of the same terrain. But a patch is a map, not a photo: rotating a hillside turns
the direction it faces. Slope, curvature, TWI or distance to a river do not change under a
rotation; the downslope direction does. ``lsm_derive_terrain`` writes it as northness (cos aspect)
and eastness (sin aspect), the components of a vector, which rotate with the patch:

* mirror east-west: eastness -> -eastness;
* rotation by 90 degrees counter-clockwise (``torch.rot90``, k = 1, north up): what faced east now
  faces north, (eastness, northness) -> (-northness, eastness).

Aspect in degrees cannot be rotated this way (flat cells have no aspect and the angle wraps), so
a stack with a factor named like aspect is refused: use northness/eastness. Any other factor is
taken to be rotation-invariant; a factor that is not (e.g. a wind-exposure index for one wind
direction) must not be augmented, so augmentation is an option, off by default as in the paper.

With an even patch (30, the default) no symmetry keeps the sample cell at index ``patch // 2``;
the transformed patch is shifted back by one cell so the labelled cell stays the centre, and the
strip that moves in is filled with 0 (the factor mean, as nodata and the stack edge are).
In factor-sequence mode the LSTM reads the centre cell's factors, so its series is re-read from
the transformed patch; a climate series does not depend on direction and is left as it is.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..errors import InvalidInputError
from .dataset import Normalisation

#: the direction-vector factors written by lsm_derive_terrain: (eastness, northness) = (sin, cos) aspect
EAST, NORTH = "eastness", "northness"


def _spatial(x: torch.Tensor, flip: bool, k: int) -> torch.Tensor:
    """Mirror east-west (reverse columns), then rotate k x 90 degrees counter-clockwise."""
    if flip:
        x = x.flip(-1)
    return torch.rot90(x, k, dims=(-2, -1)) if k else x


def _vector(e: torch.Tensor, n: torch.Tensor, flip: bool, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The same symmetry applied to (eastness, northness) vectors."""
    if flip:
        e = -e
    for _ in range(k % 4):
        e, n = -n, e
    return e, n


def _centre_shift(patch: int, flip: bool, k: int) -> tuple[int, int]:
    """(rows, cols) to roll a transformed patch by so the cell at ``patch // 2`` is the original centre."""
    idx = torch.arange(patch * patch).reshape(patch, patch)
    c = patch // 2
    pos = torch.nonzero(_spatial(idx, flip, k) == c * patch + c)[0]
    return c - int(pos[0]), c - int(pos[1])


def _shift(x: torch.Tensor, dr: int, dc: int) -> torch.Tensor:
    """Roll the last two axes by (dr, dc) and zero what wrapped around."""
    if not dr and not dc:
        return x
    x = torch.roll(x, shifts=(dr, dc), dims=(-2, -1))
    if dr > 0:
        x[..., :dr, :] = 0
    elif dr < 0:
        x[..., dr:, :] = 0
    if dc > 0:
        x[..., :, :dc] = 0
    elif dc < 0:
        x[..., :, dc:] = 0
    return x


@dataclass(frozen=True)
class DihedralAugment:
    """Random symmetries of the square for batches of standardised patches (see module doc).

    ``east``/``north``: channel indices of eastness/northness (None when the stack has none);
    their standardisation is undone before the vector is rotated and redone after it.
    """

    east: int | None
    north: int | None
    east_mean: float = 0.0
    east_std: float = 1.0
    north_mean: float = 0.0
    north_std: float = 1.0

    @classmethod
    def for_features(cls, features: list[str], norm: Normalisation, names: list[str]) -> DihedralAugment:
        """Locate the direction channels among the model-input ``features``; refuse aspect in degrees."""
        angular = [n for n in names if "aspect" in n.lower()]
        if angular:
            raise InvalidInputError(
                f"Augmentation rotates patches, and the factor(s) {angular} hold a direction as an angle, which the "
                "rotation would leave pointing the old way. Stack northness and eastness (lsm_derive_terrain writes "
                "them) instead of aspect, or turn augmentation off."
            )
        lowered = [f.lower() for f in features]
        has_e, has_n = EAST in lowered, NORTH in lowered
        if has_e != has_n:
            raise InvalidInputError(
                "Augmentation needs both northness and eastness (a direction is a vector of the two), or neither; "
                f"the stack has only {'eastness' if has_e else 'northness'}."
            )
        if not has_e:
            return cls(None, None)
        e, n = lowered.index(EAST), lowered.index(NORTH)
        band = {f.lower(): i for i, f in enumerate(names)}
        be, bn = band[EAST], band[NORTH]
        return cls(e, n, norm.mean[be], norm.std[be], norm.mean[bn], norm.std[bn])

    def transform(self, x: torch.Tensor, flip: bool, k: int) -> torch.Tensor:
        """One symmetry applied to (N, C, P, P) standardised patches, centre kept, directions rotated."""
        valid = (x != 0).any(dim=1, keepdim=True)  # nodata cells are 0 in every channel: keep them 0
        y = _spatial(x, flip, k).clone()
        if self.east is not None:
            e = y[:, self.east] * self.east_std + self.east_mean
            n = y[:, self.north] * self.north_std + self.north_mean
            e, n = _vector(e, n, flip, k)
            ok = _spatial(valid, flip, k)[:, 0]
            y[:, self.east] = torch.where(ok, (e - self.east_mean) / self.east_std, torch.zeros_like(e))
            y[:, self.north] = torch.where(ok, (n - self.north_mean) / self.north_std, torch.zeros_like(n))
        return _shift(y, *_centre_shift(x.shape[-1], flip, k))

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Each patch of the batch gets one of the eight symmetries at random (identity included)."""
        choice = torch.randint(0, 8, (x.shape[0],), generator=generator).to(x.device)
        out = x.clone()
        for s in range(1, 8):
            idx = torch.nonzero(choice == s).flatten()
            if idx.numel():
                out[idx] = self.transform(x[idx], bool(s // 4), s % 4)
        return out
