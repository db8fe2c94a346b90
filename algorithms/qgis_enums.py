"""QGIS enum values that work from QGIS 3.22 to QGIS 4.

Why: QGIS 3.36 moved the Processing enums into the ``Qgis`` namespace (``Qgis.ProcessingSourceType``,
``Qgis.ProcessingNumberParameterType``, ...) and 3.30 moved ``QgsWkbTypes.GeometryType`` to
``Qgis.GeometryType``; QGIS 4 drops the old spellings (``QgsProcessing`` + ``.TypeVectorPoint``,
``QgsProcessingParameterNumber`` + ``.Double``, ...), while 3.22, the oldest version we support, has
only them. Each name here is the new enum where this QGIS has it, else the old one; the algorithms use
these names only (``test_qgis_enums`` refuses the old spellings anywhere else).
"""

from __future__ import annotations

from typing import Any

from qgis.core import Qgis, QgsProcessing, QgsProcessingParameterFile, QgsProcessingParameterNumber, QgsWkbTypes


def _enum(new: str, old_owner: Any, old_name: str) -> Any:
    """``Qgis.<new>`` when this QGIS has it, else ``old_owner.<old_name>`` (read only then)."""
    obj: Any = Qgis
    for part in new.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            return getattr(old_owner, old_name)
    return obj


VECTOR_POINT = _enum("ProcessingSourceType.VectorPoint", QgsProcessing, "TypeVectorPoint")
VECTOR_POLYGON = _enum("ProcessingSourceType.VectorPolygon", QgsProcessing, "TypeVectorPolygon")
VECTOR_ANY = _enum("ProcessingSourceType.VectorAnyGeometry", QgsProcessing, "TypeVectorAnyGeometry")
RASTER = _enum("ProcessingSourceType.Raster", QgsProcessing, "TypeRaster")
FILE_SOURCE = _enum("ProcessingSourceType.File", QgsProcessing, "TypeFile")
DOUBLE = _enum("ProcessingNumberParameterType.Double", QgsProcessingParameterNumber, "Double")
FOLDER = _enum("ProcessingFileParameterBehavior.Folder", QgsProcessingParameterFile, "Folder")
POLYGON_GEOMETRY = _enum("GeometryType.Polygon", QgsWkbTypes, "PolygonGeometry")
