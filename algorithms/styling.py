"""QML styles for outputs: written beside each raster (so QGIS styles it wherever it is opened,
including after ``qgis_process``) and applied by a layer post-processor when the algorithm's
outputs are loaded on the canvas.
"""

from __future__ import annotations

from html import escape
from pathlib import Path

from qgis.core import QgsProcessingLayerPostProcessorInterface

from ..core.raster.io import write_text_atomic
from ..core.raster.zoning import ZONE_COLOURS_5, ZONE_LABELS_5

#: the plugin's resources folder (styles, help, icons, workflows); defined here, the lowest of the
#: adapter modules, so that ``base`` can import it without an import circle through ``output_guard``
RESOURCES = Path(__file__).resolve().parent.parent / "resources"

_HEAD = (
    "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n"
    '<qgis version="3.22" styleCategories="AllStyleCategories">\n<pipe>\n'
)
_TAIL = "</pipe>\n<blendMode>0</blendMode>\n</qgis>\n"


def zone_label(z: int, breaks: list[float] | None, prefix: str = "") -> str:
    """Legend label of zone ``z`` (1..5), with its thresholds when known ("Low (0.2 – 0.4)")."""
    label = ZONE_LABELS_5[z - 1]
    if breaks:
        lo = f"{breaks[z - 2]:.3g}" if z > 1 else "min"
        hi = f"{breaks[z - 1]:.3g}" if z < 5 else "max"
        label += f" ({prefix}{lo} – {hi})"
    return label


def zoning_qml(breaks: list[float] | None, title: str = "") -> str:
    """Paletted 5-class style whose legend labels carry the class thresholds."""
    entries = []
    for z in range(1, 6):
        label = zone_label(z, breaks)
        entries.append(
            f'<paletteEntry value="{z}" color="{ZONE_COLOURS_5[z - 1]}" label="{escape(label)}" alpha="255"/>'
        )
    return (
        _HEAD + '<rasterrenderer type="paletted" band="1" opacity="1" alphaBand="-1" nodataColor="">'
        "<rasterTransparency/><colorPalette>" + "".join(entries) + "</colorPalette></rasterrenderer>\n" + _TAIL
    )


def ramp_qml(stops: list[tuple[float, str, str, int]], vmin: float, vmax: float) -> str:
    """Single-band pseudocolour style from (value, colour, label, alpha) stops."""
    items = "".join(f'<item value="{v}" color="{c}" label="{escape(lab)}" alpha="{a}"/>' for v, c, lab, a in stops)
    return (
        _HEAD + f'<rasterrenderer type="singlebandpseudocolor" band="1" opacity="1" alphaBand="-1" '
        f'classificationMin="{vmin}" classificationMax="{vmax}"><rasterTransparency/><rastershader>'
        f'<colorrampshader colorRampType="INTERPOLATED" classificationMode="1" clip="0" '
        f'minimumValue="{vmin}" maximumValue="{vmax}">{items}</colorrampshader></rastershader>'
        "</rasterrenderer>\n" + _TAIL
    )


def susceptibility_qml() -> str:
    """Green-to-red probability ramp 0..1."""
    return ramp_qml(
        [
            (0.0, "#1a9641", "0.0 (low)", 255),
            (0.25, "#a6d96a", "0.25", 255),
            (0.5, "#ffffbf", "0.5", 255),
            (0.75, "#fdae61", "0.75", 255),
            (1.0, "#d7191c", "1.0 (high)", 255),
        ],
        0.0,
        1.0,
    )


def crack_probability_qml(threshold: float = 0.5) -> str:
    """Transparent below ``threshold``, yellow to red above."""
    return ramp_qml(
        [
            (0.0, "#ffffff", "0", 0),
            (max(0.0, threshold - 1e-3), "#ffffff", f"< {threshold:g}", 0),
            (threshold, "#ffff00", f"{threshold:g}", 200),
            (1.0, "#d7191c", "1 (crack)", 230),
        ],
        0.0,
        1.0,
    )


