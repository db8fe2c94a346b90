"""Shared machinery of every Landslide AI algorithm: help, dependency checks, errors, progress.

Algorithms stay thin: they read parameters, call one engine function and return outputs. What
they share lives here so that every algorithm behaves the same way: help from
``resources/help/<name>.json`` (one source), ``canExecute()`` naming the package to install,
engine errors re-raised as ``QgsProcessingException`` with the engine's message, and the
feedback adapted to ``core.progress.Progress``.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from qgis.core import QgsProcessingAlgorithm, QgsProcessingException, QgsProcessingFeedback

from ..core.dependencies import problems
from ..core.errors import InvalidInputError, LandslideAIError
from ..core.sampling.points import Points

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

    def report(self, fraction: float, message: str = "") -> None:  # noqa: D102
        self._fb.setProgress(max(0.0, min(100.0, 100.0 * fraction)))
        if message and message != self._last:
            self._fb.setProgressText(message)
            self._last = message

    def is_canceled(self) -> bool:  # noqa: D102
        return self._fb.isCanceled()

    def log(self, message: str) -> None:  # noqa: D102
        self._fb.pushInfo(message)


class LandslideAlgorithm(QgsProcessingAlgorithm):
    """Base class: subclasses set ``NAME``, ``DISPLAY``, ``GROUP`` and ``REQUIRES``."""

    NAME = ""
    DISPLAY = ""
    GROUP = "prepare"
    REQUIRES: tuple[str, ...] = ("rasterio",)

    def name(self) -> str:  # noqa: D102
        return self.NAME

    def displayName(self) -> str:  # noqa: D102
        return self.DISPLAY

    def group(self) -> str:  # noqa: D102
        return GROUPS[self.GROUP]

    def groupId(self) -> str:  # noqa: D102
        return self.GROUP

    def icon(self):
        """The icon of the algorithm's toolbox group (resources/icons/<group>.svg)."""
        from qgis.PyQt.QtGui import QIcon

        return QIcon(str(RESOURCES / "icons" / f"{self.GROUP}.svg"))

    def createInstance(self):  # noqa: D102
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

    def helpUrl(self) -> str:  # noqa: D102
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

    def processAlgorithm(self, parameters, context, feedback):  # noqa: D102
        ok, msg = self.canExecute()
        if not ok:
            raise QgsProcessingException(msg)
        try:
            return self.execute_engine(parameters, context, FeedbackProgress(feedback), feedback)
        except LandslideAIError as exc:
            raise QgsProcessingException(str(exc)) from exc

    def inventory_points(
        self, parameters, context, crs, param: str = "INVENTORY", field_param: str = "PRESENCE_FIELD"
    ) -> Points | None:
        """Landslide points of a vector parameter, in ``crs`` (a ``QgsCoordinateReferenceSystem``).

        Read through the QGIS API so that any provider works (GeoPackage, shapefile, PostGIS,
        memory layers, selections); an optional presence field keeps features where it equals 1.
        """
        import numpy as np
        from qgis.core import QgsCoordinateTransform, QgsFeatureRequest

        layer = self.parameterAsVectorLayer(parameters, param, context)
        if layer is None:
            return None
        field = self.parameterAsString(parameters, field_param, context) if field_param in parameters else ""
        request = QgsFeatureRequest()
        if field:
            if layer.fields().indexOf(field) < 0:
                names = [f.name() for f in layer.fields()]
                raise InvalidInputError(f"The inventory has no field '{field}'; its fields are {names}.")
            request.setFilterExpression(f'"{field}" = 1 OR "{field}" = \'true\'')
        xform = QgsCoordinateTransform(layer.crs(), crs, context.transformContext())
        xs, ys = [], []
        for feat in layer.getFeatures(request):
            geom = feat.geometry()
            if geom.isEmpty():
                continue
            pt = xform.transform(geom.centroid().asPoint())
            xs.append(pt.x())
            ys.append(pt.y())
        return Points(np.asarray(xs, float), np.asarray(ys, float), {})

    def execute_engine(self, parameters, context, progress: FeedbackProgress, feedback) -> dict:
        """Subclasses: read parameters, call the engine, return outputs."""
        raise NotImplementedError
