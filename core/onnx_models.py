"""ONNX export of every deep model, with its card inside, and an ONNX Runtime backend for prediction.

Why: a card + a PyTorch state dict needs this package and torch to run; an ONNX file runs in ONNX
Runtime (CPU, CUDA, DirectML, ...) and in other tools. Every export carries the full model card
as metadata (``landslide_ai_card``) and the SHA-256 of the weights it was made from, so a file
that no longer matches its card is recognised and re-made instead of silently used.

Graphs (all float32, dynamic batch/window sizes; exported with the TorchScript exporter, opset 17):

* susceptibility, unpadded CNN (``dense``): inputs ``window`` (1, C, H + P - 1, W + P - 1), the
  standardised window with its halo, ``series`` (M, T, V) when the model has an LSTM, ``cells``
  (M,) int64 row-major indices into the H x W window -> ``probability`` (M,). The CNN branch runs
  densely over the window inside the graph (:func:`.susceptibility.networks.dense_cnn_features`).
* susceptibility, other models (``patch``): ``patch`` (N, C, P, P) and/or ``series`` -> ``probability``.
  A seed ensemble is one graph that averages its members' probabilities.
* crack (``crack``): ``image`` (N, 3, S, S), normalised as the card says -> ``probability`` (N,) of
  the crack class and ``features`` (N, K), the pooled last-stage features the domain check uses.
* crack for the Deepness plugin (``deepness``): ``input`` (1, 3, S, S) in [0, 1] (Deepness divides
  by 255 and applies ``standardization_mean/std`` from the metadata) -> ``output`` (1, 2, S, S):
  the chip's [no crack, crack] probabilities over the whole tile, a ``Segmentor`` in Deepness's
  terms, with ``class_names`` and ``tile_size`` (no ``resolution``: cards do not record a ground
  pixel size, so the user keeps the orthomosaic's own).
"""

from __future__ import annotations

from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch


import hashlib
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import MissingDependencyError, ModelLoadError
from .model_card import CrackCard, ModelCard, file_sha256
from .raster.io import atomic_path

CARD_KEY = "landslide_ai_card"
GRAPH_KEY = "landslide_ai_graph"
WEIGHTS_KEY = "landslide_ai_weights_sha256"
OPSET = 17


def _ort() -> ModuleType:
    try:
        import onnxruntime
    except ImportError as exc:
        raise MissingDependencyError("The ONNX backend needs onnxruntime: pip install onnxruntime") from exc
    return onnxruntime


def _onnx() -> ModuleType:
    try:
        import onnx
    except ImportError as exc:
        raise MissingDependencyError("ONNX export needs onnx: pip install onnx") from exc
    return onnx


def weights_sha256(card: ModelCard, card_path: str | Path) -> str:
    """SHA-256 of the weights file beside the card (what an export was made from).

    ``weights_path`` has just checked the file against the card's recorded checksum when there is
    one, so that value is returned rather than hashing the file a second time.
    """
    path = card.weights_path(card_path)
    return card.weights_sha256 or file_sha256(path)


