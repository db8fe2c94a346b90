"""crack_tile: chip index layer (and optionally chip images) over an orthomosaic."""

from __future__ import annotations

from pathlib import Path

from qgis.core import QgsProcessingParameterFolderDestination, QgsProcessingParameterVectorDestination

from ..core.cracks.chips import iter_chips
from ..core.cracks.predict import write_chip_layer
from ..core.errors import InvalidInputError
from ..core.progress import check
from ..core.raster.grid import Grid
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
        spec = self.chip_spec(self, parameters, context)
        folder = self.parameterAsString(parameters, self.IMAGES, context) if parameters.get(self.IMAGES) else ""
        chips = []
        for chip, rgb in iter_chips(src, spec):
            check(progress)
            chips.append(chip)
            if folder:
                from PIL import Image

                Path(folder).mkdir(parents=True, exist_ok=True)
                Image.fromarray(rgb.transpose(1, 2, 0)).save(Path(folder) / f"chip_r{chip.row:04d}_c{chip.col:04d}.png")
        if not chips:
            raise InvalidInputError("No chip has enough valid pixels: the area is all nodata.")
        out = self.parameterAsOutputLayer(parameters, self.OUTPUT, context)
        if not out.lower().endswith(".gpkg"):
            out = out.rsplit(".", 1)[0] + ".gpkg"
        write_chip_layer(out, Grid.from_path(src), chips, probability=False)
        progress.log(f"{len(chips)} chips")
        return {self.OUTPUT: out, self.IMAGES: folder}
