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

    def save(self, path: str | Path) -> None:
        """Write the card as pretty JSON (atomically)."""
        write_text_atomic(path, json.dumps(asdict(self), indent=2, default=_json_default))

    @classmethod
    def load(cls, path: str | Path) -> ModelCard:
        """Read a card; a missing or malformed card is a :class:`ModelLoadError`."""
        p = Path(path)
        if p.suffix != ".json":
            p = p.with_suffix(".json")
        if not p.exists():
            raise ModelLoadError(f"No model card {p}. Models must be saved by Landslide AI with their .json card.")
        try:
            d = json.loads(p.read_text(encoding="utf-8"))
            return cls(**d)
        except (json.JSONDecodeError, TypeError) as exc:
            raise ModelLoadError(f"The model card {p} is corrupt or from another tool: {exc}") from exc

    def weights_path(self, card_path: str | Path) -> Path:
        """Weights file resolved next to the card."""
        return Path(card_path).with_suffix(".json").parent / self.weights_file


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
