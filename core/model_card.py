"""Model cards: the JSON sidecar saved next to every model.

A model is only usable on inputs that look like its training inputs: same factors in the same
order, same normalisation, same patch size, same classes. The card records all of it (plus
metrics and library versions for provenance), and loaders refuse inputs that disagree with it.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
from collections.abc import Hashable
from dataclasses import MISSING, asdict, dataclass, field, fields, is_dataclass
from datetime import UTC, datetime
from enum import StrEnum
from functools import cache
from pathlib import Path
from types import UnionType
from typing import Any, ClassVar, TypeVar, Union, cast, get_args, get_origin, get_type_hints

from .errors import ModelLoadError
from .metrics import canonical_keys
from .raster.io import write_text_atomic

#: 2: one metric vocabulary (``core.metrics``); version-1 cards are renamed on load by :func:`migrate_card`
CARD_VERSION = 2

C = TypeVar("C", bound="ModelCard")


class ModelKind(StrEnum):
    """The susceptibility model kinds; a ``StrEnum``, so the card's plain string compares equal.

    Why one enum: the kinds used to be spelled as tuples and string literals in five modules
    (``kind in ("lstm", "cnn_lstm", "cnn_lstm_am")``); what a kind *is* (deep, uses the climate
    series, a tabular baseline) is now answered here once.
    """

    CNN = "cnn"
    LSTM = "lstm"
    CNN_LSTM = "cnn_lstm"
    CNN_LSTM_AM = "cnn_lstm_am"
    RF = "rf"
    XGB_LR = "xgb_lr"
    GLM = "glm"
    GAM = "gam"

    @property
    def is_deep(self) -> bool:
        """A torch network on factor patches and/or series (saved as ``.pt``)."""
        return self in _DEEP

    @property
    def uses_series(self) -> bool:
        """Has an LSTM branch, so needs the monthly climate series (or a factor sequence)."""
        return self in (ModelKind.LSTM, ModelKind.CNN_LSTM, ModelKind.CNN_LSTM_AM)

    @property
    def is_tree(self) -> bool:
        """A tree ensemble (Random Forest, XGBoost + LR) of centre-cell factor vectors."""
        return self in (ModelKind.RF, ModelKind.XGB_LR)

    @property
    def display(self) -> str:
        """The name shown in tables, plots and layer names."""
        return _DISPLAY[self]


_DEEP = (ModelKind.CNN, ModelKind.LSTM, ModelKind.CNN_LSTM, ModelKind.CNN_LSTM_AM)
_DISPLAY = {
    ModelKind.CNN: "CNN",
    ModelKind.LSTM: "LSTM",
    ModelKind.CNN_LSTM: "CNN-LSTM",
    ModelKind.CNN_LSTM_AM: "CNN-LSTM-AM",
    ModelKind.RF: "Random Forest",
    ModelKind.XGB_LR: "XGBoost-LR",
    ModelKind.GLM: "GLM (logistic)",
    ModelKind.GAM: "GAM (splines + logistic)",
}


class CrackArch(StrEnum):
    """The crack classifiers of the paper (Sect. 2.2)."""

    CNN = "cnn"
    RESNET50 = "resnet50"
    RESNET50_SE = "resnet50_se"
    EFFICIENTNET_LITE0 = "efficientnet_lite0"


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


@dataclass(frozen=True)
class SusceptibilityInputs:
    """A susceptibility card's ``inputs``: what the model reads (the one spelling of writer, reader, validator).

    Fields without a default are required in every card; the others were added later and have the
    value older cards imply.
    """

    factors: list[str]  # the stack's factor names, in band order
    n_vars: int  # variables per time step of the LSTM input
    patch_size: int  # patch side in cells (1 for the tabular models)
    features: list[str] | None = None  # model features after one-hot encoding (None: the factors)
    temporal_mode: str = "none"  # climate, factor_sequence or none
    climate_bands: list[str] | None = None  # the temporal stack's bands (temporal mode climate)
    n_steps: int | None = None  # time steps of the LSTM input (None: not recorded)
    resolution_m: float | None = None  # cell size of the training stack (None: not recorded)


@dataclass(frozen=True)
class CrackInputs:
    """A crack card's ``inputs`` (see :class:`SusceptibilityInputs`)."""

    input_px: int  # side of the square network input
    bands: str = "RGB uint8"
    se_reduction: int = 16  # squeeze-and-excitation reduction (resnet50_se)
    domain: dict[str, Any] | None = None  # training-domain statistics of the pooled features
    backbone: dict[str, Any] | None = None  # pretrained backbone: name, weights SHA-256, package


