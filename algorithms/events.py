"""What running algorithms publish for the desktop (the dock's live plots).

Why a publish/subscribe module instead of the dock reaching into algorithms: Processing runs an
algorithm in a worker thread, in batch mode, inside a model or under ``qgis_process`` where no
dock exists. An algorithm therefore only *publishes* plain data (lists, dicts, numpy arrays) here;
whoever listens (the dock, a test) subscribes. Publishing with nobody subscribed costs nothing.
Listeners are called in the publishing thread; a Qt listener must hand the event to the GUI
thread itself (the dock does it with a queued signal).

Event kinds and payloads (all keys always present):

- ``run_started``: ``algorithm`` (name), ``title``; a new training run clears the live curves.
- ``epoch``: ``algorithm``, ``model`` (display name), ``epoch`` (1-based), ``loss``, ``val_loss``,
  ``metric`` (validation AUC for susceptibility, validation accuracy for cracks), ``metric_name``.
- ``skill``: ``algorithm``, ``note`` (which model is mapped and whether the leaders differ), ``rows``:
  [{"model", "rate", "rate_low", "rate_high", "separability", "flags"}], best CV prediction rate first.
- ``roc``: ``algorithm``, ``title``, ``curves``: {model: {"fpr": [...], "tpr": [...], "area": float}}
  (``area``: under the drawn curve).
- ``confusion``: ``algorithm``, ``model``, ``matrix`` (2x2 nested list, rows = truth), ``labels``.
- ``importance``: ``algorithm``, ``model``, ``values``: {factor: mean |SHAP|}.
- ``zones``: ``algorithm``, ``zones`` (names), ``area_share``, ``landslide_share`` (fractions).
- ``gradcam``: ``algorithm``, ``items``: [{"name", "chip" (HxWx3 uint8), "heat" (HxW 0..1), "probability"}].
"""

from __future__ import annotations

import threading
from collections.abc import Callable

Listener = Callable[[str, dict], None]

_LISTENERS: list[Listener] = []
_LOCK = threading.Lock()


def subscribe(listener: Listener) -> None:
    """Receive every event until ``unsubscribe``."""
    with _LOCK:
        if listener not in _LISTENERS:
            _LISTENERS.append(listener)


def unsubscribe(listener: Listener) -> None:
    """Stop receiving events (unknown listeners are ignored)."""
    with _LOCK:
        if listener in _LISTENERS:
            _LISTENERS.remove(listener)


def publish(kind: str, **payload) -> None:
    """Send an event to every listener; a failing listener never breaks the algorithm."""
    with _LOCK:
        listeners = list(_LISTENERS)
    for listener in listeners:
        try:
            listener(kind, payload)
        except Exception as exc:
            import sys

            print(f"Landslide AI: event listener failed on {kind}: {exc}", file=sys.stderr)


def has_listeners() -> bool:
    """True when someone listens (lets algorithms skip work whose only use is the dock)."""
    with _LOCK:
        return bool(_LISTENERS)
