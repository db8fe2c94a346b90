"""lsm_aggregate_units: a susceptibility raster summarised per mapping unit, zoned and styled."""

from __future__ import annotations

from qgis.core import (
    QgsFeature,
    QgsFeatureSink,
    QgsField,
    QgsFields,
    QgsProcessingException,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFeatureSink,
    QgsProcessingParameterRasterLayer,
    QgsProcessingParameterVectorLayer,
)
from qgis.PyQt.QtCore import QMetaType, QVariant

from ..core.raster.units import STATISTICS, UNIT_FIELDS, aggregate_units
from .base import LandslideAlgorithm
from .qgis_enums import VECTOR_POINT, VECTOR_POLYGON
from .styling import unit_zones_qml

#: field types: QVariant's on QGIS 3 (QgsField takes them up to 3.36), QMetaType's on QGIS 4 / PyQt6,
#: where QVariant has no type members
_INT = getattr(QVariant, "Int", None) or QMetaType.Type.Int
_DOUBLE = getattr(QVariant, "Double", None) or QMetaType.Type.Double
#: fields added to every unit: the engine's, as QGIS field types
NEW_FIELDS = [(name, _INT if kind is int else _DOUBLE) for name, kind in UNIT_FIELDS]


class AggregateUnitsAlgorithm(LandslideAlgorithm):
    """Per-unit mean, max, median and 90th percentile; 5 quantile zones of units; landslides per unit."""

    NAME = "lsm_aggregate_units"
    DISPLAY = "Aggregate susceptibility to mapping units"
    GROUP = "map"
    REQUIRES = ("rasterio", "shapely")
    RASTER, UNITS, STAT, INVENTORY, OUTPUT = "SUSCEPTIBILITY", "UNITS", "STATISTIC", "INVENTORY", "OUTPUT"

    def initAlgorithm(self, config=None):
        self.add(QgsProcessingParameterRasterLayer(self.RASTER, "Susceptibility raster"))
        self.add(
            QgsProcessingParameterVectorLayer(
                self.UNITS, "Mapping units (slope units, catchments, parcels)", [VECTOR_POLYGON]
            )
        )
        self.add(QgsProcessingParameterEnum(self.STAT, "Statistic used for zoning", list(STATISTICS), defaultValue=0))
        self.add(
            QgsProcessingParameterVectorLayer(
                self.INVENTORY, "Landslide points (counted per unit)", [VECTOR_POINT], optional=True
            )
        )
        self.add(QgsProcessingParameterFeatureSink(self.OUTPUT, "Units with susceptibility", VECTOR_POLYGON))

    def execute_engine(self, parameters, context, progress, feedback):
        raster = self.parameterAsRasterLayer(parameters, self.RASTER, context)
        units = self.parameterAsVectorLayer(parameters, self.UNITS, context)
        geoms, feats = self.layer_geometries(parameters, context, self.UNITS, raster.crs())
        stat = STATISTICS[self.parameterAsEnum(parameters, self.STAT, context)]
        pts = self.inventory_points(parameters, context, raster.crs()) if parameters.get(self.INVENTORY) else None
        agg = aggregate_units(raster.source(), geoms, stat, (pts.x, pts.y) if pts is not None else None, progress)
        fields = QgsFields(units.fields())
        for name, kind in NEW_FIELDS:
            if fields.indexOf(name) < 0:
                fields.append(QgsField(name, kind))
        sink, dest = self.parameterAsSink(parameters, self.OUTPUT, context, fields, units.wkbType(), units.crs())
        if sink is None:
            raise QgsProcessingException(self.invalidSinkError(parameters, self.OUTPUT))

        for f, values in zip(feats, agg.rows):
            out = QgsFeature(fields)
            out.setGeometry(f.geometry())
            attrs = dict(zip(units.fields().names(), f.attributes()))
            attrs.update(values)
            out.setAttributes([attrs.get(name) for name in fields.names()])
            sink.addFeature(out, QgsFeatureSink.FastInsert)
        del sink  # flush the file before it is styled and published
        if agg.empty:
            progress.log(f"{agg.empty} unit(s) hold no valid raster cell (zone 0, 'no data').")
        progress.log(f"Unit zone breaks ({stat}): " + ", ".join(f"{b:.4f}" for b in agg.breaks))
        self.style(context, dest, unit_zones_qml(agg.breaks, statistic=stat), "Units by susceptibility zone")
        return {self.OUTPUT: dest}