@dataclass(frozen=True)
class CrackNormalisation:
    """A crack card's ``normalisation``: the preprocessing recipe every image goes through."""

    mean: list[float]  # per channel (R, G, B) on the 0-1 scale
    std: list[float]
    scale: str = "1/255"
    resize: str | None = None  # the resize recipe (None: cards from before it was recorded)


P = TypeVar("P")


def payload(cls: type[P], d: Any, where: str, section: str) -> P:
    """``d`` read as the payload dataclass ``cls``; a missing or mistyped field is a :class:`ModelLoadError`.

    Unknown keys are left out (a newer card's additions), never guessed at.
    """
    if not isinstance(d, dict):
        raise ModelLoadError(f"The model card {where} has a bad '{section}': expected an object.")
    hints = _hints(cast(Hashable, cls))
    values = {}
    for f in fields(cls):  # type: ignore[arg-type]
        key = f"{section}.{f.name}"
        if f.name not in d or d[f.name] is None:
            if f.default is MISSING:
                raise ModelLoadError(
                    f"The model card {where} has a bad '{key}': the key is missing. Use the card saved with the model."
                )
            continue
        if not _is_a(d[f.name], hints[f.name]):
            raise ModelLoadError(
                f"The model card {where} has a bad '{key}': expected {_type_name(hints[f.name])}, found "
                f"{type(d[f.name]).__name__}. Use the card saved with the model."
            )
        values[f.name] = d[f.name]
    return cls(**values)


@cache
def _hints(cls: Any) -> dict[str, Any]:
    """The resolved field types of a payload dataclass (its annotations are strings under PEP 563)."""
    return get_type_hints(cls)


def _is_a(v: Any, hint: Any) -> bool:
    """Whether a JSON value fits a payload field's type (bool is never a number; an int is a float)."""
    origin = get_origin(hint)
    if origin in (Union, UnionType):
        return any(_is_a(v, h) for h in get_args(hint) if h is not type(None))
    if origin is list:
        (item,) = get_args(hint)
        return isinstance(v, list) and all(_is_a(x, item) for x in v)
    if origin is dict or hint is dict:
        return isinstance(v, dict)
    if isinstance(v, bool):
        return hint is bool
    if hint is float:
        return isinstance(v, int | float)
    return isinstance(v, hint)