def _susceptibility_module(
    card_path: str | Path, loaded: Any = None
) -> tuple[torch.nn.Module, tuple, list[str], dict, str, ModelCard]:
    """(torch module, example inputs, input names, dynamic axes, graph kind, card) of a susceptibility card."""
    import torch

    from .susceptibility.loaded import load_model
    from .susceptibility.networks import dense_cnn_features, members_of

    lm = loaded if loaded is not None else load_model(str(card_path))
    if lm.net is None:
        raise ModelLoadError(
            f"{card_path} is a {lm.kind} model (scikit-learn/XGBoost): ONNX export is for the deep models."
        )
    nets = members_of(lm.net)
    patch = lm.card.patch_size if lm.net.cnn is not None else 1
    c = lm.norm.n_channels
    has_series = lm.net.lstm is not None
    has_cnn = lm.net.cnn is not None
    dense = lm.net.cnn is not None and lm.net.dense
    t, v = lm.card.n_steps or c, lm.card.n_vars

    class Graph(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.members = torch.nn.ModuleList(nets)

        def forward(self, *xs: torch.Tensor) -> Any:
            if dense:
                z, s, idx = xs[0], (xs[1] if has_series else None), xs[-1]
                outs = []
                for m in nets:
                    assert m.cnn is not None  # a dense graph has the CNN branch
                    outs.append(torch.sigmoid(m.fuse(dense_cnn_features(m.cnn, z, patch)[idx], s)))
            else:
                p = xs[0] if has_cnn else None
                s = xs[-1] if has_series else None
                outs = [torch.sigmoid(m(p, s)) for m in self.members]
            return torch.stack(outs).mean(0)

    m = 7
    if dense:
        ex = [torch.zeros(1, c, 8 + patch - 1, 9 + patch - 1)]
        names, axes = ["window"], {"window": {2: "h", 3: "w"}}
    elif lm.net.cnn is not None:
        ex = [torch.zeros(m, c, patch, patch)]
        names, axes = ["patch"], {"patch": {0: "n"}}
    else:
        ex, names, axes = [], [], {}
    if has_series:
        ex.append(torch.zeros(m, t, v))
        names.append("series")
        axes["series"] = {0: "n"}
    if dense:
        ex.append(torch.arange(m, dtype=torch.int64))
        names.append("cells")
        axes["cells"] = {0: "n"}
    axes["probability"] = {0: "n"}
    return Graph().eval(), tuple(ex), names, axes, ("dense" if dense else "patch"), lm.card


def _exportable_pools(model: torch.nn.Module) -> torch.nn.Module:
    """Replace adaptive average pools by their bin matrices (the same means).

    Why: the exporter cannot express an output size that does not divide the input, e.g. the paper
    CNN's 4 x 4 pool of a 13 x 13 map.
    """
    import torch

    from .susceptibility.networks import _adaptive_mean

    class AdaptiveMean(torch.nn.Module):
        def __init__(self, size: int | tuple[int | None, int | None]) -> None:
            super().__init__()
            self.size = (size, size) if isinstance(size, int) else tuple(size)

        def forward(self, x: torch.Tensor) -> Any:
            oh = int(x.shape[-2]) if self.size[0] is None else self.size[0]
            ow = int(x.shape[-1]) if self.size[1] is None else self.size[1]
            return _adaptive_mean(x, oh, ow)

    for name, child in list(model.named_children()):
        if isinstance(child, torch.nn.AdaptiveAvgPool2d):
            setattr(model, name, AdaptiveMean(child.output_size))  # type: ignore[arg-type]
        else:
            _exportable_pools(child)
    return model


def _crack_module(
    card_path: str | Path, deepness: bool
) -> tuple[torch.nn.Module, tuple, list[str], dict, str, ModelCard]:
    """(torch module, example inputs, input names, dynamic axes, graph kind, card) of a crack card."""
    import torch

    from .cracks.domain import pooled_features
    from .cracks.loaded import load_crack_model

    lm = load_crack_model(str(card_path), torch.device("cpu"))
    model = _exportable_pools(lm.model.to(memory_format=torch.contiguous_format))
    s = lm.card.input_px

    class Graph(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, x: torch.Tensor) -> Any:
            if deepness:  # Deepness feeds [0, 1] and standardises itself; the graph returns a mask
                p = torch.softmax(self.model(x), 1)
                return p[:, :, None, None].expand(-1, -1, x.shape[-2], x.shape[-1])
            with pooled_features(self.model) as feats:  # the features the domain check reads in torch
                p = torch.softmax(self.model(x), 1)[:, 1]
            return p, feats[0]

    if deepness:
        return Graph().eval(), (torch.zeros(1, 3, s, s),), ["input"], {}, "deepness", lm.card
    return (
        Graph().eval(),
        (torch.zeros(2, 3, s, s),),
        ["image"],
        {"image": {0: "n"}, "probability": {0: "n"}, "features": {0: "n"}},
        "crack",
        lm.card,
    )


def deepness_metadata(card: CrackCard) -> dict[str, object]:
    """Deepness's metadata keys for a crack card (values JSON-encoded as Deepness reads them)."""
    s = card.input_px
    meta: dict[str, object] = {
        "model_type": "Segmentor",
        "class_names": {str(i): n for i, n in enumerate(card.classes)},
        "tile_size": s,
        "tiles_size": s,  # the key of Deepness's documentation; its code reads tile_size
        "tiles_overlap": 0,
        "standardization_mean": list(card.mean),
        "standardization_std": list(card.std),
        "seg_thresh": 0.5,
    }
    # no "resolution": crack cards do not record the ground size of a pixel, so Deepness keeps the
    # user's processing resolution (choose the orthomosaic's own, as crack_predict works at)
    return meta


def export_onnx(card_path: str | Path, out: str | Path, deepness: bool = False, loaded: Any = None) -> str:
    """Export the deep model of ``card_path`` to ``out`` (written atomically); returns the graph kind.

    ``loaded``: the susceptibility model already loaded from that card (a ``LoadedModel``), so that
    a map run that exports on the fly does not read the card and weights again.
    """
    import torch

    onnx = _onnx()
    card = loaded.card if loaded is not None else ModelCard.load(card_path)
    if card.task == "crack":
        module, ex, names, axes, kind, card = _crack_module(card_path, deepness)
        outputs = ["output"] if deepness else ["probability", "features"]
    else:
        if deepness:
            raise ModelLoadError("The Deepness format is for crack classifiers (image tiles), not susceptibility.")
        module, ex, names, axes, kind, card = _susceptibility_module(card_path, loaded)
        outputs = ["probability"]
    with atomic_path(str(out)) as tmp, torch.no_grad():
        torch.onnx.export(
            module,
            ex,
            tmp,
            input_names=names,
            output_names=outputs,
            dynamic_axes=axes or None,
            opset_version=OPSET,
            dynamo=False,
        )
        model = onnx.load(tmp)
        meta = {
            CARD_KEY: card.to_json(indent=None),
            GRAPH_KEY: kind,
            WEIGHTS_KEY: weights_sha256(card, card_path),
        }
        if deepness and isinstance(card, CrackCard):  # refused above for susceptibility cards
            meta.update({k: json.dumps(v) for k, v in deepness_metadata(card).items()})
        for k, v in meta.items():
            model.metadata_props.add(key=k, value=str(v))
        onnx.save(model, tmp)
    return kind


@dataclass
class OnnxModel:
    """An ONNX Runtime session of one of our exports."""

    session: object
    graph: str
    inputs: list[str]

    def run(self, **feeds: np.ndarray | None) -> list[np.ndarray]:
        """Outputs for the named inputs (None, or those the graph does not have, are left out)."""
        return self.session.run(None, {k: v for k, v in feeds.items() if k in self.inputs and v is not None})  # type: ignore[attr-defined]


def open_onnx(path: str | Path, card: ModelCard, card_path: str | Path, device: str = "cpu") -> OnnxModel:
    """An ONNX Runtime session of ``path``, refused unless it was exported from these weights."""
    ort = _ort()
    providers = ["CPUExecutionProvider"]
    if str(device).startswith("cuda") and "CUDAExecutionProvider" in ort.get_available_providers():
        providers.insert(0, "CUDAExecutionProvider")
    from .runtime import free_cores

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = free_cores()  # not every core when others are busy (spin-waits)
    try:
        sess = ort.InferenceSession(str(path), sess_options=opts, providers=providers)
    except Exception as exc:  # onnxruntime raises its own exception types
        raise ModelLoadError(f"Cannot open the ONNX model {path}: {exc}") from exc
    meta = sess.get_modelmeta().custom_metadata_map
    if meta.get(WEIGHTS_KEY) != weights_sha256(card, card_path):
        raise ModelLoadError(
            f"The ONNX model {path} was not exported from the weights of {card_path} (or not by this tool): "
            "export it again (Export a model to ONNX), or delete it to have it re-made."
        )
    return OnnxModel(sess, meta.get(GRAPH_KEY, ""), [i.name for i in sess.get_inputs()])


class onnx_backend:  # noqa: N801 - used like a function in a with statement
    """Context manager giving an :class:`OnnxModel` for a card.

    The session reads ``<card>.onnx`` beside the card when that file matches the weights, else an
    export cached in the temporary folder under the card's and weights' content hash.
    """

    def __init__(self, card_path: str | Path, card: ModelCard, device: str = "cpu", loaded: Any = None) -> None:
        self.card_path, self.card, self.device, self.loaded = Path(card_path), card, device, loaded
        self._tmp: tempfile.TemporaryDirectory | None = None

    def __enter__(self) -> OnnxModel:
        beside = self.card_path.with_suffix(".onnx")
        if beside.is_file() and not beside.is_symlink():  # a link could point anywhere: export afresh
            try:
                return open_onnx(beside, self.card, self.card_path, self.device)
            except ModelLoadError:
                pass  # stale or foreign: export afresh below, leave the user's file alone
        # exports are cached by the card's and the weights' content, so a second run does not re-export
        cache = Path(tempfile.gettempdir()) / "landslide_ai_onnx"
        key = hashlib.sha256(
            (self.card.to_json(indent=None) + weights_sha256(self.card, self.card_path)).encode()
        ).hexdigest()[:32]
        path = cache / f"{key}.onnx"
        if path.is_file():
            try:
                return open_onnx(path, self.card, self.card_path, self.device)
            except ModelLoadError:
                pass  # damaged: export again
        try:
            cache.mkdir(parents=True, exist_ok=True)
            export_onnx(self.card_path, path, loaded=self.loaded)
        except OSError:  # no writable temporary folder: a private one, removed on exit
            self._tmp = tempfile.TemporaryDirectory(prefix="landslide_ai_onnx_")
            path = Path(self._tmp.name) / "model.onnx"
            export_onnx(self.card_path, path, loaded=self.loaded)
        return open_onnx(path, self.card, self.card_path, self.device)

    def __exit__(self, *exc: object) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()
