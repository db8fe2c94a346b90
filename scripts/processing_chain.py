"""The Processing steps chained the one way scripts, the desktop session and the tests chain them.

Why a module: the stack -> certainty factors -> samples steps and the crack-map parameters were
spelled out in the demo, the desktop session, two test tiers and the reliability fixtures; a
renamed parameter was fixed in some and not in others. Each caller passes its own ``run``
(``processing.run`` with its own feedback, a timer, a recorder) and gets the same parameters.
This is not an algorithm, so it is not shipped in the plugin (it used to sit in ``algorithms/``):
the shipped Model Designer workflows (``resources/workflows``) remain what a user runs; these
helpers are for code that drives Processing (scripts, the desktop session, the tests).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

Run = Callable[[str, dict], dict]
_PROVIDER: Any = None


def start_headless(gui: bool = False) -> Any:
    """A started ``QgsApplication`` with Processing and the Landslide AI provider registered.

    ``gui``: a GUI-enabled application (offscreen), which widgets such as the dock need.
    """
    from qgis.core import QgsApplication

    app = QgsApplication([], gui)
    app.initQgis()
    from processing.core.Processing import Processing

    Processing.initialize()
    from landslide_ai.algorithms.provider import LandslideAIProvider

    global _PROVIDER
    _PROVIDER = LandslideAIProvider()  # the registry does not keep the Python object alive
    QgsApplication.processingRegistry().addProvider(_PROVIDER)
    return app


def susceptibility_samples(
    run: Run,
    out: Path,
    factors: list[str],
    names: list[str],
    inventory: str,
    *,
    resolution: float = 30.0,
    presence_field: str | None = None,
    strategy: int = 2,
    **sample_options: Any,
) -> dict[str, str]:
    """Stack ``factors`` -> certainty-factor map -> absences.

    Returns the paths ``stack``, ``stack_report``, ``cf_score``, ``cf_zoning``, ``cf_table_html``
    and ``samples``.

    ``strategy`` is ``lsm_sample_absences``'s (2 = the CF model's low zones, the paper's (c));
    ``sample_options`` are its other parameters by name (e.g. ``BLOCK_SIZE_M=450.0``).
    Everything is written under ``out``.
    """
    field = {"PRESENCE_FIELD": presence_field} if presence_field else {}
    st = run(
        "lsm_stack_factors",
        {"FACTORS": factors, "NAMES": ",".join(names), "RESOLUTION": resolution, "OUTPUT": str(out / "stack.tif")},
    )
    stack = st["OUTPUT"]
    cf = run(
        "lsm_cf_map",
        {
            "STACK": stack,
            "INVENTORY": inventory,
            **field,
            "SCORE": str(out / "cf_score.tif"),
            "ZONING": str(out / "cf_zoning.tif"),
            "TABLE_CSV": str(out / "cf_table.csv"),
        },
    )
    samples = run(
        "lsm_sample_absences",
        {
            "STACK": stack,
            "INVENTORY": inventory,
            **field,
            "STRATEGY": strategy,
            "CF_ZONING": cf["ZONING"],
            **sample_options,
            "OUTPUT": str(out / "samples.gpkg"),
        },
    )["OUTPUT"]
    return {
        "stack": stack,
        "stack_report": st["REPORT"],
        "cf_score": cf["SCORE"],
        "cf_zoning": cf["ZONING"],
        "cf_table_html": cf["TABLE_HTML"],
        "samples": samples,
    }


def crack_map_params(
    model: str,
    orthomosaic: str,
    out: Path,
    chip_px: int = 227,
    stride_px: int = 113,
    alpha_band: int | None = None,
    gradcam: bool = False,
    prefix: str = "crack",
    **extra: Any,
) -> dict[str, Any]:
    """Parameters of ``crack_predict`` (or, with ``gradcam``, ``crack_gradcam``) writing under ``out``.

    Outputs: ``<prefix>_probability.tif``, ``<prefix>_chips.gpkg`` and ``<prefix>_gradcam.tif``;
    ``alpha_band``: the orthomosaic's alpha band (None: no alpha); ``extra`` are further
    parameters by name (e.g. ``IMAGES``, ``OVERLAY_FOLDER``).
    """
    params: dict[str, Any] = {
        "MODEL": model,
        "INPUT": orthomosaic,
        **({"ALPHA_BAND": alpha_band} if alpha_band else {}),
        "CHIP_PX": chip_px,
        "STRIDE_PX": stride_px,
        "OUTPUT": str(out / f"{prefix}_probability.tif"),
        "CHIPS": str(out / f"{prefix}_chips.gpkg"),
    }
    if gradcam:
        params["GRADCAM"] = str(out / f"{prefix}_gradcam.tif")
    return params | extra
