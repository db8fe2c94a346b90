"""Outputs of every algorithm: no input overwritten, all outputs published or none, styles after.

Why a mixin of its own: ``processAlgorithm`` (in ``base.py``) runs every algorithm through one
``core.outputs.OutputTransaction``; what the transaction must know about a run (the files it reads,
the outputs it declares, the styles and layers to apply once published) is read from the
algorithm's parameters here.
"""

from __future__ import annotations

import shutil

from qgis.core import (
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingParameterFeatureSink,
    QgsProcessingParameterFile,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterFolderDestination,
    QgsProcessingParameterMultipleLayers,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterVectorDestination,
)

from ..core.outputs import OutputTransaction
from .mixin_base import AlgorithmMixin
from .qgis_enums import FILE_SOURCE

#: free bytes below which an unexplained failure while writing is reported as a full disk.
_LOW_SPACE = 32 * 2**20


def _is_provider_uri(path: str) -> bool:
    """A destination that is not a plain file (memory layer, database connection, ogr: URI)."""
    return path.startswith(("memory:", "postgres:", "postgresql:", "ogr:", "spatialite:", "dbname=")) or "|" in path


def low_space_folder(tx: OutputTransaction) -> str | None:
    """The output folder whose disk is (nearly) full, if any: the likely cause of a failed write."""
    for o in tx.outputs:
        folder = o.staging or o.final.parent
        try:
            if shutil.disk_usage(folder).free < _LOW_SPACE:
                return str(o.final)
        except OSError:
            continue
    return None


class OutputGuard(AlgorithmMixin):
    """Inputs, declared outputs, styles and layers to load of a run (mixed into LandslideAlgorithm)."""

    def planned_files(self, parameters, context) -> dict[str, list[str]]:
        """File names an algorithm knows it will write into each output folder (checked before work)."""
        return {}

    def _input_paths(self, parameters, context) -> list[str]:
        """Every file or folder the run reads, from its input parameters (layers by their source)."""
        paths: list[str] = []
        for p in self.parameterDefinitions():
            if p.isDestination() or parameters.get(p.name()) in (None, ""):
                continue
            if isinstance(p, QgsProcessingParameterFile):
                paths.append(self.parameterAsFile(parameters, p.name(), context))
            elif isinstance(p, QgsProcessingParameterMultipleLayers):
                if p.layerType() == FILE_SOURCE:
                    paths += self.parameterAsFileList(parameters, p.name(), context)
                else:
                    paths += [lyr.source() for lyr in self.parameterAsLayerList(parameters, p.name(), context)]
            elif p.type() in ("raster", "vector", "layer", "source", "mesh", "pointcloud"):
                lyr = self.parameterAsLayer(parameters, p.name(), context)
                if lyr is not None:
                    paths.append(lyr.source())
        return [s for s in paths if s]  # OutputTransaction.add_input reduces sources and URIs to their file

    def _declare_outputs(self, parameters, context, tx: OutputTransaction) -> None:
        planned = self.planned_files(parameters, context)
        self._final_names: dict[str, str] = {}
        for p in self.destinationParameterDefinitions():
            name = p.name()
            value = parameters.get(name)
            if value is None or value == "":
                if p.flags() & p.FlagOptional and not (hasattr(p, "createByDefault") and p.createByDefault()):
                    continue
            if isinstance(p, QgsProcessingParameterFolderDestination):
                path = self.parameterAsFileOutput(parameters, name, context) or self.parameterAsString(
                    parameters, name, context
                )
                if path:
                    tx.add_folder(name, path, planned.get(name, ()))
            elif isinstance(
                p,
                QgsProcessingParameterRasterDestination
                | QgsProcessingParameterVectorDestination
                | QgsProcessingParameterFeatureSink,
            ):
                path = self.parameterAsOutputLayer(parameters, name, context)
                if path and _is_provider_uri(path):
                    raise QgsProcessingException(
                        f"{p.description()} ({name}) is set to a layer inside a database or a temporary layer "
                        f"('{path}'); this tool writes files. Choose 'Save to File…' with a new file name "
                        "(e.g. a .gpkg or .tif), then add it to a GeoPackage with 'Package layers' if needed."
                    )
                if path:
                    tx.add_file(name, path)
            elif isinstance(p, QgsProcessingParameterFileDestination):
                path = self.parameterAsFileOutput(parameters, name, context)
                if path:
                    tx.add_file(name, path)

    def style(self, context, path: str, qml: str, name: str | None = None) -> None:
        """Write the output's QML sidecar now (staged) and style the loaded layer after publishing."""
        from .styling import write_sidecar

        self._styles.append((path, write_sidecar(path, qml), name))

    def load_on_completion(self, path: str, name: str) -> None:
        """Load a (staged) output on the map once the run has published it."""
        self._loads.append((path, name))

    def _after_commit(self, context, tx: OutputTransaction) -> None:
        from .styling import QmlPostProcessor

        for path, name in self._loads:
            final = tx.final_path(path)
            context.addLayerToLoadOnCompletion(final, QgsProcessingContext.LayerDetails(name, context.project(), name))
        for path, qml, label in self._styles:
            final, final_qml = tx.final_path(path), tx.final_path(qml)
            if context.willLoadLayerOnCompletion(final):
                details = context.layerToLoadOnCompletionDetails(final)
                if label:
                    details.name = label
                details.setPostProcessor(QmlPostProcessor.create(final_qml))
