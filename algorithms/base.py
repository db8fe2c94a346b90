"""Shared machinery of every Landslide AI algorithm: help, dependency checks, errors, progress.

Algorithms stay thin: they read parameters, call one engine function and return outputs. What
they share lives here so that every algorithm behaves the same way: help from
``resources/help/<name>.json`` (one source), ``canExecute()`` naming the package to install,
engine errors re-raised as ``QgsProcessingException`` with the engine's message, and the
feedback adapted to ``core.progress.Progress``.
"""

from __future__ import annotations

import json
import shutil
import traceback
from functools import cache
from pathlib import Path

from qgis.core import (
    QgsProcessing,
    QgsProcessingAlgorithm,
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingFeedback,
    QgsProcessingParameterFeatureSink,
    QgsProcessingParameterFile,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterFolderDestination,
    QgsProcessingParameterMultipleLayers,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterVectorDestination,
)

from ..core.dependencies import problems
from ..core.errors import Canceled, LandslideAIError
from ..core.outputs import OutputTransaction, describe_os_error
from .layers import LayerReading

#: free bytes below which an unexplained failure while writing is reported as a full disk.
_LOW_SPACE = 32 * 2**20

RESOURCES = Path(__file__).resolve().parent.parent / "resources"

GROUPS = {
    "prepare": "1 Prepare factors",
    "sample": "2 Sample",
    "train": "3 Train & evaluate",
    "map": "4 Map & interpret",
    "cracks": "Cracks",
    "workflows": "5 Workflows (models)",  # the .model3 files of resources/models
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
        self._fb.pushInfo(message)


def _is_provider_uri(path: str) -> bool:
    """A destination that is not a plain file (memory layer, database connection, ogr: URI)."""
    return path.startswith(("memory:", "postgres:", "postgresql:", "ogr:", "spatialite:", "dbname=")) or "|" in path


def _low_space_folder(tx: OutputTransaction) -> str | None:
    """The output folder whose disk is (nearly) full, if any: the likely cause of a failed write."""
    for o in tx.outputs:
        folder = o.staging or o.final.parent
        try:
            if shutil.disk_usage(folder).free < _LOW_SPACE:
                return str(o.final)
        except OSError:
            continue
    return None


class LandslideAlgorithm(LayerReading, QgsProcessingAlgorithm):
    """Base class: subclasses set ``NAME``, ``DISPLAY``, ``GROUP`` and ``REQUIRES``."""

    NAME = ""
    DISPLAY = ""
    GROUP = "prepare"
    REQUIRES: tuple[str, ...] = ("rasterio",)

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
        if h.get("reference"):
            parts.append(f"<p><i>Method: {h['reference']}</i></p>")
        return "".join(parts)

    def helpUrl(self) -> str:
        return "https://github.com/landslide-ai/landslide-ai#readme"

    def add(self, param, advanced: bool = False):
        """Add a parameter with its help text from the help JSON."""
        text = help_for(self.NAME).get("parameters", {}).get(param.name())
        if text and hasattr(param, "setHelp"):
            param.setHelp(text)
        if advanced:
            param.setFlags(param.flags() | param.FlagAdvanced)
        self.addParameter(param)
        return param

    def canExecute(self):
        """False with the exact install hint when a required package is missing or too old.

        Never installs anything: the user's QGIS Python is theirs (see ``core.dependencies``).
        """
        found = problems(self.REQUIRES)
        if found:
            return False, f"{self.DISPLAY} cannot run: " + "; ".join(
                found
            ) + ". Install into QGIS's Python, then restart QGIS."
        return True, ""

    # -- outputs: one guard and one all-or-nothing transaction for every algorithm -------------
    def planned_files(self, parameters, context) -> dict[str, list[str]]:
        """File names an algorithm knows it will write into each output folder (checked before work)."""
        return {}

    def _input_paths(self, parameters, context) -> list[str]:
        """Every file or folder the run reads, from its input parameters (layers by their source)."""
        paths: list[str] = []
        for p in self.parameterDefinitions():
            if p.isDestination() or parameters.get(p.name()) in (None, ""):
                continue
            if isinstance(p, QgsProcessingParameterFile):
                paths.append(self.parameterAsFile(parameters, p.name(), context))
            elif isinstance(p, QgsProcessingParameterMultipleLayers):
                if p.layerType() == QgsProcessing.TypeFile:
                    paths += self.parameterAsFileList(parameters, p.name(), context)
                else:
                    paths += [lyr.source() for lyr in self.parameterAsLayerList(parameters, p.name(), context)]
            elif p.type() in ("raster", "vector", "layer", "source", "mesh", "pointcloud"):
                lyr = self.parameterAsLayer(parameters, p.name(), context)
                if lyr is not None:
                    paths.append(lyr.source())
        return [s.split("|")[0] for s in paths if s]

    def _declare_outputs(self, parameters, context, tx: OutputTransaction) -> None:
        planned = self.planned_files(parameters, context)
        self._final_names: dict[str, str] = {}
        for p in self.destinationParameterDefinitions():
            name = p.name()
            value = parameters.get(name)
            if value is None or value == "":
                if p.flags() & p.FlagOptional and not (hasattr(p, "createByDefault") and p.createByDefault()):
                    continue
            if isinstance(p, QgsProcessingParameterFolderDestination):
                path = self.parameterAsFileOutput(parameters, name, context) or self.parameterAsString(
                    parameters, name, context
                )
                if path:
                    tx.add_folder(name, path, planned.get(name, ()))
            elif isinstance(
                p,
                QgsProcessingParameterRasterDestination
                | QgsProcessingParameterVectorDestination
                | QgsProcessingParameterFeatureSink,
            ):
                path = self.parameterAsOutputLayer(parameters, name, context)
                if path and not _is_provider_uri(path):  # memory layers and databases are not files
                    tx.add_file(name, path)
            elif isinstance(p, QgsProcessingParameterFileDestination):
                path = self.parameterAsFileOutput(parameters, name, context)
                if path:
                    tx.add_file(name, path)

    def style(self, context, path: str, qml: str, name: str | None = None) -> None:
        """Write the output's QML sidecar now (staged) and style the loaded layer after publishing."""
        from .styling import write_sidecar

        self._styles.append((path, write_sidecar(path, qml), name))

    def load_on_completion(self, path: str, name: str) -> None:
        """Load a (staged) output on the map once the run has published it."""
        self._loads.append((path, name))

    def _after_commit(self, context, tx: OutputTransaction) -> None:
        from .styling import QmlPostProcessor

        for path, name in self._loads:
            final = tx.final_path(path)
            context.addLayerToLoadOnCompletion(final, QgsProcessingContext.LayerDetails(name, context.project(), name))
        for path, qml, name in self._styles:
            final, final_qml = tx.final_path(path), tx.final_path(qml)
            if context.willLoadLayerOnCompletion(final):
                details = context.layerToLoadOnCompletionDetails(final)
                if name:
                    details.name = name
                details.setPostProcessor(QmlPostProcessor.create(final_qml))

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
            if any(p.name() == "DEVICE" for p in self.parameterDefinitions()):
                from ..core.runtime import pick_device

                pick_device(self.parameterAsString(parameters, "DEVICE", context) or "auto")  # refused before work
            staged = tx.stage()
            result = self.execute_engine({**parameters, **staged}, context, progress, feedback)
            if feedback is not None and feedback.isCanceled():
                raise Canceled("Canceled: nothing was written and no existing file was changed.")
            tx.commit()
            self._after_commit(context, tx)
            return tx.map_result(result)
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
            low = _low_space_folder(tx)
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
