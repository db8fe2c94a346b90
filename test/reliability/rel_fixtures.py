"""Fixtures of the reliability tier: one small, real pipeline (stack, CF, samples, models, crack model)
built once, and helpers that prove a refused or failed run changed nothing and left nothing.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest
import rasterio
from processing_chain import susceptibility_samples

from conftest import train_params, write_raster

FACTOR_NAMES = "elev,slope,twi"


def snapshot(*folders: Path) -> dict[str, tuple[int, str]]:
    """Every file (hidden ones included) under ``folders`` -> (size, sha1): what "nothing changed" means."""
    out = {}
    for folder in folders:
        for p in sorted(Path(folder).rglob("*")):
            if p.is_file():
                out[str(p)] = (p.stat().st_size, hashlib.sha1(p.read_bytes()).hexdigest())
            elif p.is_dir():
                out[str(p)] = (-1, "dir")
    return out


class Recorder:
    """A feedback that records messages and can cancel once progress passes a fraction."""

    def __init__(self, cancel_at: float | None = None, cancel_on_text: str | None = None) -> None:
        from qgis.core import QgsProcessingFeedback

        rec = self

        class _Feedback(QgsProcessingFeedback):
            def setProgress(self, value):
                super().setProgress(value)
                if rec.cancel_at is not None and value >= 100 * rec.cancel_at:
                    self.cancel()

            def setProgressText(self, text):
                super().setProgressText(text)
                rec.messages.append(text)
                if rec.cancel_on_text and rec.cancel_on_text in text:
                    self.cancel()

            def pushInfo(self, info):
                super().pushInfo(info)
                rec.messages.append(info)

        self.cancel_at = cancel_at
        self.cancel_on_text = cancel_on_text
        self.messages: list[str] = []
        self.feedback = _Feedback()

    def text(self) -> str:
        """Everything the run reported."""
        return "\n".join(self.messages)


@pytest.fixture(scope="session")
def run_fb(qgis_app):
    """``run_fb(alg, params, recorder)``: processing.run with a recording feedback."""
    import processing
    from qgis.core import QgsProcessingContext, QgsProject

    def _run(alg: str, params: dict, rec: Recorder | None = None) -> dict:
        ctx = QgsProcessingContext()
        ctx.setProject(QgsProject.instance())
        rec = rec or Recorder()
        return processing.run(f"landslideai:{alg}", params, context=ctx, feedback=rec.feedback)

    return _run


@pytest.fixture
def refused(run_fb):
    """``refused(alg, params, match, *folders)``: the run raises a clear message and changes nothing."""
    from qgis.core import QgsProcessingException

    def _check(alg: str, params: dict, match: str, *folders: Path, rec: Recorder | None = None) -> str:
        before = snapshot(*folders)
        with pytest.raises(QgsProcessingException, match=match) as info:
            run_fb(alg, params, rec)
        after = snapshot(*folders)
        assert after == before, f"files changed: {set(after) ^ set(before) or 'contents'}"
        msg = str(info.value)
        assert "Traceback" not in msg
        return msg

    return _check


@pytest.fixture(scope="session")
def world(run_alg, tiny_factors, tmp_path_factory):
    """A small real pipeline: stack, CF zoning, samples, an RF and a CNN model, a crack model, an orthomosaic."""
    from helpers import make_set, ortho

    paths, inv = tiny_factors
    d = tmp_path_factory.mktemp("world")
    pre = susceptibility_samples(
        run_alg, d, list(paths.values()), FACTOR_NAMES.split(","), inv, BLOCK_SIZE_M=450.0, MIN_SPACING_M=30.0
    )
    stack, samples = pre["stack"], pre["samples"]
    models = run_alg("lsm_train", train_params(stack, samples, d / "models", [0, 4, 5], epochs=1))
    crack_dir = tmp_path_factory.mktemp("crack")
    crack_card = run_alg(
        "crack_train",
        {
            "TARGET_FOLDER": make_set(crack_dir / "t", n=12),
            "ARCHITECTURE": 0,
            "EPOCHS": 1,
            "INPUT_PX": 48,
            "OUTPUT_FOLDER": str(crack_dir / "m"),
        },
    )["MODEL_CARD"]
    o = ortho(crack_dir / "ortho.tif")
    return {
        "dir": d,
        "factors": paths,
        "inventory": inv,
        "stack": stack,
        "cf_zoning": pre["cf_zoning"],
        "samples": samples,
        "models": Path(models["OUTPUT_FOLDER"]),
        "rf": str(Path(models["OUTPUT_FOLDER"]) / "rf.json"),
        "cnn": str(Path(models["OUTPUT_FOLDER"]) / "cnn.json"),
        "xgb": str(Path(models["OUTPUT_FOLDER"]) / "xgb_lr.json"),
        "crack_card": crack_card,
        "crack_dir": crack_dir,
        "crack_images": crack_dir / "t",
        "ortho": o,
    }


@pytest.fixture
def sandbox(world, tmp_path):
    """Copies of the world's inputs in a fresh folder, so that a test may aim outputs at them."""
    d = tmp_path / "in"
    d.mkdir()
    out = {}
    for key in ("stack", "inventory", "samples", "ortho", "cf_zoning"):
        src = Path(world[key])
        shutil.copy(src, d / src.name)
        for side in src.parent.glob(src.name + ".*"):
            shutil.copy(side, d / side.name)
        out[key] = str(d / src.name)
    for name, p in world["factors"].items():
        shutil.copy(p, d / f"{name}.tif")
        out[name] = str(d / f"{name}.tif")
    models = d / "models"
    shutil.copytree(world["models"], models)
    for k in ("rf", "cnn", "xgb"):
        out[k] = str(models / Path(world[k]).name)
    out["dir"] = d
    return out


def write_dem(path: Path, arr: np.ndarray, nodata: float | None = -9999.0) -> str:
    """A float32 DEM on a 30 m UTM grid."""
    return write_raster(path, arr, nodata=nodata)


def band_swapped_copy(stack: str, out: Path) -> str:
    """The stack with bands 1 and 2 swapped but the band names kept (a classic silent mistake)."""
    with rasterio.open(stack) as src:
        data = src.read()
        prof = src.profile
        names = src.descriptions
    with rasterio.open(out, "w", **prof) as dst:
        dst.write(data[[1, 0, 2]])
        for i, n in enumerate(names, start=1):
            dst.set_band_description(i, n)
    return str(out)
