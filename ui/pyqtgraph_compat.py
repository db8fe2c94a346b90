"""Make pyqtgraph items removable inside QGIS.

Why: QGIS's Python bindings change how a null ``QVariant`` converts (QGIS maps it to its ``NULL``),
so when pyqtgraph removes an item from a plot (``clear()``, ``removeItem()``), the
``ItemSceneChange`` / ``ItemParentChange`` notification carrying a null scene or parent cannot
be converted back and PyQt prints "TypeError: unable to convert a QVariant back to a Python
object" for every removed item (reproduced with pyqtgraph 0.13.1 in QGIS 3.22, not in plain
PyQt5; pyqtgraph issue #774). For exactly those two notifications the value is "no scene" /
"no parent" and Qt only needs a null pointer back, which ``None`` converts to. Everything else
goes through pyqtgraph unchanged, and other errors still raise.

The dock also draws its wide (2 px) curves antialiased: pyqtgraph 0.13.1 draws wide, solid,
non-antialiased pens as line segments and raises in ``paint`` for a curve of one point (the first
epoch), which QGIS logs as a Python warning on every repaint.
"""

from __future__ import annotations

from pyqtgraph.graphicsItems.GraphicsObject import GraphicsObject
from qgis.PyQt.QtWidgets import QGraphicsItem

_NULLABLE = (QGraphicsItem.GraphicsItemChange.ItemSceneChange, QGraphicsItem.GraphicsItemChange.ItemParentChange)


def install() -> None:
    """Wrap ``GraphicsObject.itemChange`` once per process (idempotent); silence one foreign warning.

    pyqtgraph's exit clean-up walks every live object with ``isinstance``, which touches torch's
    deprecated ``torch.distributed.reduce_op`` and makes QGIS log a FutureWarning that is neither
    ours nor the user's to act on; only that message is filtered.
    """
    import warnings

    warnings.filterwarnings("ignore", message=r".*torch\.distributed\.reduce_op", category=FutureWarning)
    original = GraphicsObject.itemChange
    if getattr(original, "_landslide_ai_compat", False):
        return

    def item_change(self, change, value):
        try:
            return original(self, change, value)
        except TypeError:
            if change in _NULLABLE:
                return None  # null scene / parent: the item is being removed
            raise

    item_change._landslide_ai_compat = True
    GraphicsObject.itemChange = item_change
