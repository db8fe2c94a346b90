"""The map tool of the field loop: click chips on the canvas to label them crack / crack-free.

Left click: crack (1). Right click: crack-free (0). Shift + click: clear the label. The tool
works on the active polygon layer (a chip layer from crack_tile, crack_predict or crack_adapt),
adds the integer field ``label`` when it is missing, and keeps the layer in edit mode so the user
saves (or discards) the labels as with any edit. Then ``crack_adapt`` adapts the model to them.

Why a map tool and not a form: the chips are judged by looking at the orthomosaic under them, at
full resolution on the canvas; one click per chip keeps labelling at the pace of looking.
"""

from __future__ import annotations

from qgis.core import QgsFeatureRequest, QgsField, QgsGeometry, QgsVectorLayer
from qgis.gui import QgsMapTool
from qgis.PyQt.QtCore import QMetaType, Qt, QVariant

from ..algorithms.qgis_enums import POLYGON_GEOMETRY

#: QVariant's type on QGIS 3 (QgsField takes it up to 3.36), QMetaType's on QGIS 4 / PyQt6
_INT = getattr(QVariant, "Int", None) or QMetaType.Type.Int

LABEL_FIELD = "label"
NAMES = {1: "crack", 0: "crack-free", None: "unlabelled"}


def ensure_label_field(layer: QgsVectorLayer, name: str = LABEL_FIELD) -> int:
    """The index of the label field, added (integer) when missing; the layer is left in edit mode."""
    if not layer.isEditable():
        layer.startEditing()
    idx = layer.fields().indexOf(name)
    if idx < 0:
        layer.addAttribute(QgsField(name, _INT))
        layer.updateFields()
        idx = layer.fields().indexOf(name)
    return idx


def label_at(layer: QgsVectorLayer, point, value: int | None, name: str = LABEL_FIELD) -> int | None:
    """Set the label of the chip under ``point`` (layer CRS); returns its feature id (None: no chip there)."""
    rect = QgsGeometry.fromPointXY(point).boundingBox()
    req = QgsFeatureRequest().setFilterRect(rect).setNoAttributes()
    hit = None
    for f in layer.getFeatures(req):
        if f.geometry().contains(QgsGeometry.fromPointXY(point)):
            hit = f.id()
            break
    if hit is None:
        return None
    idx = ensure_label_field(layer, name)
    layer.changeAttributeValue(hit, idx, value)
    return hit


class ChipLabelTool(QgsMapTool):
    """Left click: crack, right click: crack-free, Shift + click: clear; on the active chip layer."""

    def __init__(self, canvas, iface=None) -> None:
        super().__init__(canvas)
        self.iface = iface
        self.setCursor(Qt.CursorShape.CrossCursor)

    def _layer(self) -> QgsVectorLayer | None:
        layer = self.iface.activeLayer() if self.iface is not None else self.canvas().currentLayer()
        if isinstance(layer, QgsVectorLayer) and layer.geometryType() == POLYGON_GEOMETRY:
            return layer
        return None

    def canvasReleaseEvent(self, event) -> None:
        """Label the chip under the click."""
        layer = self._layer()
        if layer is None:
            self._say(
                "Select a chip layer (polygons from crack_tile, crack_predict or crack_adapt) in the Layers panel."
            )
            return
        if event.modifiers() & Qt.KeyboardModifier.ShiftModifier:
            value = None
        else:
            value = 0 if event.button() == Qt.MouseButton.RightButton else 1
        point = self.toLayerCoordinates(layer, event.mapPoint())
        fid = label_at(layer, point, value)
        if fid is None:
            self._say("No chip under the click.")
            return
        layer.triggerRepaint()
        self._say(
            f"Chip {fid}: {NAMES[value]}. Save the layer's edits, then run 'Adapt the crack model to labelled chips'."
        )

    def _say(self, text: str) -> None:
        if self.iface is not None:
            self.iface.messageBar().pushInfo("Landslide AI", text)
