"""lsm_derive_terrain: slope, aspect, plan curvature and TWI from a DEM; distances to vector features."""

from __future__ import annotations

from pathlib import Path

from qgis.core import (
    QgsProcessingOutputMultipleLayers,
    QgsProcessingParameterFolderDestination,
    QgsProcessingParameterMultipleLayers,
    QgsProcessingParameterRasterLayer,
)

from ..core.progress import SubProgress
from ..core.terrain.derive import TERRAIN_FACTORS, derive_terrain, distance_to_features
from .base import LandslideAlgorithm
from .qgis_enums import VECTOR_ANY


def distance_file_name(layer_name: str) -> str:
    """File name of the distance raster to a vector layer (spaces and path separators replaced)."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in layer_name)
    return f"dist_{safe}.tif"


class DeriveTerrainAlgorithm(LandslideAlgorithm):
    """Terrain factors from a DEM and distance-to-feature factors from vector layers."""

    NAME = "lsm_derive_terrain"
    DISPLAY = "Derive terrain and distance factors"
    GROUP = "prepare"
    REQUIRES = ("rasterio",)
    OPTIONAL = ("pysheds",)
    DEM, VECTORS, OUTPUT_FOLDER, OUTPUT_LAYERS = "DEM", "VECTORS", "OUTPUT_FOLDER", "OUTPUT_LAYERS"

    def initAlgorithm(self, config=None):
        self.add(QgsProcessingParameterRasterLayer(self.DEM, "DEM (projected CRS, metres)"))
        self.add(
            QgsProcessingParameterMultipleLayers(
                self.VECTORS,
                "Vector layers to measure distances to (roads, rivers)",
                VECTOR_ANY,
                optional=True,
            )
        )
        self.add(QgsProcessingParameterFolderDestination(self.OUTPUT_FOLDER, "Output folder"))
        self.addOutput(QgsProcessingOutputMultipleLayers(self.OUTPUT_LAYERS, "Factor rasters"))

    def planned_files(self, parameters, context) -> dict[str, list[str]]:
        """The derivatives' file names, so that a DEM or a user's file of that name is refused before work."""
        names = [f"{k}.tif" for k in TERRAIN_FACTORS]
        names += [
            distance_file_name(lyr.name()) for lyr in self.parameterAsLayerList(parameters, self.VECTORS, context)
        ]
        return {self.OUTPUT_FOLDER: names}

    def execute_engine(self, parameters, context, progress, feedback):
        dem = self.parameterAsRasterLayer(parameters, self.DEM, context).source()
        vectors = self.parameterAsLayerList(parameters, self.VECTORS, context)
        out = self.parameterAsString(parameters, self.OUTPUT_FOLDER, context)
        paths = derive_terrain(dem, out, SubProgress(progress, 0, 0.7))
        for i, lyr in enumerate(vectors):
            p = str(Path(out) / distance_file_name(lyr.name()))
            distance_to_features(self.layer_file(lyr, context, f"vector_{i}"), dem, p)
            paths[f"dist_{lyr.name()}"] = p
            progress.report(0.7 + 0.3 * (i + 1) / max(1, len(vectors)), f"distance to {lyr.name()}")
        for k, p in paths.items():
            self.load_on_completion(p, k)
        return {self.OUTPUT_FOLDER: out, self.OUTPUT_LAYERS: list(paths.values())}
