"""Shared machinery of every Landslide AI algorithm: help, dependency checks, errors, progress.

Algorithms stay thin: they read parameters, call one engine function and return outputs. What
they share lives here so that every algorithm behaves the same way: help from
``resources/help/<name>.json`` (one source), ``canExecute()`` naming the package to install,
engine errors re-raised as ``QgsProcessingException`` with the engine's message, and the
feedback adapted to ``core.progress.Progress``.
"""

from __future__ import annotations

import json
import traceback
from functools import cache

from qgis.core import (
    QgsProcessingAlgorithm,
    QgsProcessingException,
    QgsProcessingFeedback,
)

from ..core.dependencies import DEPENDENCIES, INSTALLER_MENU, problems, status
from ..core.errors import Canceled, LandslideAIError, MissingDependencyError
from ..core.outputs import OutputTransaction, describe_os_error
from .layers import LayerReading
from .output_guard import OutputGuard, low_space_folder
from .styling import RESOURCES

GROUPS = {
    "prepare": "1 Prepare factors",
    "sample": "2 Sample",
    "train": "3 Train & evaluate",
    "map": "4 Map & interpret",
    "cracks": "Cracks",
    "workflows": "5 Workflows (models)",  # the .model3 files of resources/workflows
}


@cache
def help_for(name: str) -> dict:
    """The help map of an algorithm (description, parameters, outputs, reference)."""
    p = RESOURCES / "help" / f"{name}.json"
    return json.loads(p.read_text(encoding="utf-8")) if p.exists() else {}


class FeedbackProgress:
    """``core.progress.Progress`` over a ``QgsProcessingFeedback``."""

    def __init__(self, feedback: QgsProcessingFeedback | None) -> None:
        self._fb = feedback or QgsProcessingFeedback()
        self._last = ""

    def report(self, fraction: float, message: str = "") -> None:
        self._fb.setProgress(max(0.0, min(100.0, 100.0 * fraction)))
        if message and message != self._last:
            self._fb.setProgressText(message)
            self._last = message

    def is_canceled(self) -> bool:
        return self._fb.isCanceled()

    def log(self, message: str) -> None:
        if message.startswith("WARNING") and hasattr(self._fb, "pushWarning"):
            self._fb.pushWarning(message)
        else:
            self._fb.pushInfo(message)


