"""lsm_sample_absences: the paper's three absence strategies and a (spatial-block) train/test split."""

from __future__ import annotations

from qgis.core import (
    QgsProcessingParameterEnum,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterLayer,
    QgsProcessingParameterString,
    QgsProcessingParameterVectorDestination,
)

from ..core.sampling.absences import SamplingConfig, SplitMethod, Strategy, sample_absences, write_samples
from .base import LandslideAlgorithm
from .qgis_enums import DOUBLE, VECTOR_POINT

STRATEGIES = [Strategy.BUFFER, Strategy.SLOPE, Strategy.CF]
SPLITS = [SplitMethod.SPATIAL_BLOCKS, SplitMethod.RANDOM]


class SampleAbsencesAlgorithm(LandslideAlgorithm):
    """Landslide + absence sample points with a label and a split field."""

    NAME = "lsm_sample_absences"
    DISPLAY = "Sample absences (non-landslide points)"
    GROUP = "sample"
    (
        STACK,
        INVENTORY,
        FIELD,
        STRATEGY,
        CF_ZONING,
        RATIO,
        BUFFER,
        SLOPE_MAX,
        SLOPE_BAND,
        SPACING,
        SPLIT,
        TEST_FRACTION,
        BLOCK,
        SEED,
        OUTPUT,
    ) = (
        "STACK",
        "INVENTORY",
        "PRESENCE_FIELD",
        "STRATEGY",
        "CF_ZONING",
        "RATIO",
        "BUFFER_M",
        "SLOPE_MAX_DEG",
        "SLOPE_FACTOR",
        "MIN_SPACING_M",
        "SPLIT",
        "TEST_FRACTION",
        "BLOCK_SIZE_M",
        "SEED",
        "OUTPUT",
    )

    def initAlgorithm(self, config=None):
        d = SamplingConfig()
        self.add(QgsProcessingParameterRasterLayer(self.STACK, "Factor stack"))
        self.add_inventory_params()
        self.add(
            QgsProcessingParameterEnum(
                self.STRATEGY,
                "Strategy",
                [
                    "(a) outside a buffer around landslides",
                    "(b) slope below a threshold",
                    "(c) certainty-factor zones 1-2",
                ],
                defaultValue=2,
            )
        )
        self.add(
            QgsProcessingParameterRasterLayer(self.CF_ZONING, "CF zoning (strategy c, from lsm_cf_map)", optional=True)
        )
        self.add(QgsProcessingParameterNumber(self.RATIO, "Absences per landslide", DOUBLE, d.ratio, minValue=0.1))
        self.add(
            QgsProcessingParameterNumber(
                self.BUFFER,
                "Buffer distance (m, strategy a)",
                DOUBLE,
                d.buffer_m,
                minValue=0,
            )
        )
        self.add(
            QgsProcessingParameterNumber(
                self.SLOPE_MAX,
                "Slope threshold (degrees, strategy b)",
                DOUBLE,
                d.slope_max_deg,
                minValue=0,
            )
        )
        self.add(QgsProcessingParameterString(self.SLOPE_BAND, "Slope factor name (strategy b)", d.slope_band))
        self.add(QgsProcessingParameterNumber(self.SPACING, "Minimum spacing (m)", DOUBLE, d.min_spacing_m, minValue=0))
        self.add(
            QgsProcessingParameterEnum(
                self.SPLIT, "Train/test split", ["Spatial blocks", "Random (stratified)"], defaultValue=0
            )
        )
        self.add(
            QgsProcessingParameterNumber(
                self.TEST_FRACTION,
                "Test fraction",
                DOUBLE,
                d.test_fraction,
                minValue=0.05,
                maxValue=0.9,
            )
        )
        self.add(QgsProcessingParameterNumber(self.BLOCK, "Spatial block size (m)", DOUBLE, d.block_size_m, minValue=1))
        self.add(QgsProcessingParameterNumber(self.SEED, "Random seed", defaultValue=d.seed))
        self.add(QgsProcessingParameterVectorDestination(self.OUTPUT, "Samples", VECTOR_POINT))

    def execute_engine(self, parameters, context, progress, feedback):
        stack = self.parameterAsRasterLayer(parameters, self.STACK, context)
        pts = self.inventory_points(parameters, context, stack.crs())
        cfg = SamplingConfig(
            strategy=STRATEGIES[self.parameterAsEnum(parameters, self.STRATEGY, context)],
            ratio=self.parameterAsDouble(parameters, self.RATIO, context),
            buffer_m=self.parameterAsDouble(parameters, self.BUFFER, context),
            slope_max_deg=self.parameterAsDouble(parameters, self.SLOPE_MAX, context),
            slope_band=self.parameterAsString(parameters, self.SLOPE_BAND, context),
            min_spacing_m=self.parameterAsDouble(parameters, self.SPACING, context),
            split=SPLITS[self.parameterAsEnum(parameters, self.SPLIT, context)],
            test_fraction=self.parameterAsDouble(parameters, self.TEST_FRACTION, context),
            block_size_m=self.parameterAsDouble(parameters, self.BLOCK, context),
            seed=self.parameterAsInt(parameters, self.SEED, context),
        )
        zl = self.parameterAsRasterLayer(parameters, self.CF_ZONING, context)
        s = sample_absences(stack.source(), pts, cfg, zl.source() if zl else None, progress=progress)
        out = self.parameterAsOutputLayer(parameters, self.OUTPUT, context)
        if not out.lower().endswith((".gpkg", ".shp")):
            out = out.rsplit(".", 1)[0] + ".gpkg"
        write_samples(s, stack.crs().toWkt(), out, cfg.strategy.value)
        progress.log(
            f"{int(s.label.sum())} landslides, {int((s.label == 0).sum())} absences; "
            f"test {int(s.is_test.sum())} of {s.label.size} ({cfg.split.value})"
        )
        from .styling import samples_qml

        self.style(context, out, samples_qml(), "Samples (landslides and absences)")
        return {self.OUTPUT: out}
