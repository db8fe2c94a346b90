"""lsm_cf_map: certainty-factor pre-assessment, factor weights and 5-class zoning."""

from __future__ import annotations

from qgis.core import (
    QgsProcessingOutputHtml,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterRasterLayer,
    QgsProcessingParameterString,
)

from ..core.errors import InvalidInputError
from ..core.sampling.certainty_factor import cf_map
from .base import LandslideAlgorithm
from .lsm_stack_factors import split_names
from .styling import cf_score_qml, zoning_qml


def parse_breaks(text: str) -> dict[str, list[float]]:
    """``"slope: 5, 15, 25; twi: 4, 8"`` -> {"slope": [5, 15, 25], "twi": [4, 8]}."""
    out: dict[str, list[float]] = {}
    for part in (text or "").split(";"):
        if not part.strip():
            continue
        if ":" not in part:
            raise InvalidInputError(f"User breaks must look like 'slope: 5, 15, 25; twi: 4, 8'; got '{part}'.")
        name, vals = part.split(":", 1)
        try:
            out[name.strip()] = [float(v) for v in vals.split(",") if v.strip()]
        except ValueError as exc:
            raise InvalidInputError(f"Non-numeric break in '{part}'.") from exc
    return out


class CfMapAlgorithm(LandslideAlgorithm):
    """CF table, sensitivity-index weights, weighted CF score and quantile zoning."""

    NAME = "lsm_cf_map"
    DISPLAY = "Certainty-factor map"
    GROUP = "sample"
    STACK, INVENTORY, FIELD, CATEGORICAL, N_CLASSES, BREAKS = (
        "STACK",
        "INVENTORY",
        "PRESENCE_FIELD",
        "CATEGORICAL",
        "N_CLASSES",
        "USER_BREAKS",
    )
    SCORE, ZONING, TABLE_CSV, TABLE_HTML = "SCORE", "ZONING", "TABLE_CSV", "TABLE_HTML"

    def initAlgorithm(self, config=None):
        self.add(QgsProcessingParameterRasterLayer(self.STACK, "Factor stack"))
        self.add_inventory_params()
        self.add(QgsProcessingParameterString(self.CATEGORICAL, "Categorical factors (comma-separated)", optional=True))
        self.add(
            QgsProcessingParameterNumber(
                self.N_CLASSES, "Quantile classes per continuous factor", defaultValue=5, minValue=2, maxValue=20
            )
        )
        self.add(
            QgsProcessingParameterString(self.BREAKS, "User breaks ('slope: 5, 15, 25; twi: 4, 8')", optional=True),
            advanced=True,
        )
        self.add(QgsProcessingParameterRasterDestination(self.SCORE, "CF weighted score"))
        self.add(QgsProcessingParameterRasterDestination(self.ZONING, "CF zoning (5 classes)"))
        self.add(QgsProcessingParameterFileDestination(self.TABLE_CSV, "CF table (CSV)", "CSV files (*.csv)"))
        self.addOutput(QgsProcessingOutputHtml(self.TABLE_HTML, "CF table (HTML)"))

    def execute_engine(self, parameters, context, progress, feedback):
        stack = self.parameterAsRasterLayer(parameters, self.STACK, context)
        pts = self.inventory_points(parameters, context, stack.crs())
        score = self.parameterAsOutputLayer(parameters, self.SCORE, context)
        zoning = self.parameterAsOutputLayer(parameters, self.ZONING, context)
        csv = self.parameterAsFileOutput(parameters, self.TABLE_CSV, context)
        htm = csv.rsplit(".", 1)[0] + ".html"
        res = cf_map(
            stack.source(),
            pts,
            score,
            zoning,
            csv,
            htm,
            progress=progress,
            categorical=set(split_names(self.parameterAsString(parameters, self.CATEGORICAL, context))),
            n_classes=self.parameterAsInt(parameters, self.N_CLASSES, context),
            user_breaks=parse_breaks(self.parameterAsString(parameters, self.BREAKS, context)),
        )
        for name, w in res.weights.items():
            progress.log(f"{name}: E = {res.sensitivity[name]:.3f}, weight = {w:.3f}")
        self.style(context, zoning, zoning_qml(res.zone_breaks), "CF zoning")
        self.style(context, score, cf_score_qml(), "CF score")
        return {self.SCORE: score, self.ZONING: zoning, self.TABLE_CSV: csv, self.TABLE_HTML: htm}