def _type_name(hint: Any) -> str:
    args = [a for a in get_args(hint) if a is not type(None)]
    if get_origin(hint) in (Union, UnionType) and len(args) == 1:
        return _type_name(args[0])
    if get_origin(hint) is list:
        return f"a list of {_type_name(get_args(hint)[0])}"
    return getattr(hint, "__name__", str(hint))


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
    #: SHA-256 of the weights file, written by :meth:`save`; loading refuses a file that differs
    weights_sha256: str = ""

    #: the task a subclass reads and writes ("" = the untyped base, which dispatches on load)
    TASK: ClassVar[str] = ""

    def __post_init__(self) -> None:
        """A typed card only ever holds its own task."""
        if self.TASK and self.task != self.TASK:
            raise ModelLoadError(f"A {type(self).__name__} holds '{self.TASK}' models, not '{self.task}'.")

    @classmethod
    def create(cls: type[C], **values: Any) -> C:
        """A new card of this subclass's task (the one writer: trainers call this, then :meth:`save`).

        ``inputs`` (and a crack card's ``normalisation``) are given as their payload dataclasses
        (:class:`SusceptibilityInputs`, :class:`CrackInputs`, :class:`CrackNormalisation`), so the
        writer spells every key as the reader and the validator do; a plain dict is checked against them.
        """
        for k, v in values.items():
            if is_dataclass(v) and not isinstance(v, type):
                values[k] = asdict(v)
        card = cls(task=cls.TASK, **values)
        validate_card(json.loads(card.to_json()), f"being written ({cls.TASK})", cls.TASK or None)
        return card

    def to_json(self, indent: int | None = 2) -> str:
        """The card as JSON text (what :meth:`save` writes and ONNX exports embed)."""
        return json.dumps(asdict(self), indent=indent, default=_json_default)

    def save(self, path: str | Path) -> None:
        """Write the card as pretty JSON (atomically), sealed with its weights file's SHA-256.

        Why here: every writer (trainers, converter, scripts) saves the weights first and the card
        last, so the one place that writes cards is the one place that records the checksum.
        """
        w = Path(path).with_suffix(".json").parent / self.weights_file
        if w.is_file() and not w.is_symlink():
            self.weights_sha256 = file_sha256(w)
        write_text_atomic(path, self.to_json())

    @classmethod
    def load(cls: type[C], path: str | Path, task: str | None = None) -> C:
        """Read and schema-check a card; a missing or malformed card is a :class:`ModelLoadError`.

        ``SusceptibilityCard.load`` / ``CrackCard.load`` refuse the other task; ``ModelCard.load``
        returns whichever typed card the file holds.
        """
        p, d = read_card_json(path)
        return cls.from_dict(d, p, task)

    @classmethod
    def from_dict(cls: type[C], d: Any, path: str | Path, task: str | None = None) -> C:
        """Schema-check a card already read (``read_card_json``); ``path`` names it in messages."""
        task = task or cls.TASK or None
        validate_card(d, str(path), task)
        d = migrate_card(d, str(path))
        typed = _CARD_CLASSES[d["task"]]
        card = typed(**{k: v for k, v in d.items() if k in _FIELDS})
        assert isinstance(card, cls)
        return card

    def weights_path(self, card_path: str | Path) -> Path:
        """The weights file beside the card, checked before anything reads it.

        Refused, each with a :class:`ModelLoadError` that names the file: a missing file, a
        symbolic link (a shared folder could point it at any file on the machine), a file outside
        the card's folder, and a file whose SHA-256 differs from the one the card recorded when it
        was saved (swapped, edited or truncated after training). Cards written before checksums
        existed (no ``weights_sha256``) are checked for everything but the checksum.
        """
        folder = Path(card_path).with_suffix(".json").parent
        w = folder / self.weights_file
        if w.is_symlink():
            raise ModelLoadError(
                f"The weights file {w} named by the model card is a symbolic link: model files are read only from "
                "the card's own folder. Copy the real file next to the card."
            )
        if not w.is_file():
            raise ModelLoadError(f"The weights file {w} named by the model card is missing.")
        if w.resolve().parent != folder.resolve():
            raise ModelLoadError(f"The weights file {w} is not inside the card's folder {folder}.")
        if self.weights_sha256 and file_sha256(w) != self.weights_sha256:
            raise ModelLoadError(
                f"The weights file {w} is not the one this card was saved with (its SHA-256 differs): it was "
                "replaced, edited or truncated. Use the files saved together, or retrain."
            )
        return w


