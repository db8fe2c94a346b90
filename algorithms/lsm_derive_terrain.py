"""lsm_derive_terrain: slope, aspect, plan curvature and TWI from a DEM; distances to vector features."""

from __future__ import annotations

from pathlib import Path

from qgis.core import (
    QgsProcessing,
    QgsProcessingContext,
    QgsProcessingOutputMultipleLayers,
    QgsProcessingParameterFolderDestination,
    QgsProcessingParameterMultipleLayers,
    QgsProcessingParameterRasterLayer,
)

from ..core.progress import SubProgress
from ..core.terrain.derive import derive_terrain, distance_to_features
from .base import LandslideAlgorithm


class DeriveTerrainAlgorithm(LandslideAlgorithm):
    """Terrain factors from a DEM and distance-to-feature factors from vector layers."""

    NAME = "lsm_derive_terrain"
    DISPLAY = "Derive terrain and distance factors"
    GROUP = "prepare"
    REQUIRES = ("rasterio", "pysheds")
    DEM, VECTORS, OUTPUT_FOLDER, OUTPUT_LAYERS = "DEM", "VECTORS", "OUTPUT_FOLDER", "OUTPUT_LAYERS"

    def initAlgorithm(self, config=None):  # noqa: D102
        self.add(QgsProcessingParameterRasterLayer(self.DEM, "DEM (projected CRS, metres)"))
        self.add(
            QgsProcessingParameterMultipleLayers(
                self.VECTORS,
                "Vector layers to measure distances to (roads, rivers)",
                QgsProcessing.TypeVectorAnyGeometry,
                optional=True,
            )
        )
        self.add(QgsProcessingParameterFolderDestination(self.OUTPUT_FOLDER, "Output folder"))
        self.addOutput(QgsProcessingOutputMultipleLayers(self.OUTPUT_LAYERS, "Factor rasters"))

    def execute_engine(self, parameters, context, progress, feedback):  # noqa: D102
        dem = self.parameterAsRasterLayer(parameters, self.DEM, context).source()
        vectors = self.parameterAsLayerList(parameters, self.VECTORS, context)
        out = self.parameterAsString(parameters, self.OUTPUT_FOLDER, context)
        paths = derive_terrain(dem, out, SubProgress(progress, 0, 0.7))
        for i, lyr in enumerate(vectors):
            p = str(Path(out) / f"dist_{lyr.name().replace(' ', '_')}.tif")
            src = lyr.source().split("|")[0]
            layer_name = None
            if "|layername=" in lyr.source():
                layer_name = lyr.source().split("|layername=")[1].split("|")[0]
            distance_to_features(src, dem, p, layer_name)
            paths[f"dist_{lyr.name()}"] = p
            progress.report(0.7 + 0.3 * (i + 1) / max(1, len(vectors)), f"distance to {lyr.name()}")
        for k, p in paths.items():
            context.addLayerToLoadOnCompletion(p, QgsProcessingContext.LayerDetails(k, context.project(), k))
        return {self.OUTPUT_FOLDER: out, self.OUTPUT_LAYERS: list(paths.values())}
