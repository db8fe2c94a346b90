"""The Landslide AI dock: live training curves and the results of runs, as plots.

The dock listens to ``algorithms.events`` (it never calls the engine): whatever runs the
algorithms (the toolbox dialog, batch mode, a model, the Python console) feeds it. Events arrive
in the worker thread that runs the algorithm; ``_Bridge`` re-emits them as a Qt signal, which Qt
queues to the GUI thread, so plots are only touched where Qt allows it.

Tabs: Training (loss and validation metric per epoch, per model), ROC (all compared models),
Confusion (per model), SHAP (factor importance bars), Zones (area share vs landslide share per
susceptibility class) and Grad-CAM (chip, heatmap, overlay and probability side by side). Each
tab has an "Export PNG" button.
"""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from qgis.gui import QgsDockWidget
from qgis.PyQt.QtCore import QObject, Qt, pyqtSignal
from qgis.PyQt.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ..algorithms import events
from ..core.raster.zoning import ZONE_COLOURS_5
from .pyqtgraph_compat import install as _install_compat

_install_compat()

#: qualitative colours (ColorBrewer Set1 + Dark2), one per model in order of appearance
PALETTE = ["#e41a1c", "#377eb8", "#4daf4a", "#984ea3", "#ff7f00", "#a65628", "#f781bf", "#1b9e77", "#666666"]
ZONE_COLOURS = ZONE_COLOURS_5


class _Bridge(QObject):
    """Listener callable from any thread; re-emits on the GUI thread through a queued signal."""

    received = pyqtSignal(str, object)

    def __call__(self, kind: str, payload: dict) -> None:
        self.received.emit(kind, payload)


def _plot(title: str, x: str, y: str) -> pg.PlotWidget:
    w = pg.PlotWidget(background="w")
    w.setTitle(title, color="k")
    w.setLabel("bottom", x)
    w.setLabel("left", y)
    w.showGrid(x=True, y=True, alpha=0.3)
    w.addLegend(offset=(-10, 10), labelTextColor="k")
    return w


