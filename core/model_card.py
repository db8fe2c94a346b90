"""Model cards: the JSON sidecar saved next to every model.

A model is only usable on inputs that look like its training inputs: same factors in the same
order, same normalisation, same patch size, same classes. The card records all of it (plus
metrics and library versions for provenance), and loaders refuse inputs that disagree with it.
"""

from __future__ import annotations

import json
import platform
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .errors import ModelLoadError
from .raster.io import write_text_atomic

CARD_VERSION = 1


def library_versions() -> dict[str, str]:
    """Versions of the libraries that shape a model's numbers."""
    out = {"python": platform.python_version()}
    for mod in ("numpy", "torch", "torchvision", "sklearn", "xgboost", "rasterio", "shap", "optuna"):
        try:
            m = __import__(mod)
            out[mod] = str(getattr(m, "__version__", "?"))
        except ImportError:
            continue
    try:
        from osgeo import gdal

        out["gdal"] = gdal.__version__
    except ImportError:
        pass
    return out


@dataclass
class ModelCard:
    """Everything needed to apply a model correctly and to know where its numbers came from."""

    task: str  # "susceptibility" or "crack"
    architecture: str
    weights_file: str
    inputs: dict[str, Any]
    normalisation: dict[str, Any]
    classes: list[str]
    metrics: dict[str, Any] = field(default_factory=dict)
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=library_versions)
    created: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    card_version: int = CARD_VERSION

    def to_json(self, indent: int | None = 2) -> str:
        """The card as JSON text (what :meth:`save` writes and ONNX exports embed)."""
        return json.dumps(asdict(self), indent=indent, default=_json_default)

    def save(self, path: str | Path) -> None:
        """Write the card as pretty JSON (atomically)."""
        write_text_atomic(path, self.to_json())

    @classmethod
    def load(cls, path: str | Path, task: str | None = None) -> ModelCard:
        """Read a card; a missing or malformed card is a :class:`ModelLoadError`."""
        p = Path(path)
        if p.suffix != ".json":
            p = p.with_suffix(".json")
        if not p.exists():
            raise ModelLoadError(f"No model card {p}. Models must be saved by Landslide AI with their .json card.")
        try:
            d = json.loads(p.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError, OSError) as exc:
            raise ModelLoadError(f"The model card {p} is not readable JSON ({exc}): re-save it or retrain.") from exc
        validate_card(d, str(p), task)
        return cls(**{k: v for k, v in d.items() if k in _FIELDS})

    def weights_path(self, card_path: str | Path) -> Path:
        """Weights file resolved next to the card."""
        return Path(card_path).with_suffix(".json").parent / self.weights_file


_FIELDS = {
    "task": str,
    "architecture": str,
    "weights_file": str,
    "inputs": dict,
    "normalisation": dict,
    "classes": list,
    "metrics": dict,
    "hyperparameters": dict,
    "training": dict,
    "versions": dict,
    "created": str,
    "card_version": int,
}
_REQUIRED = ("task", "architecture", "weights_file", "inputs", "normalisation", "classes")

#: per task: (section, key) -> expected type(s); checked on load so a bad card fails with its key named
_TASK_KEYS: dict[str, dict[tuple[str, str], tuple[type, ...]]] = {
    "susceptibility": {
        ("inputs", "factors"): (list,),
        ("inputs", "patch_size"): (int,),
        ("inputs", "n_vars"): (int,),
        ("normalisation", "factors"): (dict,),
    },
    "crack": {
        ("inputs", "input_px"): (int,),
        ("normalisation", "mean"): (list,),
        ("normalisation", "std"): (list,),
    },
}


def validate_card(d: Any, where: str, task: str | None = None) -> None:
    """Check a card's schema; a :class:`ModelLoadError` names the first bad key and how to fix it.

    Why: a card edited by hand or written by another tool used to fail later with a bare
    ``KeyError``/``TypeError`` deep inside prediction.
    """

    def bad(key: str, why: str) -> ModelLoadError:
        return ModelLoadError(f"The model card {where} has a bad '{key}': {why}. Use the card saved with the model.")

    if not isinstance(d, dict):
        raise ModelLoadError(f"The model card {where} is not a JSON object: use the card saved with the model.")
    for k in _REQUIRED:
        if k not in d:
            raise bad(k, "the key is missing")
    for k, t in _FIELDS.items():
        if k in d and d[k] is not None and not (isinstance(d[k], t) and not isinstance(d[k], bool)):
            raise bad(k, f"expected {t.__name__}, found {type(d[k]).__name__}")
    if d["task"] not in _TASK_KEYS:
        raise bad("task", f"'{d['task']}' is not one of {sorted(_TASK_KEYS)}")
    if task and d["task"] != task:
        want = "crack classifier" if task == "crack" else f"{task} model"
        raise ModelLoadError(f"{where} is a '{d['task']}' model, not a {want}: choose a {want}'s card.")
    w = d["weights_file"]
    if not w or Path(w).name != w:
        raise bad("weights_file", "it must be a file name beside the card, without folders")
    for (section, key), types in _TASK_KEYS[d["task"]].items():
        v = d[section].get(key)
        if v is None:
            raise bad(f"{section}.{key}", "the key is missing")
        if not isinstance(v, types) or isinstance(v, bool):
            raise bad(f"{section}.{key}", f"expected {types[0].__name__}, found {type(v).__name__}")
    if d["task"] == "susceptibility":
        names = d["inputs"]["factors"]
        norm = d["normalisation"]["factors"]
        for k in ("mean", "std"):
            vals = norm.get(k)
            if (
                not isinstance(vals, list)
                or len(vals) != len(names)
                or not all(isinstance(x, int | float) and not isinstance(x, bool) for x in vals)
            ):
                raise bad(f"normalisation.factors.{k}", f"expected {len(names)} numbers, one per factor")
    else:
        for k in ("mean", "std"):
            vals = d["normalisation"][k]
            if len(vals) != 3 or not all(isinstance(x, int | float) for x in vals):
                raise bad(f"normalisation.{k}", "expected 3 numbers (R, G, B)")
        if d["inputs"]["input_px"] < 8:
            raise bad("inputs.input_px", "expected a size of at least 8 px")


def _json_default(o: Any) -> Any:
    try:
        import numpy as np

        if isinstance(o, np.generic):
            return o.item()
        if isinstance(o, np.ndarray):
            return o.tolist()
    except ImportError:  # pragma: no cover
        pass
    return str(o)