@dataclass
class SusceptibilityCard(ModelCard):
    """A susceptibility model's card: typed accessors are the one reader of its ``inputs``/``normalisation``."""

    TASK: ClassVar[str] = "susceptibility"

    @property
    def kind(self) -> ModelKind:
        """The model kind (an unknown one is refused by :func:`validate_card`)."""
        return ModelKind(self.architecture)

    @property
    def typed_inputs(self) -> SusceptibilityInputs:
        """The ``inputs`` as their payload dataclass (checked on load and on create)."""
        return payload(SusceptibilityInputs, self.inputs, "in memory", "inputs")

    @property
    def factors(self) -> list[str]:
        """The stack's factor names, in band order, the model was trained on."""
        return list(self.typed_inputs.factors)

    @property
    def patch_size(self) -> int:
        """Patch side in cells (1 for the tabular models)."""
        return self.typed_inputs.patch_size

    @property
    def n_vars(self) -> int:
        """Variables per time step of the LSTM input."""
        return self.typed_inputs.n_vars

    @property
    def n_steps(self) -> int | None:
        """Time steps of the LSTM input (None: cards from before it was recorded)."""
        return self.typed_inputs.n_steps or None

    @property
    def temporal_mode(self) -> str:
        """``climate``, ``factor_sequence`` or ``none``."""
        return self.typed_inputs.temporal_mode

    @property
    def resolution_m(self) -> float | None:
        """Cell size of the training stack (None: not recorded)."""
        v = self.typed_inputs.resolution_m
        return float(v) if v else None

    @property
    def factor_normalisation(self) -> dict[str, Any]:
        """Keyword arguments of ``dataset.Normalisation`` for the factors."""
        return dict(self.normalisation["factors"])

    @property
    def climate_normalisation(self) -> dict[str, Any] | None:
        """Keyword arguments of ``dataset.Normalisation`` for the climate series, if any."""
        cn = self.normalisation.get("climate")
        return dict(cn) if cn else None

    @property
    def ensemble(self) -> int:
        """Members of a seed ensemble (1 = a single network)."""
        return int(self.hyperparameters.get("ensemble", 1))


@dataclass
class CrackCard(ModelCard):
    """A crack classifier's card: typed accessors are the one reader of its ``inputs``/``normalisation``."""

    TASK: ClassVar[str] = "crack"

    @property
    def arch(self) -> CrackArch:
        """The architecture (an unknown one is refused by :func:`validate_card`)."""
        return CrackArch(self.architecture)

    @property
    def typed_inputs(self) -> CrackInputs:
        """The ``inputs`` as their payload dataclass (checked on load and on create)."""
        return payload(CrackInputs, self.inputs, "in memory", "inputs")

    @property
    def typed_normalisation(self) -> CrackNormalisation:
        """The ``normalisation`` as its payload dataclass."""
        return payload(CrackNormalisation, self.normalisation, "in memory", "normalisation")

    @property
    def input_px(self) -> int:
        """Side of the square network input in px."""
        return self.typed_inputs.input_px

    @property
    def mean(self) -> tuple[float, float, float]:
        """Per-channel mean of the normalisation (R, G, B, on the 0-1 scale)."""
        r, g, b = (float(v) for v in self.typed_normalisation.mean)
        return r, g, b

    @property
    def std(self) -> tuple[float, float, float]:
        """Per-channel standard deviation of the normalisation."""
        r, g, b = (float(v) for v in self.typed_normalisation.std)
        return r, g, b

    @property
    def resize(self) -> str | None:
        """The resize recipe (None: cards from before it was recorded)."""
        return self.typed_normalisation.resize or None

    @property
    def domain(self) -> dict[str, Any] | None:
        """Training-domain statistics of the pooled features (None: no domain check possible)."""
        return self.typed_inputs.domain

    @property
    def se_reduction(self) -> int:
        """Squeeze-and-excitation reduction ratio (used by ``resnet50_se``)."""
        return int(self.hyperparameters.get("se_reduction", self.typed_inputs.se_reduction))

    @property
    def dropout(self) -> float:
        """Dropout before the head."""
        return float(self.hyperparameters.get("dropout", 0.5))

    @property
    def finetune_blocks(self) -> int:
        """Pretrained backbones: how many last stages were tuned (0 = frozen; the file holds only those)."""
        return int(self.hyperparameters.get("finetune_blocks", 0))


_CARD_CLASSES: dict[str, type[ModelCard]] = {"susceptibility": SusceptibilityCard, "crack": CrackCard}

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
    "weights_sha256": str,
}
_REQUIRED = ("task", "architecture", "weights_file", "inputs", "normalisation", "classes")

