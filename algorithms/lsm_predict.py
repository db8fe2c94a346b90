"""lsm_predict: a saved model over the whole stack; susceptibility, 5-class zoning and zone table."""

from __future__ import annotations

from qgis.core import (
    QgsProcessingParameterBoolean,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFile,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterRasterLayer,
    QgsProcessingParameterString,
)

from ..core.errors import InvalidInputError
from ..core.raster.zoning import ZoningMethod
from ..core.runtime import BACKENDS
from ..core.susceptibility.predict import predict_and_zone
from . import events
from .base import LandslideAlgorithm
from .styling import susceptibility_qml, zoning_qml

METHODS = [ZoningMethod.QUANTILE, ZoningMethod.NATURAL_BREAKS, ZoningMethod.USER, ZoningMethod.CARD]


class PredictAlgorithm(LandslideAlgorithm):
    """Susceptibility map from a saved model."""

    NAME = "lsm_predict"
    DISPLAY = "Predict susceptibility map"
    GROUP = "map"
    REQUIRES = ("rasterio", "sklearn")
    OPTIONAL = ("torch", "xgboost", "jenkspy", "onnxruntime", "dask")
    ALLOW_SHIFT, BACKEND, DASK = "ALLOW_SHIFT", "BACKEND", "DASK_SCHEDULER"
    (MODEL, STACK, TEMPORAL, INVENTORY, FIELD, METHOD, THRESHOLDS, BLOCK, DEVICE, OUTPUT, ZONING, TABLE) = (
        "MODEL",
        "STACK",
        "TEMPORAL_STACK",
        "INVENTORY",
        "PRESENCE_FIELD",
        "ZONING_METHOD",
        "THRESHOLDS",
        "BLOCK_SIZE",
        "DEVICE",
        "OUTPUT",
        "ZONING",
        "ZONE_TABLE",
    )

    def initAlgorithm(self, config=None):
        self.add(QgsProcessingParameterFile(self.MODEL, "Model card (.json saved by lsm_train)", extension="json"))
        self.add(QgsProcessingParameterRasterLayer(self.STACK, "Factor stack"))
        self.add(QgsProcessingParameterRasterLayer(self.TEMPORAL, "Temporal (climate) stack", optional=True))
        self.add_inventory_params("Landslide inventory (for the zone table)", optional=True)
        self.add(
            QgsProcessingParameterEnum(
                self.METHOD,
                "Zoning",
                [
                    "Quantile (of this run's extent)",
                    "Natural breaks (Jenks)",
                    "User thresholds",
                    "Model card's breaks (training-area quantiles: every tile and run zones alike)",
                ],
                defaultValue=3,
            )
        )
        self.add(QgsProcessingParameterString(self.THRESHOLDS, "User thresholds (4 ascending values)", optional=True))
        self.add(
            QgsProcessingParameterNumber(self.BLOCK, "Window size (cells)", defaultValue=256, minValue=16),
            advanced=True,
        )
        self.add(QgsProcessingParameterString(self.DEVICE, "Device (auto, cpu, cuda)", "auto"), advanced=True)
        self.add(
            QgsProcessingParameterBoolean(self.ALLOW_SHIFT, "Accept factor distributions unlike training", False),
            advanced=True,
        )
        self.add(
            QgsProcessingParameterEnum(
                self.BACKEND, "Deep-model backend (auto: ONNX Runtime when installed)", list(BACKENDS), defaultValue=2
            ),
            advanced=True,
        )
        self.add(
            QgsProcessingParameterString(
                self.DASK, "Dask: 'local' or a scheduler address (empty: no Dask)", optional=True, defaultValue=""
            ),
            advanced=True,
        )
        self.add(QgsProcessingParameterRasterDestination(self.OUTPUT, "Susceptibility"))
        self.add(QgsProcessingParameterRasterDestination(self.ZONING, "Susceptibility zoning"))
        self.add(
            QgsProcessingParameterFileDestination(self.TABLE, "Zone table (CSV)", "CSV files (*.csv)", optional=True)
        )

    def execute_engine(self, parameters, context, progress, feedback):
        stack = self.parameterAsRasterLayer(parameters, self.STACK, context)
        temporal = self.parameterAsRasterLayer(parameters, self.TEMPORAL, context)
        method = METHODS[self.parameterAsEnum(parameters, self.METHOD, context)]
        user = None
        if method is ZoningMethod.USER:
            try:
                user = [float(v) for v in self.parameterAsString(parameters, self.THRESHOLDS, context).split(",")]
            except ValueError as exc:
                raise InvalidInputError(
                    "User thresholds must be 4 comma-separated numbers, e.g. 0.2,0.4,0.6,0.8."
                ) from exc
        pts = self.inventory_points(parameters, context, stack.crs())
        out = self.parameterAsOutputLayer(parameters, self.OUTPUT, context)
        zoning = self.parameterAsOutputLayer(parameters, self.ZONING, context)
        table = self.parameterAsFileOutput(parameters, self.TABLE, context) or None
        breaks = predict_and_zone(
            self.parameterAsFile(parameters, self.MODEL, context),
            stack.source(),
            out,
            zoning,
            method,
            user,
            temporal.source() if temporal else None,
            pts,
            table,
            block=self.parameterAsInt(parameters, self.BLOCK, context),
            device=self.parameterAsString(parameters, self.DEVICE, context) or "auto",
            progress=progress,
            allow_shift=self.parameterAsBool(parameters, self.ALLOW_SHIFT, context),
            backend=BACKENDS[self.parameterAsEnum(parameters, self.BACKEND, context)],
            dask=self.parameterAsString(parameters, self.DASK, context).strip() or None,
        )
        progress.log("Zone breaks: " + ", ".join(f"{b:.4f}" for b in breaks))
        self.style(context, out, susceptibility_qml(), "Susceptibility")
        self.style(context, zoning, zoning_qml(breaks), "Susceptibility zoning")
        result = {self.OUTPUT: out, self.ZONING: zoning}
        if table:
            result[self.TABLE] = table
            publish_zones(self.NAME, table)
        return result


def publish_zones(algorithm: str, table_csv: str) -> None:
    """Area share vs landslide share per zone, read back from the table just written, for the dock."""
    import csv

    with open(table_csv, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    events.publish(
        "zones",
        algorithm=algorithm,
        zones=[r["label"] for r in rows],
        area_share=[float(r["area_share"]) for r in rows],
        landslide_share=[float(r["landslide_share"]) for r in rows],
    )
