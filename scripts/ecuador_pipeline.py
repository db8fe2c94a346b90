"""The susceptibility pipeline on the bundled Ecuador sample, up to the training samples.

Why a module: the demo (``scripts/demo.py``) and the desktop session (``scripts/desktop/session.py``)
ran the same four Processing steps spelled out twice; a change to one (factor names, resolution)
went missing in the other. Both call :func:`prepare` with their own ``run`` (the demo prints each
step, the session records its time in its state file).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

#: terrain factors of the demo stack: northness/eastness instead of aspect (aspect is circular and
#: GDAL leaves flat cells without one; see README "Scientific choices")
TERRAIN = ("slope", "northness", "eastness", "plan_curvature_convex_pos", "twi")
FACTOR_NAMES = ("elevation", *TERRAIN)
#: the same without TWI, the one factor that needs pysheds: what a QGIS without optional packages stacks
TORCH_FREE_TERRAIN = tuple(n for n in TERRAIN if n != "twi")
SAMPLE = Path(__file__).resolve().parent.parent / "sample_data" / "ecuador_rbsf"


def prepare(
    run: Callable[[str, dict], dict],
    out: Path,
    dem: str,
    inventory: str,
    presence_field: str = "lslpts",
    resolution: float = 30.0,
    terrain_factors: tuple[str, ...] = TERRAIN,
) -> dict:
    """Terrain factors -> 30 m stack -> certainty-factor map -> absences from CF zones 1-2.

    Returns the paths of the ``stack``, the ``cf_zoning`` and the ``samples`` (the paper's
    strategy (c)) and the derived ``terrain_layers``; everything is written under ``out``.
    ``terrain_factors``: which derived factors to stack after the elevation.
    """
    from processing_chain import susceptibility_samples

    terrain = out / "terrain"
    derived = run("lsm_derive_terrain", {"DEM": dem, "OUTPUT_FOLDER": str(terrain)})
    factors = [dem] + [str(terrain / f"{n}.tif") for n in terrain_factors]
    names = ["elevation", *terrain_factors]
    prep = susceptibility_samples(
        run, out, factors, names, inventory, resolution=resolution, presence_field=presence_field
    )
    return prep | {"terrain_layers": derived["OUTPUT_LAYERS"]}