class LandslideAIDock(QgsDockWidget):
    """Dock with one tab per kind of result; ``export_png(tab, path)`` saves a tab as a picture."""

    TABS = ("Training", "ROC", "Confusion", "SHAP", "Zones", "Grad-CAM")

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Landslide AI", parent)
        self.setObjectName("LandslideAIDock")
        #: what the plots show, kept as data so that the dock can be redrawn and tested
        self.curves: dict[str, dict[str, list[float]]] = {}
        self.metric_name = "validation accuracy"
        self.roc: dict[str, dict] = {}
        self.confusion: dict[str, dict] = {}
        self.importance: dict[str, dict[str, float]] = {}
        self.zones: dict | None = None
        self.gradcam: list[dict] = []
        self._lines: dict[str, tuple] = {}

        self.tabs = QTabWidget()
        self.pages: dict[str, QWidget] = {}
        self._build_training()
        self._build_roc()
        self._build_confusion()
        self._build_shap()
        self._build_zones()
        self._build_gradcam()
        holder = QWidget()
        lay = QVBoxLayout(holder)
        lay.setContentsMargins(2, 2, 2, 2)
        self.status = QLabel("Run a Landslide AI algorithm: its curves and results appear here.")
        self.status.setWordWrap(True)
        lay.addWidget(self.status)
        lay.addWidget(self.tabs)
        self.setWidget(holder)

        self._bridge = _Bridge()
        self._bridge.received.connect(self.on_event, Qt.ConnectionType.QueuedConnection)
        events.subscribe(self._bridge)

    # -- building ---------------------------------------------------------------------------
    def _page(self, name: str, *widgets: QWidget, controls: list[QWidget] | None = None) -> QWidget:
        page = QWidget()
        lay = QVBoxLayout(page)
        lay.setContentsMargins(2, 2, 2, 2)
        bar = QHBoxLayout()
        for c in controls or []:
            bar.addWidget(c)
        bar.addStretch(1)
        button = QPushButton("Export PNG…")
        button.setToolTip(f"Save the {name} tab as a PNG picture")
        button.clicked.connect(lambda _=False, n=name: self._ask_export(n))
        bar.addWidget(button)
        lay.addLayout(bar)
        for w in widgets:
            lay.addWidget(w, 1)
        self.pages[name] = page
        self.tabs.addTab(page, name)
        return page

    def _build_training(self) -> None:
        self.loss_plot = _plot("Loss per epoch (solid: training, dashed: validation)", "epoch", "loss")
        self.metric_plot = _plot("Validation metric per epoch", "epoch", "metric")
        self._page("Training", self.loss_plot, self.metric_plot)

    def _build_roc(self) -> None:
        self.roc_plot = _plot("ROC on the test split", "false positive rate", "true positive rate")
        self.roc_plot.setXRange(0, 1)
        self.roc_plot.setYRange(0, 1)
        #: the cross-validated figures to quote, above the ROC of the sampled absences
        self.skill_label = QLabel("")
        self.skill_label.setWordWrap(True)
        self.skill_label.setTextFormat(Qt.TextFormat.RichText)
        self.skill: dict = {}
        page = self._page("ROC", self.roc_plot)
        page.layout().insertWidget(1, self.skill_label, 0)

    def _build_confusion(self) -> None:
        self.confusion_combo = QComboBox()
        self.confusion_combo.currentTextChanged.connect(self._draw_confusion)
        self.confusion_plot = pg.PlotWidget(background="w")
        self.confusion_plot.setAspectLocked(True)
        self.confusion_plot.invertY(True)
        self._page("Confusion", self.confusion_plot, controls=[QLabel("Model:"), self.confusion_combo])

    def _build_shap(self) -> None:
        self.shap_combo = QComboBox()
        self.shap_combo.currentTextChanged.connect(self._draw_shap)
        self.shap_plot = _plot("Factor importance (mean |SHAP|, test samples)", "mean |SHAP|", "")
        self._page("SHAP", self.shap_plot, controls=[QLabel("Model:"), self.shap_combo])

    def _build_zones(self) -> None:
        self.zones_plot = _plot("Area share vs landslide share per zone", "zone", "share (%)")
        self._page("Zones", self.zones_plot)

    def _build_gradcam(self) -> None:
        self.gradcam_combo = QComboBox()
        self.gradcam_combo.currentIndexChanged.connect(self._draw_gradcam)
        self.gradcam_view = pg.GraphicsLayoutWidget()
        self.gradcam_view.setBackground("w")
        self._cam_boxes = []
        self._cam_images = []
        for col, title in enumerate(("chip", "Grad-CAM", "overlay")):
            box = self.gradcam_view.addViewBox(row=1, col=col, lockAspect=True, invertY=True, enableMouse=False)
            img = pg.ImageItem(axisOrder="row-major")
            box.addItem(img)
            self._cam_boxes.append(box)
            self._cam_images.append(img)
            self.gradcam_view.addLabel(title, row=0, col=col, color="k")
            self.gradcam_view.ci.layout.setColumnStretchFactor(col, 1)  # three panels of one size
        self.gradcam_label = QLabel("")
        self._page("Grad-CAM", self.gradcam_view, self.gradcam_label, controls=[QLabel("Chip:"), self.gradcam_combo])
        self.gradcam_label.setMaximumHeight(30)

    # -- events -------------------------------------------------------------------------------
    def on_event(self, kind: str, payload: dict) -> None:
        """Update the data and the plot of one event (GUI thread)."""
        handler = getattr(self, f"_on_{kind}", None)
        if handler is not None:
            handler(payload)

    def _colour(self, model: str) -> str:
        names = list(self.curves) + [m for m in self.roc if m not in self.curves]
        i = names.index(model) if model in names else len(names)
        return PALETTE[i % len(PALETTE)]

    def _on_run_started(self, p: dict) -> None:
        self.curves.clear()
        self._lines.clear()
        self.loss_plot.clear()
        self.metric_plot.clear()
        self.status.setText(f"{p['title']}: training…")
        self.tabs.setCurrentWidget(self.pages["Training"])

    def _on_epoch(self, p: dict) -> None:
        model = p["model"]
        c = self.curves.setdefault(model, {"epoch": [], "loss": [], "val_loss": [], "metric": []})
        c["epoch"].append(float(p["epoch"]))
        c["loss"].append(float(p["loss"]))
        c["val_loss"].append(float(p["val_loss"]))
        c["metric"].append(float(p["metric"]))
        if p.get("metric_name") and p["metric_name"] != self.metric_name:
            self.metric_name = p["metric_name"]
            self.metric_plot.setTitle(f"{self.metric_name[:1].upper()}{self.metric_name[1:]} per epoch", color="k")
            self.metric_plot.setLabel("left", self.metric_name)
        if model not in self._lines:
            colour = self._colour(model)
            self._lines[model] = (
                self.loss_plot.plot(pen=pg.mkPen(colour, width=2), name=f"{model}", antialias=True),
                self.loss_plot.plot(pen=pg.mkPen(colour, width=2, style=Qt.PenStyle.DashLine), antialias=True),
                self.metric_plot.plot(
                    pen=pg.mkPen(colour, width=2), symbol="o", symbolSize=4, name=model, antialias=True
                ),
            )
        train, val, metric = self._lines[model]
        train.setData(c["epoch"], c["loss"])
        # a refit on all samples has no validation rows (NaN): draw only the finite points
        for line, key in ((val, "val_loss"), (metric, "metric")):
            ok = np.isfinite(c[key])
            line.setData(np.asarray(c["epoch"])[ok], np.asarray(c[key])[ok])
        text = f"{model}: epoch {p['epoch']}, loss {p['loss']:.3f}"
        if np.isfinite(p["val_loss"]):
            text += f", validation loss {p['val_loss']:.3f}, {self.metric_name} {p['metric']:.3f}"
        self.status.setText(text)

    def _on_roc(self, p: dict) -> None:
        self.roc = dict(p["curves"])
        self.roc_plot.clear()
        self.roc_plot.setTitle(p.get("title", "ROC on the test split"), color="k")
        self.roc_plot.plot([0, 1], [0, 1], pen=pg.mkPen("#888888", style=Qt.PenStyle.DotLine))
        for i, (model, c) in enumerate(self.roc.items()):
            self.roc_plot.plot(
                c["fpr"],
                c["tpr"],
                pen=pg.mkPen(PALETTE[i % len(PALETTE)], width=2),
                name=f"{model} (AUC {c['area']:.3f})",
            )
        self.status.setText("Training finished: ROC, confusion matrices and SHAP importance updated.")

    def _on_skill(self, p: dict) -> None:
        """The headline figures: CV prediction-rate AUC with its interval per model, then the separability."""
        self.skill = {"rows": [dict(r) for r in p["rows"]], "note": str(p["note"])}
        cells = "".join(
            f"<tr><td>{html.escape(r['model'])}</td><td><b>{r['rate']:.3f}</b> ({r['rate_low']:.3f}-"
            f"{r['rate_high']:.3f})</td><td>{r['separability']:.3f}</td><td>{html.escape(_short(r['flags']))}</td></tr>"
            for r in self.skill["rows"]
        )
        self.skill_label.setText(
            f"<p><b>{html.escape(self.skill['note'])}</b></p><table cellpadding='2'><tr><th>model</th>"
            "<th>CV prediction-rate AUC (95 % CI): quote this</th><th>separability of sampled absences (not skill)"
            f"</th><th>warnings</th></tr>{cells}</table>"
        )
        self.tabs.setCurrentWidget(self.pages["ROC"])

    def _on_confusion(self, p: dict) -> None:
        self.confusion[p["model"]] = {
            "matrix": np.asarray(p["matrix"], int),
            "labels": list(p["labels"]),
            "where": str(p.get("where", "test split")),
        }
        if self.confusion_combo.findText(p["model"]) < 0:
            self.confusion_combo.addItem(p["model"])
        self.confusion_combo.setCurrentText(p["model"])
        self._draw_confusion(p["model"])

    def _draw_confusion(self, model: str) -> None:
        if model not in self.confusion:
            return
        m, labels = self.confusion[model]["matrix"], self.confusion[model]["labels"]
        plot = self.confusion_plot
        plot.clear()
        img = pg.ImageItem(m.astype(float), axisOrder="row-major")
        img.setLookupTable(_blues())
        img.setLevels((0, max(1, m.max())))
        plot.addItem(img)
        for t in range(2):
            for q in range(2):
                text = pg.TextItem(str(m[t, q]), color="k" if m[t, q] < m.max() * 0.6 else "w", anchor=(0.5, 0.5))
                text.setPos(q + 0.5, t + 0.5)
                plot.addItem(text)
        ax_b, ax_l = plot.getAxis("bottom"), plot.getAxis("left")
        ax_b.setTicks([[(0.5, labels[0]), (1.5, labels[1])]])
        ax_l.setTicks([[(0.5, labels[0]), (1.5, labels[1])]])
        plot.setLabel("bottom", "predicted")
        plot.setLabel("left", "true")
        acc = np.trace(m) / max(1, m.sum())
        where = self.confusion[model].get("where", "test split")
        plot.setTitle(f"{model}: {where}, threshold 0.5, accuracy {acc:.3f}", color="k")

    def _on_importance(self, p: dict) -> None:
        self.importance[p["model"]] = dict(p["values"])
        if self.shap_combo.findText(p["model"]) < 0:
            self.shap_combo.addItem(p["model"])
        self.shap_combo.setCurrentText(p["model"])
        self._draw_shap(p["model"])

    def _draw_shap(self, model: str) -> None:
        if model not in self.importance:
            return
        items = sorted(self.importance[model].items(), key=lambda kv: kv[1])
        plot = self.shap_plot
        plot.clear()
        y = np.arange(len(items))
        plot.addItem(pg.BarGraphItem(x0=0, y=y, height=0.7, width=[v for _, v in items], brush="#377eb8"))
        # each factor's name drawn at its bar, not as axis ticks: the axis drops tick labels that
        # would overlap, and a short dock showed six bars with one name
        plot.getAxis("left").setTicks([[(i, "") for i in range(len(items))]])
        top = max((v for _, v in items), default=0.0)
        for i, (name, v) in enumerate(items):
            label = pg.TextItem(name, color="k", anchor=(0, 0.5))
            label.setPos(v + 0.02 * top if v < 0.6 * top else 0.01 * top, i)
            plot.addItem(label)
        plot.setTitle(f"{model}: mean |SHAP| on test samples", color="k")

    def _on_zones(self, p: dict) -> None:
        self.zones = {k: list(p[k]) for k in ("zones", "area_share", "landslide_share")}
        plot = self.zones_plot
        plot.clear()
        x = np.arange(len(p["zones"]))
        area = 100 * np.asarray(p["area_share"])
        slides = 100 * np.asarray(p["landslide_share"])
        plot.addItem(pg.BarGraphItem(x=x - 0.18, height=area, width=0.34, brushes=ZONE_COLOURS[: len(x)], pen="k"))
        plot.addItem(pg.BarGraphItem(x=x + 0.18, height=slides, width=0.34, brush="#444444", pen="k"))
        plot.getAxis("bottom").setTicks([[(i, n) for i, n in enumerate(p["zones"])]])
        plot.setTitle("Zone area share (coloured) vs landslide share (grey), %", color="k")

    def _on_gradcam(self, p: dict) -> None:
        self.gradcam = list(p["items"])
        self.gradcam_combo.blockSignals(True)
        self.gradcam_combo.clear()
        for it in self.gradcam:
            self.gradcam_combo.addItem(f"{it['name']}  P(crack) {it['probability']:.2f}")
        self.gradcam_combo.blockSignals(False)
        self._draw_gradcam(0)
        self.tabs.setCurrentWidget(self.pages["Grad-CAM"])

    def _draw_gradcam(self, index: int) -> None:
        if not (0 <= index < len(self.gradcam)):
            return
        it = self.gradcam[index]
        chip = np.asarray(it["chip"], np.uint8)
        heat = np.clip(np.asarray(it["heat"], np.float32), 0, 1)
        lut = pg.colormap.get("inferno").getLookupTable(nPts=256)
        heat_rgb = lut[(heat * 255).astype(np.uint8)][..., :3]
        overlay = (0.55 * chip + 0.45 * heat_rgb).astype(np.uint8)
        for img, arr in zip(self._cam_images, (chip, heat_rgb.astype(np.uint8), overlay)):
            img.setImage(arr, levels=(0, 255))
        for box in self._cam_boxes:
            box.autoRange(padding=0.02)
        self.gradcam_label.setText(f"<b>{it['name']}</b>: P(crack) = {it['probability']:.3f}")

    # -- export -------------------------------------------------------------------------------
    def export_png(self, tab: str, path: str) -> str:
        """Save one tab (its plots, as shown) to ``path`` as PNG; returns the path."""
        page = self.pages[tab]
        pix = page.grab()
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        if pix.isNull() or not pix.save(str(path), "PNG"):
            raise OSError(f"Could not write the PNG {path}: is the folder writable?")
        return str(path)

    def _ask_export(self, tab: str) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, f"Export {tab} plot", f"landslide_ai_{tab.lower()}.png", "PNG (*.png)"
        )
        if path:
            self.export_png(tab, path if path.lower().endswith(".png") else path + ".png")

    def shutdown(self) -> None:
        """Stop listening to run events (plugin unload). Closing the dock only hides it: it keeps listening."""
        events.unsubscribe(self._bridge)


def _short(flags: str) -> str:
    """Each flag up to its first parenthesis: the dock has room for what, the report for the figures."""
    return "; ".join(f.split(" (")[0] for f in flags.split("; ") if f)


def _blues() -> np.ndarray:
    """White-to-blue lookup table for the confusion matrix."""
    t = np.linspace(0, 1, 256)[:, None]
    white, blue = np.array([247, 251, 255]), np.array([8, 69, 148])
    return (white + t * (blue - white)).astype(np.uint8)