class LandslideAlgorithm(OutputGuard, LayerReading, QgsProcessingAlgorithm):
    """Base class: subclasses set ``NAME``, ``DISPLAY``, ``GROUP``, ``REQUIRES`` and ``OPTIONAL``.

    ``REQUIRES``: packages without which the algorithm cannot run at all (``canExecute`` is False
    and the toolbox says what to install). ``OPTIONAL``: packages only some choices need (a deep
    model, SHAP, the ONNX backend); the engine checks them when the run asks for them
    (``core.dependencies.require``), so that a QGIS without torch still trains a Random Forest.
    """

    NAME = ""
    DISPLAY = ""
    GROUP = "prepare"
    REQUIRES: tuple[str, ...] = ("rasterio",)
    OPTIONAL: tuple[str, ...] = ()

    def name(self) -> str:
        return self.NAME

    def displayName(self) -> str:
        return self.DISPLAY

    def group(self) -> str:
        return GROUPS[self.GROUP]

    def groupId(self) -> str:
        return self.GROUP

    def icon(self):
        """The icon of the algorithm's toolbox group (resources/icons/<group>.svg)."""
        from qgis.PyQt.QtGui import QIcon

        return QIcon(str(RESOURCES / "icons" / f"{self.GROUP}.svg"))

    def createInstance(self):
        return type(self)()

    def shortHelpString(self) -> str:
        """Description, parameters, outputs and reference from the algorithm's help JSON."""
        h = help_for(self.NAME)
        parts = [h.get("description", "")]
        if h.get("parameters"):
            parts.append(
                "<h3>Parameters</h3><ul>"
                + "".join(f"<li><b>{k}</b>: {v}</li>" for k, v in h["parameters"].items())
                + "</ul>"
            )
        if h.get("outputs"):
            parts.append(
                "<h3>Outputs</h3><ul>" + "".join(f"<li><b>{k}</b>: {v}</li>" for k, v in h["outputs"].items()) + "</ul>"
            )
        parts.append(self.packages_help())
        if h.get("reference"):
            parts.append(f"<p><i>Method: {h['reference']}</i></p>")
        return "".join(parts)

    def packages_help(self) -> str:
        """The Python packages this algorithm uses and whether this QGIS has them (help panel)."""
        mods = [m for m in (*self.REQUIRES, *self.OPTIONAL) if m in DEPENDENCIES]
        if not mods:
            return ""
        items = []
        for m in mods:
            s = status(m)
            need = "needed" if m in self.REQUIRES else f"for {s.dependency.purpose}"
            state = f"installed ({s.shown})" if s.ok else f"<b>missing</b>: {s.problem}"
            items.append(f"<li>{s.dependency.distribution} ({need}): {state}</li>")
        return "<h3>Python packages</h3><ul>" + "".join(items) + "</ul>"

    def helpUrl(self) -> str:
        return "https://github.com/landslide-ai/landslide-ai#readme"

    def add(self, param, advanced: bool = False):
        """Add a parameter with its help text from the help JSON."""
        text = help_for(self.NAME).get("parameters", {}).get(param.name())
        if text and hasattr(param, "setHelp"):
            param.setHelp(text)
        if advanced:
            param.setFlags(param.flags() | param.FlagAdvanced)
        if param.isDestination() and hasattr(param, "setSupportsNonFileBasedOutput"):
            # the engine writes files (staged, then published): a temporary output is a temporary *file*
            param.setSupportsNonFileBasedOutput(False)
        self.addParameter(param)
        return param

    def canExecute(self):
        """False with the exact install hint when a required package is missing or too old.

        Never installs anything: the user's QGIS Python is theirs (see ``core.dependencies``).
        """
        found = problems(self.REQUIRES)
        if found:
            return False, f"{self.DISPLAY} cannot run: " + "; ".join(found) + "."
        return True, ""

    def processAlgorithm(self, parameters, context, feedback):
        """Guard outputs, run the engine on staged outputs, publish all of them or none.

        Why here: every algorithm gets the same protection (no input overwritten, no partial
        output after an error or a cancel, OS errors as one sentence) without repeating it.
        """
        ok, msg = self.canExecute()
        if not ok:
            raise QgsProcessingException(msg)
        progress = FeedbackProgress(feedback)
        tx = OutputTransaction()
        self._styles: list[tuple[str, str, str | None]] = []
        self._loads: list[tuple[str, str]] = []
        try:
            for path in self._input_paths(parameters, context):
                tx.add_input(path)
            self._declare_outputs(parameters, context, tx)
            tx.check()
            if status("torch").ok and any(p.name() == "DEVICE" for p in self.parameterDefinitions()):
                from ..core.runtime import pick_device

                pick_device(self.parameterAsString(parameters, "DEVICE", context) or "auto")  # refused before work
            staged = tx.stage()
            result = self.execute_engine({**parameters, **staged}, context, progress, feedback)
            if feedback is not None and feedback.isCanceled():
                raise Canceled("Canceled: nothing was written and no existing file was changed.")
            tx.commit()
            self._after_commit(context, tx)
            return tx.map_result(result)
        except MissingDependencyError as exc:
            tx.rollback()
            hint = "" if INSTALLER_MENU in str(exc) else f" Install them with {INSTALLER_MENU}."
            raise QgsProcessingException(f"{exc}{hint} Nothing was written.") from exc
        except ImportError as exc:  # a package the engine imports lazily, unchecked: still say which and how
            tx.rollback()
            if feedback is not None:
                feedback.pushDebugInfo(traceback.format_exc())
            name = (exc.name or str(exc)).split(".")[0]
            raise QgsProcessingException(
                f"{self.DISPLAY} needs the Python package '{name}', which this QGIS cannot import ({exc}). "
                f"Install it with {INSTALLER_MENU}. Nothing was written."
            ) from exc
        except Canceled as exc:
            tx.rollback()
            raise QgsProcessingException("Canceled: nothing was written and no existing file was changed.") from exc
        except LandslideAIError as exc:
            tx.rollback()
            raise QgsProcessingException(str(exc)) from exc
        except QgsProcessingException:
            tx.rollback()
            raise
        except Exception as exc:
            low = low_space_folder(tx)
            tx.rollback()
            if isinstance(exc, OSError) or low:
                text = (
                    describe_os_error(exc, low or "")
                    if not low
                    else describe_os_error(OSError(28, "No space left on device", low))
                )
                raise QgsProcessingException(text + " Nothing was written.") from exc
            if feedback is not None:
                feedback.pushDebugInfo(traceback.format_exc())
            raise QgsProcessingException(
                f"{self.DISPLAY} failed unexpectedly ({type(exc).__name__}: {exc}). Nothing was written; "
                "the full traceback is in the log. Please report it with the log."
            ) from exc

    def execute_engine(self, parameters, context, progress: FeedbackProgress, feedback) -> dict:
        """Subclasses: read parameters, call the engine, return outputs."""
        raise NotImplementedError
