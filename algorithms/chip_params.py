"""Chip-grid parameters shared by the orthomosaic algorithms (crack_tile, crack_predict, crack_gradcam)."""

from __future__ import annotations

from qgis.core import QgsProcessingParameterNumber, QgsProcessingParameterRasterLayer, QgsProcessingParameterString

from ..core.cracks.chips import AUTO_ALPHA, ChipSpec
from ..core.errors import InvalidInputError
from .base import LandslideAlgorithm
from .mixin_base import AlgorithmMixin
from .qgis_enums import DOUBLE


class ChipParams(AlgorithmMixin):
    """Chip-grid parameters shared by the orthomosaic algorithms."""

    INPUT, RGB, ALPHA, CHIP, STRIDE, MIN_VALID = "INPUT", "RGB_BANDS", "ALPHA_BAND", "CHIP_PX", "STRIDE_PX", "MIN_VALID"

    def add_chip_params(self, alg: LandslideAlgorithm, stride_default: int) -> None:
        alg.add(QgsProcessingParameterRasterLayer(self.INPUT, "Orthomosaic (8-bit RGB, projected CRS)"))
        alg.add(QgsProcessingParameterString(self.RGB, "Bands mapped to R,G,B", "1,2,3"))
        alg.add(
            QgsProcessingParameterNumber(
                self.ALPHA,
                "Alpha band (-1 = the band declared alpha, 0 = none; alpha 0 is nodata)",
                defaultValue=AUTO_ALPHA,
                minValue=AUTO_ALPHA,
            )
        )
        alg.add(QgsProcessingParameterNumber(self.CHIP, "Chip size (px)", defaultValue=227, minValue=8))
        alg.add(
            QgsProcessingParameterNumber(
                self.STRIDE, "Stride (px; smaller than the chip = overlap)", defaultValue=stride_default, minValue=1
            )
        )
        alg.add(
            QgsProcessingParameterNumber(
                self.MIN_VALID,
                "Minimum valid fraction of a chip",
                DOUBLE,
                0.5,
                minValue=0.0,
                maxValue=1.0,
            )
        )

    def chip_spec(self, alg, parameters, context) -> ChipSpec:
        try:
            rgb = tuple(int(b) for b in alg.parameterAsString(parameters, self.RGB, context).split(","))
        except ValueError as exc:
            raise InvalidInputError("RGB bands must be three comma-separated band numbers, e.g. 1,2,3.") from exc
        if len(rgb) != 3:
            raise InvalidInputError("RGB bands must be exactly three band numbers, e.g. 1,2,3.")
        return ChipSpec(
            alg.parameterAsInt(parameters, self.CHIP, context),
            alg.parameterAsInt(parameters, self.STRIDE, context),
            rgb,
            alg.parameterAsInt(parameters, self.ALPHA, context),
            alg.parameterAsDouble(parameters, self.MIN_VALID, context),
        )