#: per task: the payload dataclass of each typed section (the validator reads the same spelling as the writer)
_PAYLOADS: dict[str, dict[str, type]] = {
    "susceptibility": {"inputs": SusceptibilityInputs},
    "crack": {"inputs": CrackInputs, "normalisation": CrackNormalisation},
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
    if d["task"] not in _PAYLOADS:
        raise bad("task", f"'{d['task']}' is not one of {sorted(_PAYLOADS)}")
    if task and d["task"] != task:
        want = "crack classifier" if task == "crack" else f"{task} model"
        raise ModelLoadError(f"{where} is a '{d['task']}' model, not a {want}: choose a {want}'s card.")
    w = d["weights_file"]
    if not w or Path(w).name != w:
        raise bad("weights_file", "it must be a file name beside the card, without folders")
    for section, cls in _PAYLOADS[d["task"]].items():
        payload(cls, d[section], where, section)
    if d["task"] == "susceptibility" and not isinstance(d["normalisation"].get("factors"), dict):
        raise bad("normalisation.factors", "expected an object (mean, std per factor)")
    kinds = [k.value for k in (ModelKind if d["task"] == "susceptibility" else CrackArch)]
    if d["architecture"] not in kinds:
        raise bad("architecture", f"'{d['architecture']}' is not one of {kinds}")
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


#: version-1 card keys that are not metrics but spell one (the crack adaptation's base-model figure)
_V1_RENAMES = {"base_auc_same_chips": "base_roc_auc_same_chips"}


def migrate_card(d: dict[str, Any], where: str) -> dict[str, Any]:
    """A card read from disk in today's schema: version-1 metric keys renamed, newer versions refused.

    Why on read, not by rewriting files: shared and shipped cards are sealed by their weights'
    checksum and may sit in read-only folders; renaming in memory keeps every reader on one
    spelling (``roc_auc``, ``recall``, ...) without touching the user's files.
    """
    version = d.get("card_version", 1)
    if version > CARD_VERSION:
        raise ModelLoadError(
            f"The model card {where} is of version {version}, newer than this Landslide AI reads ({CARD_VERSION}): "
            "update the plugin."
        )
    if version == CARD_VERSION:
        return d

    def rename(v: Any) -> Any:
        if not isinstance(v, dict):
            return v
        renamed = canonical_keys({_V1_RENAMES.get(str(k), str(k)): x for k, x in v.items()})
        return {k: rename(x) for k, x in renamed.items()}

    return {**d, "metrics": rename(d.get("metrics") or {}), "card_version": CARD_VERSION}


def read_card_json(path: str | Path) -> tuple[Path, Any]:
    """(the card's path, its parsed JSON): one read, with the messages of a missing or unreadable card."""
    p = Path(path)
    if p.suffix != ".json":
        p = p.with_suffix(".json")
    if not p.exists():
        raise ModelLoadError(f"No model card {p}. Models must be saved by Landslide AI with their .json card.")
    try:
        return p, json.loads(p.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError, OSError) as exc:
        raise ModelLoadError(f"The model card {p} is not readable JSON ({exc}): re-save it or retrain.") from exc


#: SHA-256 of files already hashed in this process, keyed by what a rewrite changes (issue 22)
_SHA_CACHE: dict[tuple[str, int, int, int, int], str] = {}


def file_sha256(path: str | Path) -> str:
    """SHA-256 (hex) of a file, read in 1 MiB blocks; once per process while the file is unchanged.

    Why the cache: one map run verified the same weights three or four times (the loader, the ONNX
    cache key, the ONNX file's origin), each a full read; 0.3 s for a ResNet50. The key is the real
    path, device, inode, size and modification time in ns, so a file written again (even of the
    same size) is hashed again.
    """
    real = os.path.realpath(path)
    st = os.stat(real)
    key = (real, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
    hit = _SHA_CACHE.get(key)
    if hit is not None:
        return hit
    h = hashlib.sha256()
    with open(real, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    if len(_SHA_CACHE) > 256:
        _SHA_CACHE.clear()
    _SHA_CACHE[key] = h.hexdigest()
    return _SHA_CACHE[key]


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
