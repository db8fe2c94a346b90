"""Reading vector parameters the same way in every algorithm (a mixin of LandslideAlgorithm).

Why one place: landslide inventories, mapping units and chip layers come from any provider
(GeoPackage layers, shapefiles, PostGIS, memory layers, filtered layers); the QGIS API reads them
all, and the engine either receives plain coordinates/geometries or a file that holds exactly the
features QGIS shows.
"""

from __future__ import annotations

from pathlib import Path

from ..core.errors import InvalidInputError
from ..core.sampling.points import Points
from .mixin_base import AlgorithmMixin
from .qgis_enums import VECTOR_POINT

#: presence-field values that mean "a landslide" (compared lower-case, trimmed)
PRESENT = frozenset({"1", "1.0", "true", "t", "yes", "y"})


class LayerReading(AlgorithmMixin):
    """Vector parameters as points, geometries or a readable file."""

    def add_inventory_params(self, label: str = "Landslide inventory (points)", optional: bool = False) -> None:
        """The landslide point layer (``INVENTORY``) and its optional presence field (``PRESENCE_FIELD``)."""
        from qgis.core import QgsProcessingParameterString, QgsProcessingParameterVectorLayer

        self.add(QgsProcessingParameterVectorLayer("INVENTORY", label, [VECTOR_POINT], optional=optional))
        self.add(
            QgsProcessingParameterString(
                "PRESENCE_FIELD",
                "Presence field (keep features where it is 1; empty: all)",
                optional=True,
                defaultValue="",
            )
        )

    def inventory_points(
        self, parameters, context, crs, param: str = "INVENTORY", field_param: str = "PRESENCE_FIELD"
    ) -> Points | None:
        """Landslide points of a vector parameter, in ``crs`` (a ``QgsCoordinateReferenceSystem``).

        Read through the QGIS API so that any provider works (GeoPackage, shapefile, PostGIS,
        memory layers, selections); an optional presence field keeps features where it equals 1.
        """
        import numpy as np
        from qgis.core import QgsCoordinateTransform, QgsFeatureRequest

        layer = self.parameterAsVectorLayer(parameters, param, context)
        if layer is None:
            return None
        field = self.parameterAsString(parameters, field_param, context) if field_param in parameters else ""
        request = QgsFeatureRequest()
        if field:
            if layer.fields().indexOf(field) < 0:
                names = [f.name() for f in layer.fields()]
                raise InvalidInputError(f"The inventory has no field '{field}'; its fields are {names}.")
            idx = layer.fields().indexOf(field)
            values = {str(v).strip().lower() for v in layer.uniqueValues(idx)}
            if not values & PRESENT:
                shown = sorted(values)[:8]
                raise InvalidInputError(
                    f"The presence field '{field}' holds no value meaning 'landslide' ({', '.join(sorted(PRESENT))}); "
                    f"its values are {shown}. Recode it, or leave the field empty to use every feature."
                )
            quoted = ", ".join(f"'{v}'" for v in sorted(PRESENT))
            request.setFilterExpression(f'lower(trim(to_string("{field}"))) IN ({quoted})')
        xform = QgsCoordinateTransform(layer.crs(), crs, context.transformContext())
        xs, ys = [], []
        for feat in layer.getFeatures(request):
            geom = feat.geometry()
            if geom.isEmpty():
                continue
            pt = xform.transform(geom.centroid().asPoint())
            xs.append(pt.x())
            ys.append(pt.y())
        if not xs:
            raise InvalidInputError(
                f"The inventory '{layer.name()}' has no landslide feature"
                + (f" with '{field}' meaning present" if field else "")
                + " (it is empty, or every geometry is empty)."
            )
        return Points(np.asarray(xs, float), np.asarray(ys, float), {})

    def vector_file(self, parameters, context, param: str) -> str:
        """An OGR-readable file holding exactly the features QGIS shows for a vector parameter.

        Why: engine functions read files, and ``source().split("|")[0]`` silently drops a
        GeoPackage's layer name and any subset filter (a user's "split = 'train'" filter, the
        second layer of a file) or fails on memory and database layers. A plain single-layer file
        is passed as it is; anything else is written to a temporary GeoPackage first.
        """
        return self.layer_file(self.parameterAsVectorLayer(parameters, param, context), context, param.lower())

    def layer_file(self, layer, context, stem: str = "layer") -> str:
        """:meth:`vector_file` for a layer object (e.g. one of a multiple-layers parameter)."""
        from osgeo import ogr
        from qgis.core import QgsProcessingUtils, QgsVectorFileWriter

        src = layer.source()
        path = src.split("|")[0]
        plain = layer.providerType() == "ogr" and not layer.subsetString() and Path(path).is_file()
        if plain and "|" in src:
            ds = ogr.Open(path)
            plain = ds is not None and ds.GetLayerCount() == 1
        if plain:
            return path
        out = QgsProcessingUtils.generateTempFilename(f"{stem}.gpkg")
        opts = QgsVectorFileWriter.SaveVectorOptions()
        opts.driverName = "GPKG"
        err = QgsVectorFileWriter.writeAsVectorFormatV3(layer, out, context.transformContext(), opts)
        if err[0] != QgsVectorFileWriter.NoError:
            raise InvalidInputError(f"Cannot read the layer '{layer.name()}' ({err[1]}).")
        return out

    def layer_geometries(self, parameters, context, param: str, crs) -> tuple[list, list]:
        """Shapely geometries of a vector parameter in ``crs`` (QGIS API: any provider) and the features.

        Empty or null geometries are skipped (their features too), so both lists align.
        """
        from qgis.core import QgsCoordinateTransform
        from shapely import wkb

        layer = self.parameterAsVectorLayer(parameters, param, context)
        if layer is None:
            return [], []
        xform = QgsCoordinateTransform(layer.crs(), crs, context.transformContext())
        geoms, feats = [], []
        for f in layer.getFeatures():
            g = f.geometry()
            if g.isNull() or g.isEmpty():
                continue
            g.transform(xform)
            geoms.append(wkb.loads(bytes(g.asWkb())))
            feats.append(f)
        return geoms, feats


def date_value(value) -> object:
    """A date attribute as Python: QDate/QDateTime -> ``datetime.date``, NULL -> None, others unchanged.

    Why: the engine (``core.dates``) parses dates without QGIS; it must see real dates, not their
    text, and NULL as missing rather than the string 'NULL'.
    """
    if value is None or (hasattr(value, "isNull") and not hasattr(value, "isValid") and value.isNull()):
        return None
    if hasattr(value, "toString") and hasattr(value, "isValid"):
        if not value.isValid():
            return None
        if hasattr(value, "date"):
            value = value.date()
        return value.toPyDate()
    return value