def gradcam_qml() -> str:
    """Heat ramp, transparent where attention is zero."""
    return ramp_qml(
        [
            (0.0, "#000004", "0", 0),
            (0.25, "#57106e", "0.25", 120),
            (0.5, "#bc3754", "0.5", 170),
            (0.75, "#f98e09", "0.75", 200),
            (1.0, "#fcffa4", "1", 220),
        ],
        0.0,
        1.0,
    )


def cf_score_qml() -> str:
    """Diverging ramp for the CF weighted score (-1 certain absence .. +1 certain landslide)."""
    return ramp_qml([(-1, "#1a9641", "-1 (stable)", 255), (0, "#ffffbf", "0", 255), (1, "#d7191c", "1", 255)], -1, 1)


def unit_zones_qml(breaks: list[float] | None, field: str = "ls_zone", statistic: str = "mean") -> str:
    """Categorised polygon style of mapping units by zone (1..5, the zone colours; 0 = no data).

    Built with the QGIS renderer API and exported as QML, so the sidecar and the canvas agree.
    """
    from qgis.core import QgsCategorizedSymbolRenderer, QgsFillSymbol, QgsRendererCategory, QgsVectorLayer
    from qgis.PyQt.QtXml import QDomDocument

    layer = QgsVectorLayer(f"Polygon?field={field}:integer", "units", "memory")
    cats = [
        QgsRendererCategory(0, QgsFillSymbol.createSimple({"color": "#bdbdbd", "outline_color": "#636363"}), "no data")
    ]
    for z in range(1, 6):
        label = zone_label(z, breaks, f"{statistic} ")
        sym = QgsFillSymbol.createSimple(
            {"color": ZONE_COLOURS_5[z - 1], "outline_color": "#4d4d4d", "outline_width": "0.2"}
        )
        cats.append(QgsRendererCategory(z, sym, label))
    layer.setRenderer(QgsCategorizedSymbolRenderer(field, cats))
    doc = QDomDocument()
    layer.exportNamedStyle(doc)
    return _stable_xml(doc.toString())


def samples_qml() -> str:
    """Sample points by role: landslides (label 1) as red triangles, absences (label 0) as grey circles.

    Why: with QGIS's default single symbol the two classes looked the same on the map, so the
    sampling (where absences fell, how far from landslides) could not be checked by eye.
    """
    from qgis.core import QgsCategorizedSymbolRenderer, QgsMarkerSymbol, QgsRendererCategory, QgsVectorLayer
    from qgis.PyQt.QtXml import QDomDocument

    layer = QgsVectorLayer("Point?field=label:integer", "samples", "memory")
    cats = [
        QgsRendererCategory(
            1,
            QgsMarkerSymbol.createSimple(
                {"name": "triangle", "color": "#d7191c", "outline_color": "#000000", "size": "2.6"}
            ),
            "landslide (1)",
        ),
        QgsRendererCategory(
            0,
            QgsMarkerSymbol.createSimple(
                {"name": "circle", "color": "#9e9e9e", "outline_color": "#424242", "size": "1.8"}
            ),
            "absence (0)",
        ),
    ]
    layer.setRenderer(QgsCategorizedSymbolRenderer("label", cats))
    doc = QDomDocument()
    layer.exportNamedStyle(doc)
    return _stable_xml(doc.toString())


