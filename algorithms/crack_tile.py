"""crack_tile: chip index layer (and optionally chip images) over an orthomosaic."""

from __future__ import annotations

from qgis.core import QgsProcessingParameterFolderDestination, QgsProcessingParameterVectorDestination

from ..core.cracks.chips import tile_orthomosaic
from .base import LandslideAlgorithm
from .chip_params import ChipParams


class CrackTileAlgorithm(LandslideAlgorithm, ChipParams):
    """Chip index layer (and optionally chip images) over an orthomosaic."""

    NAME = "crack_tile"
    DISPLAY = "Tile orthomosaic into chips"
    GROUP = "cracks"
    OUTPUT, IMAGES = "OUTPUT", "IMAGE_FOLDER"

    def initAlgorithm(self, config=None):
        self.add_chip_params(self, 227)
        self.add(QgsProcessingParameterVectorDestination(self.OUTPUT, "Chip index"))
        self.add(
            QgsProcessingParameterFolderDestination(
                self.IMAGES, "Chip images (for labelling)", optional=True, createByDefault=False
            )
        )

    def execute_engine(self, parameters, context, progress, feedback):
        src = self.parameterAsRasterLayer(parameters, self.INPUT, context).source()
        folder = self.parameterAsString(parameters, self.IMAGES, context) if parameters.get(self.IMAGES) else ""
        out = self.parameterAsOutputLayer(parameters, self.OUTPUT, context)
        if not out.lower().endswith(".gpkg"):
            out = out.rsplit(".", 1)[0] + ".gpkg"
        tile_orthomosaic(src, self.chip_spec(self, parameters, context), out, folder or None, progress)
        return {self.OUTPUT: out, self.IMAGES: folder}
