"""lsm_evaluate: any susceptibility raster against any landslide inventory (no absences needed)."""

from __future__ import annotations

import numpy as np
from qgis.core import (
    QgsProcessingParameterEnum,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterLayer,
    QgsProcessingParameterString,
    QgsProcessingParameterVectorLayer,
)

from ..core.dates import split_by_date
from ..core.errors import InvalidInputError
from ..core.raster.units import STATISTICS
from ..core.raster.zoning import validate_user_breaks
from ..core.sampling.points import Points
from ..core.susceptibility.map_evaluation import LandslideSet, evaluate_map, summary_lines
from ..core.susceptibility.provenance import fit_on_all_samples
from .base import LandslideAlgorithm
from .eval_outputs import publish_evaluation
from .layers import PRESENT, date_value
from .qgis_enums import POLYGON_GEOMETRY, VECTOR_POINT, VECTOR_POLYGON


class EvaluateAlgorithm(LandslideAlgorithm):
    """Success/prediction-rate curves, zone densities and unit-level AUC with bootstrap intervals."""

    NAME = "lsm_evaluate"
    DISPLAY = "Evaluate a susceptibility map"
    GROUP = "train"
    REQUIRES = ("rasterio", "sklearn", "matplotlib", "shapely")
    RASTER, INVENTORY, FIELD, DATE_FIELD, SPLIT_DATE, SPLIT_FIELD = (
        "SUSCEPTIBILITY",
        "INVENTORY",
        "PRESENCE_FIELD",
        "DATE_FIELD",
        "SPLIT_DATE",
        "SPLIT_FIELD",
    )
    AREA, UNITS, STAT, THRESHOLDS, SEED = "TEST_AREA", "UNITS", "UNIT_STATISTIC", "THRESHOLDS", "SEED"
    OUTPUT, CURVES, ZONES = "OUTPUT_HTML", "CURVES_CSV", "ZONES_CSV"

    def initAlgorithm(self, config=None):
        self.add(QgsProcessingParameterRasterLayer(self.RASTER, "Susceptibility raster (ours or another tool's)"))
        self.add(
            QgsProcessingParameterVectorLayer(
                self.INVENTORY,
                "Landslide inventory (points or polygons)",
                [VECTOR_POINT, VECTOR_POLYGON],
            )
        )
        self.add(QgsProcessingParameterString(self.FIELD, "Presence field (empty: all features)", optional=True))
        self.add(QgsProcessingParameterString(self.DATE_FIELD, "Date field (for a temporal split)", optional=True))
        self.add(
            QgsProcessingParameterString(
                self.SPLIT_DATE,
                "Split date: landslides on or after it are held out (YYYY-MM-DD or year)",
                optional=True,
            )
        )
        self.add(
            QgsProcessingParameterString(
                self.SPLIT_FIELD, "Split field: features whose value is 'test' are held out", optional=True
            )
        )
        self.add(
            QgsProcessingParameterVectorLayer(
                self.AREA,
                "Held-out area (polygons never used in training)",
                [VECTOR_POLYGON],
                optional=True,
            )
        )
        self.add(
            QgsProcessingParameterVectorLayer(
                self.UNITS, "Mapping units (slope units, catchments)", [VECTOR_POLYGON], optional=True
            )
        )
        self.add(QgsProcessingParameterEnum(self.STAT, "Unit statistic", list(STATISTICS), defaultValue=0))
        self.add(
            QgsProcessingParameterString(
                self.THRESHOLDS, "Zone thresholds (4 ascending values; empty: equal-area zones)", optional=True
            )
        )
        self.add(QgsProcessingParameterNumber(self.SEED, "Bootstrap seed", defaultValue=0), advanced=True)
        self.add(QgsProcessingParameterFileDestination(self.OUTPUT, "Evaluation report", "HTML files (*.html)"))
        self.add(
            QgsProcessingParameterFileDestination(
                self.CURVES, "Rate curves (CSV)", "CSV files (*.csv)", optional=True, createByDefault=False
            )
        )
        self.add(
            QgsProcessingParameterFileDestination(
                self.ZONES, "Zone densities (CSV)", "CSV files (*.csv)", optional=True, createByDefault=False
            )
        )

    def _sets(self, parameters, context, crs, progress, fit_on_all: bool = False) -> tuple[list[LandslideSet], list]:
        """Landslide sets by date, split field or held-out area; polygons kept as polygons.

        ``fit_on_all``: the raster's model was refit on all samples (its metadata says so), so a
        sample layer's 'test' rows trained it too: they are evaluated as training landslides.
        """
        from qgis.core import QgsWkbTypes

        layer = self.parameterAsVectorLayer(parameters, self.INVENTORY, context)
        field = self.parameterAsString(parameters, self.FIELD, context).strip()
        date_field = self.parameterAsString(parameters, self.DATE_FIELD, context).strip()
        split_date = self.parameterAsString(parameters, self.SPLIT_DATE, context).strip()
        split_field = self.parameterAsString(parameters, self.SPLIT_FIELD, context).strip()
        for name in (field, date_field, split_field):
            if name and layer.fields().indexOf(name) < 0:
                raise InvalidInputError(
                    f"The inventory has no field '{name}'; its fields are {[f.name() for f in layer.fields()]}."
                )
        if bool(date_field) != bool(split_date):
            raise InvalidInputError("A temporal split needs both the date field and the split date.")
        geoms, feats = self.layer_geometries(parameters, context, self.INVENTORY, crs)
        polygons = QgsWkbTypes.geometryType(layer.wkbType()) == POLYGON_GEOMETRY
        groups: dict[bool, list] = {False: [], True: []}
        kept = [(g, f) for g, f in zip(geoms, feats) if not field or str(f[field]).strip().lower() in PRESENT]
        if date_field:
            split = split_by_date(
                [date_value(f[date_field]) for _, f in kept], split_date, [f"feature id {f.id()}" for _, f in kept]
            )
            progress.log(f"Dates read in '{date_field}': {split.describe()}.")
            held_flags = split.held
        elif split_field and fit_on_all:
            progress.log(
                f"Warning: this map's model was refit on all samples after cross-validation, so the features with "
                f"'{split_field}' = 'test' trained it too: they are not held out and their figures are success rates. "
                "The model's held-out skill is its cross-validated prediction rate (lsm_train's report); to measure "
                "prediction here, give landslides the model never saw (a later period or another area)."
            )
            held_flags = [False] * len(kept)
            split_field = ""
        elif split_field:
            held_flags = [str(f[split_field]).strip().lower() == "test" for _, f in kept]
            if not any(held_flags):
                raise InvalidInputError(
                    f"No feature has '{split_field}' = 'test': nothing is held out. Give the field that marks "
                    "held-out landslides with the value 'test' (as lsm_sample_absences writes it), or leave the "
                    "split field empty."
                )
        else:
            held_flags = [False] * len(kept)
        for (g, _), held in zip(kept, held_flags):
            groups[held].append(g)
        if not groups[False] and not groups[True]:
            raise InvalidInputError("No landslide feature to evaluate (empty inventory, or no feature is present).")
        area, _ = self.layer_geometries(parameters, context, self.AREA, crs)
        if date_field:
            names = {False: f"before {split_date}", True: f"from {split_date} (held out)"}
        elif split_field:
            names = {False: "training (split != test)", True: "held out (split = test)"}
        elif area:
            names = {False: "training area", True: "held-out area"}
            groups[True] = list(groups[False])
        else:
            names = {False: "all landslides", True: ""}
        sets = []
        for held in (True, False):
            gs = groups[held]
            if not gs:
                continue
            if polygons:
                ls = LandslideSet(names[held], None, gs, held_out=held)
            else:
                pts = Points(np.array([g.x for g in gs]), np.array([g.y for g in gs]), {})
                ls = LandslideSet(names[held], pts, [], held_out=held)
            if area:
                ls.inside_area = held
            sets.append(ls)
        return sets, area

    def execute_engine(self, parameters, context, progress, feedback):
        raster = self.parameterAsRasterLayer(parameters, self.RASTER, context)
        crs = raster.crs()
        text = self.parameterAsString(parameters, self.THRESHOLDS, context).strip()
        breaks = None
        if text:
            try:
                breaks = validate_user_breaks([float(v) for v in text.split(",")])
            except ValueError as exc:
                raise InvalidInputError(
                    "Zone thresholds must be 4 comma-separated numbers, e.g. 0.2,0.4,0.6,0.8."
                ) from exc
        sets, area = self._sets(parameters, context, crs, progress, fit_on_all_samples(raster.source()))
        units, _ = self.layer_geometries(parameters, context, self.UNITS, crs)
        out = self.parameterAsFileOutput(parameters, self.OUTPUT, context)
        curves = self.parameterAsFileOutput(parameters, self.CURVES, context) or None
        zones = self.parameterAsFileOutput(parameters, self.ZONES, context) or None
        res = evaluate_map(
            raster.source(),
            sets,
            out,
            curves,
            zones,
            area or None,
            units or None,
            STATISTICS[self.parameterAsEnum(parameters, self.STAT, context)],
            breaks,
            self.parameterAsInt(parameters, self.SEED, context),
            progress,
        )
        for line in summary_lines(res):
            progress.log(line)
        publish_evaluation(self.NAME, res)
        result = {self.OUTPUT: out}
        if curves:
            result[self.CURVES] = curves
        if zones:
            result[self.ZONES] = zones
        return result
