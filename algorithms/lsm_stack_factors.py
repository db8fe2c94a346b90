"""lsm_stack_factors: factors of any CRS, resolution and extent onto one grid; optional climate stack."""

from __future__ import annotations

from pathlib import Path

from qgis.core import (
    QgsProcessingOutputFile,
    QgsProcessingParameterCrs,
    QgsProcessingParameterExtent,
    QgsProcessingParameterMultipleLayers,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterString,
)

from ..core.errors import InvalidInputError
from ..core.progress import SubProgress
from ..core.raster.stack import FactorSpec, monthly_specs, stack_factors
from .base import LandslideAlgorithm
from .qgis_enums import DOUBLE, RASTER


def split_names(text: str) -> list[str]:
    """Comma-separated names, trimmed, empties dropped."""
    return [t.strip() for t in (text or "").split(",") if t.strip()]


class StackFactorsAlgorithm(LandslideAlgorithm):
    """Aligned multiband factor stack plus an alignment report."""

    NAME = "lsm_stack_factors"
    DISPLAY = "Stack factors onto one grid"
    GROUP = "prepare"
    (FACTORS, NAMES, CATEGORICAL, RESOLUTION, CRS, EXTENT, RAIN, TEMP, OUTPUT, TEMPORAL_OUTPUT, REPORT) = (
        "FACTORS",
        "NAMES",
        "CATEGORICAL",
        "RESOLUTION",
        "CRS",
        "EXTENT",
        "RAINFALL",
        "TEMPERATURE",
        "OUTPUT",
        "TEMPORAL_OUTPUT",
        "REPORT",
    )

    def initAlgorithm(self, config=None):
        self.add(QgsProcessingParameterMultipleLayers(self.FACTORS, "Factor rasters", RASTER))
        self.add(
            QgsProcessingParameterString(
                self.NAMES, "Factor names (comma-separated, default: layer names)", optional=True
            )
        )
        self.add(
            QgsProcessingParameterString(self.CATEGORICAL, "Categorical factors (comma-separated names)", optional=True)
        )
        self.add(QgsProcessingParameterNumber(self.RESOLUTION, "Cell size (m)", DOUBLE, 30.0, minValue=0.01))
        self.add(
            QgsProcessingParameterCrs(self.CRS, "Reference CRS (default: first factor's)", optional=True), advanced=True
        )
        self.add(
            QgsProcessingParameterExtent(self.EXTENT, "Extent (default: intersection of the factors)", optional=True),
            advanced=True,
        )
        self.add(
            QgsProcessingParameterMultipleLayers(
                self.RAIN, "Monthly rainfall rasters (Jan..Dec)", RASTER, optional=True
            )
        )
        self.add(
            QgsProcessingParameterMultipleLayers(
                self.TEMP, "Monthly temperature rasters (Jan..Dec)", RASTER, optional=True
            )
        )
        self.add(QgsProcessingParameterRasterDestination(self.OUTPUT, "Factor stack"))
        self.add(
            QgsProcessingParameterRasterDestination(
                self.TEMPORAL_OUTPUT, "Temporal (climate) stack", optional=True, createByDefault=False
            )
        )
        self.addOutput(QgsProcessingOutputFile(self.REPORT, "Alignment report (JSON)"))

    def execute_engine(self, parameters, context, progress, feedback):
        layers = self.parameterAsLayerList(parameters, self.FACTORS, context)
        names = split_names(self.parameterAsString(parameters, self.NAMES, context)) or [lyr.name() for lyr in layers]
        if len(names) != len(layers):
            raise InvalidInputError(f"{len(names)} names given for {len(layers)} factor rasters; give one per raster.")
        cats = set(split_names(self.parameterAsString(parameters, self.CATEGORICAL, context)))
        unknown = cats - set(names)
        if unknown:
            raise InvalidInputError(f"Categorical factor(s) {sorted(unknown)} are not among the factor names {names}.")
        specs = [FactorSpec(lyr.source(), n, n in cats) for lyr, n in zip(layers, names)]
        res = self.parameterAsDouble(parameters, self.RESOLUTION, context)
        crs = self.parameterAsCrs(parameters, self.CRS, context)
        crs_wkt = crs.toWkt() if crs.isValid() else None
        bounds = None
        if parameters.get(self.EXTENT):
            target = crs if crs.isValid() else layers[0].crs()
            ext = self.parameterAsExtent(parameters, self.EXTENT, context, target)
            if not ext.isNull():
                bounds = (ext.xMinimum(), ext.yMinimum(), ext.xMaximum(), ext.yMaximum())
        out = self.parameterAsOutputLayer(parameters, self.OUTPUT, context)
        stack = stack_factors(
            specs, out, resolution_m=res, crs_wkt=crs_wkt, bounds=bounds, progress=SubProgress(progress, 0, 0.6)
        )
        result = {self.OUTPUT: out, self.REPORT: out + ".json"}
        rain = self.parameterAsLayerList(parameters, self.RAIN, context)
        temp = self.parameterAsLayerList(parameters, self.TEMP, context)
        if rain or temp:
            tout = self.parameterAsOutputLayer(parameters, self.TEMPORAL_OUTPUT, context)
            if not tout:
                tout = str(Path(out).with_name(Path(out).stem + "_climate.tif"))
            tspecs, layout = monthly_specs([r.source() for r in rain], [t.source() for t in temp])
            stack_factors(tspecs, tout, grid=stack.grid, progress=SubProgress(progress, 0.6, 1.0), temporal=layout)
            result[self.TEMPORAL_OUTPUT] = tout
        return result