def label_chips_qml(label_field: str = "label") -> str:
    """Rule-based style of a labelled chip layer: suggested chips first, then labels, then the probability.

    Orange thick outline: label this chip next (``suggest`` rank); red / green outline: labelled
    crack / crack-free; otherwise no outline and a fill from transparent (0) to red (1) by the
    adapted probability. Built with the QGIS renderer API and exported as QML.
    """
    from qgis.core import QgsFillSymbol, QgsRuleBasedRenderer, QgsVectorLayer
    from qgis.PyQt.QtXml import QDomDocument

    layer = QgsVectorLayer(
        f"Polygon?field={label_field}:integer&field=probability:double&field=suggest:integer", "chips", "memory"
    )
    root = QgsRuleBasedRenderer.Rule(None)

    def rule(expr: str, label: str, props: dict) -> None:
        r = QgsRuleBasedRenderer.Rule(QgsFillSymbol.createSimple(props), 0, 0, expr, label)
        root.appendChild(r)

    f = f'"{label_field}"'
    rule(
        '"suggest" IS NOT NULL',
        "label next (suggested)",
        {"color": "255,255,255,0", "outline_color": "#ff7f00", "outline_width": "0.8"},
    )
    rule(f"{f} = 1", "labelled crack", {"color": "215,25,28,60", "outline_color": "#d7191c", "outline_width": "0.5"})
    rule(
        f"{f} = 0", "labelled crack-free", {"color": "26,150,65,40", "outline_color": "#1a9641", "outline_width": "0.5"}
    )
    for lo, hi, alpha in ((0.5, 0.75, 90), (0.75, 1.01, 170)):
        expr = f'{f} IS NULL AND "suggest" IS NULL AND "probability" >= {lo} AND "probability" < {hi}'
        rule(expr, f"probability {lo:g}-{min(hi, 1):g}", {"color": f"215,25,28,{alpha}", "outline_style": "no"})
    layer.setRenderer(QgsRuleBasedRenderer(root))
    doc = QDomDocument()
    layer.exportNamedStyle(doc)
    return _stable_xml(doc.toString())


def _stable_xml(text: str) -> str:
    """The same QML text on every run: Qt writes attributes in a random (hash) order."""
    import xml.etree.ElementTree as ET

    doctype = _HEAD.split("\n", 1)[0]
    root = ET.fromstring(text.split("?>", 1)[-1].replace(doctype, ""))
    for el in root.iter():
        items = sorted(el.attrib.items())
        el.attrib.clear()
        el.attrib.update(items)
    root.set("version", "3.22")
    return doctype + "\n" + ET.tostring(root, encoding="unicode") + "\n"


#: styles shipped in resources/styles, made by the functions outputs use (a test compares them); the
#: zoning templates carry example thresholds, each output's sidecar those of its run
STATIC_STYLES = {
    "susceptibility_probability.qml": susceptibility_qml,
    "susceptibility_zones.qml": lambda: zoning_qml([0.2, 0.4, 0.6, 0.8]),
    "cf_zones.qml": lambda: zoning_qml(None),
    "cf_score.qml": cf_score_qml,
    "crack_probability.qml": crack_probability_qml,
    "gradcam.qml": gradcam_qml,
    "unit_zones.qml": lambda: unit_zones_qml(None),
}


def style_file(name: str) -> Path:
    """A static style shipped in resources/styles."""
    return RESOURCES / "styles" / name


def write_static_styles() -> list[Path]:
    """(Re)write resources/styles from ``STATIC_STYLES`` (run by scripts/build_resources.py)."""
    out = []
    for name, make in STATIC_STYLES.items():
        write_text_atomic(style_file(name), make())
        out.append(style_file(name))
    return out


def write_sidecar(raster: str, qml: str) -> str:
    """Write ``<raster minus suffix>.qml`` (QGIS's default-style sidecar); returns its path."""
    p = Path(raster).with_suffix(".qml")
    write_text_atomic(p, qml)
    return str(p)


class QmlPostProcessor(QgsProcessingLayerPostProcessorInterface):
    """Applies a QML file to a layer loaded on completion (runs in the main thread)."""

    _keep: list = []  # QGIS does not take ownership of Python post-processors: keep them alive

    def __init__(self, qml_path: str) -> None:
        super().__init__()
        self.qml_path = qml_path

    def postProcessLayer(self, layer, context, feedback):
        if layer is not None and layer.isValid():
            layer.loadNamedStyle(self.qml_path)
            layer.triggerRepaint()

    @classmethod
    def create(cls, qml_path: str) -> QmlPostProcessor:
        """A post-processor kept alive for the session."""
        pp = cls(qml_path)
        cls._keep.append(pp)
        return pp
