"""Runs inside the real QGIS desktop (``qgis.bin --code``): checks the plugin and, in demo mode, uses it.

Environment: LANDSLIDEAI_OUT (folder for screenshots and session.json), LANDSLIDEAI_MODE ("load":
check and quit; "demo": small susceptibility and crack jobs with screenshots), LANDSLIDEAI_REPO
(the checkout, for sample data), LANDSLIDEAI_EPOCHS.

QGIS runs this file before its event loop starts, so the work is a chain of steps scheduled with
``QTimer``: the GUI keeps painting between steps, training runs as a background Processing task
(the dock's curves update live), and screenshots are taken of the real screen with ImageMagick's
``import -window root`` (plus the dock's own PNG export).
"""

import json
import os
import subprocess
import sys
import time
import traceback
from pathlib import Path

from qgis.core import (
    QgsApplication,
    QgsProcessingAlgRunnerTask,
    QgsProcessingContext,
    QgsProcessingFeedback,
    QgsProject,
)
from qgis.PyQt.QtCore import QTimer
from qgis.utils import active_plugins, iface, plugins

sys.path.insert(0, str(Path(os.environ.get("LANDSLIDEAI_REPO", ".")) / "scripts" / "desktop"))
sys.path.insert(0, str(Path(os.environ.get("LANDSLIDEAI_REPO", ".")) / "scripts"))  # processing_chain
from desktop_common import quit_like_a_user, show_provider_in_toolbox

OUT = Path(os.environ["LANDSLIDEAI_OUT"])
MODE = os.environ.get("LANDSLIDEAI_MODE", "load")
REPO = Path(os.environ.get("LANDSLIDEAI_REPO", "."))
EPOCHS = int(os.environ.get("LANDSLIDEAI_EPOCHS", "15"))
OUT.mkdir(parents=True, exist_ok=True)
STATE: dict = {"mode": MODE, "steps": [], "screenshots": [], "errors": []}
_KEEP: list = []  # tasks, contexts and feedback objects must outlive the step that started them


def save_state() -> None:
    (OUT / "session.json").write_text(json.dumps(STATE, indent=1, default=str), encoding="utf-8")


def finish() -> None:
    _KEEP.clear()  # release the finished task's algorithm/context while QGIS is still alive
    STATE["finished"] = time.time()
    save_state()
    QTimer.singleShot(500, quit_like_a_user)


def screenshot(name: str, note: str) -> None:
    """Whole screen, as a user sees it."""
    QgsApplication.processEvents()
    path = OUT / f"{name}.png"
    subprocess.run(["import", "-window", "root", str(path)], check=True, timeout=60)
    STATE["screenshots"].append({"file": path.name, "shows": note})
    save_state()


def step(fn, delay_ms: int = 300):
    """Run ``fn`` later in the event loop; an exception ends the session with its traceback recorded."""

    def wrapped():
        t = time.time()
        try:
            fn()
            STATE["steps"].append({"step": fn.__name__, "seconds": round(time.time() - t, 1)})
            save_state()
        except Exception:
            STATE["errors"].append({"step": fn.__name__, "traceback": traceback.format_exc()})
            finish()

    QTimer.singleShot(delay_ms, wrapped)


def run(alg: str, params: dict) -> dict:
    """Run a quick algorithm in the GUI thread (the dialogs do the same for non-threaded algorithms)."""
    import processing

    t = time.time()
    res = processing.run(f"landslideai:{alg}", params, feedback=QgsProcessingFeedback())
    STATE["steps"].append({"algorithm": alg, "seconds": round(time.time() - t, 1)})
    return res


def run_in_background(alg: str, params: dict, then) -> None:
    """Run an algorithm as a QGIS task (worker thread), like the toolbox dialog does; call ``then(results)``."""
    reg = QgsApplication.processingRegistry()
    algorithm = reg.createAlgorithmById(f"landslideai:{alg}")
    context = QgsProcessingContext()
    context.setProject(QgsProject.instance())
    feedback = QgsProcessingFeedback()
    task = QgsProcessingAlgRunnerTask(algorithm, params, context, feedback)
    t = time.time()

    def done(ok, results):
        STATE["steps"].append({"algorithm": alg, "background": True, "ok": ok, "seconds": round(time.time() - t, 1)})
        if not ok:
            STATE["errors"].append({"step": alg, "traceback": "background task failed"})
            finish()
            return
        step(lambda: then(results), 100)

    task.executed.connect(done)
    _KEEP.extend([algorithm, context, feedback, task])
    QgsApplication.taskManager().addTask(task)


# -- the checks every mode makes ------------------------------------------------------------------
def check_loaded() -> None:
    plugin = plugins.get("landslide_ai")
    provider = QgsApplication.processingRegistry().providerById("landslideai")
    STATE["plugin_active"] = "landslide_ai" in active_plugins
    STATE["algorithms"] = sorted(a.id() for a in provider.algorithms()) if provider else []
    menu = getattr(plugin, "menu", None)
    STATE["menu"] = [a.text() for a in menu.actions()] if menu is not None else []
    STATE["dock_exists"] = getattr(plugin, "dock", None) is not None
    from qgis.core import Qgis

    STATE["qgis_version"] = Qgis.QGIS_VERSION
    save_state()


# -- demo steps ---------------------------------------------------------------------------------
OUTD = OUT / "data"
DATA = REPO / "sample_data"


def toolbox() -> None:
    from qgis.PyQt.QtCore import Qt

    show_provider_in_toolbox()
    iface.mainWindow().resizeDocks([plugins["landslide_ai"].dock], [620], Qt.Horizontal)
    step(lambda: screenshot("01_toolbox", "Processing toolbox with the Landslide AI provider expanded"), 1500)
    step(prepare, 2500)


def prepare() -> None:
    plugins["landslide_ai"].dock_action.setChecked(True)
    dem = str(DATA / "ecuador_rbsf" / "dem_10m.tif")
    import shutil

    OUTD.mkdir(parents=True, exist_ok=True)
    inv = str(
        shutil.copy(DATA / "ecuador_rbsf" / "landslide_points_all.gpkg", OUTD)
    )  # QGIS writes into opened GeoPackages
    sys.path.insert(0, str(REPO / "scripts"))
    from ecuador_pipeline import prepare as prepare_samples

    prep = prepare_samples(run, OUTD, dem, inv)
    stack, samples = prep["stack"], prep["samples"]
    STATE["inputs"] = {"stack": stack, "inventory": inv}
    params = {
        "STACK": stack,
        "SAMPLES": samples,
        "MODELS": [0, 3, 4, 5],  # CNN, CNN-LSTM-AM, RF, XGBoost-LR
        "EPOCHS": EPOCHS,
        "PATIENCE": EPOCHS,
        "SHAP_SAMPLES": 30,
        "OUTPUT_FOLDER": str(OUTD / "models"),
    }
    run_in_background("lsm_train", params, trained)
    step(watch_live, 1000)


def watch_live() -> None:
    """Screenshot the dock while the training task is still running, once curves have a few points."""
    dock = plugins["landslide_ai"].dock
    epochs = max((len(c["epoch"]) for c in dock.curves.values()), default=0)
    if len(dock.curves) >= 2 and epochs >= 3 and not dock.roc:
        STATE["live_curves"] = {m: len(c["epoch"]) for m, c in dock.curves.items()}
        screenshot("02_dock_live_training", "Dock during training: loss and accuracy curves per epoch, live")
        return
    if not dock.roc:
        step(watch_live, 1000)


def trained(results: dict) -> None:
    dock = plugins["landslide_ai"].dock
    STATE["dock_after_training"] = {
        "curves": {m: len(c["epoch"]) for m, c in dock.curves.items()},
        "roc": sorted(dock.roc),
        "confusion": sorted(dock.confusion),
        "importance": sorted(dock.importance),
    }
    for tab in ("Training", "ROC", "Confusion", "SHAP"):
        dock.export_png(tab, str(OUT / f"dock_{tab.lower()}.png"))
    dock.tabs.setCurrentWidget(dock.pages["Training"])
    step(lambda: screenshot("03_dock_after_training", "Dock after training: full curves of the deep models"), 800)
    step(lambda: show_tab("ROC", "04_dock_roc", "Dock: ROC of the four compared models"), 2000)
    step(lambda: predict(results), 3500)


def show_tab(tab: str, name: str, note: str) -> None:
    dock = plugins["landslide_ai"].dock
    dock.tabs.setCurrentWidget(dock.pages[tab])
    step(lambda: screenshot(name, note), 800)


def predict(results: dict) -> None:
    inp = STATE["inputs"]
    pr = run(
        "lsm_predict",
        {
            "MODEL": results["MODEL_CARD"],
            "STACK": inp["stack"],
            "INVENTORY": inp["inventory"],
            "PRESENCE_FIELD": "lslpts",
            "OUTPUT": str(OUTD / "susceptibility.tif"),
            "ZONING": str(OUTD / "zoning.tif"),
            "ZONE_TABLE": str(OUTD / "zones.csv"),
        },
    )
    QgsApplication.processEvents()  # deliver the queued "zones" event to the dock
    kind = Path(results["MODEL_CARD"]).stem  # the model lsm_train chose by its CV prediction rate
    layer = iface.addRasterLayer(pr["ZONING"], f"Susceptibility zoning ({kind}, best CV)")
    slides = iface.addVectorLayer(inp["inventory"], "Landslides", "ogr")
    slides.setSubsetString('"lslpts" = 1')
    STATE["zoning_renderer"] = layer.renderer().type()
    STATE["zoning_legend"] = [label for label, _ in layer.renderer().legendSymbologyItems()]
    iface.mapCanvas().setExtent(layer.extent())
    iface.mapCanvas().refresh()
    dock = plugins["landslide_ai"].dock
    dock.export_png("Zones", str(OUT / "dock_zones.png"))
    dock.tabs.setCurrentWidget(dock.pages["Zones"])
    step(
        lambda: screenshot(
            "05_susceptibility_map", "Styled 5-class susceptibility zoning + landslides; dock: zone shares"
        ),
        4000,
    )
    step(cracks, 5000)


def cracks() -> None:
    chips = DATA / "uav75_chips"
    card = run(
        "crack_train",
        {
            "TARGET_FOLDER": str(chips),
            "SOURCE_FOLDER": str(DATA / "concrete_cracks"),
            "ARCHITECTURE": 0,
            "EPOCHS": 3,
            "INPUT_PX": 64,
            "OUTPUT_FOLDER": str(OUTD / "cracks"),
        },
    )["MODEL_CARD"]
    ortho = str(DATA / "drone_orthomosaic" / "fotomap_small_2cm_epsg32633.tif")
    images = sorted(str(p) for p in (chips / "crack").glob("*.jpg"))[:4]
    from processing_chain import crack_map_params

    params = crack_map_params(card, ortho, OUTD, alpha_band=4, gradcam=True, IMAGES=images)
    g = run("crack_gradcam", params | {"OVERLAY_FOLDER": str(OUTD / "overlays")})
    QgsApplication.processEvents()  # deliver the queued "gradcam" event to the dock
    root = QgsProject.instance().layerTreeRoot()
    for lyr in QgsProject.instance().mapLayers().values():
        root.findLayer(lyr.id()).setItemVisibilityChecked(False)
    base = iface.addRasterLayer(ortho, "Orthomosaic")
    prob = iface.addRasterLayer(g["OUTPUT"], "Crack probability")
    STATE["crack_renderer"] = prob.renderer().type()
    STATE["dock_gradcam_items"] = len(plugins["landslide_ai"].dock.gradcam)
    plugins["landslide_ai"].dock.export_png("Grad-CAM", str(OUT / "dock_gradcam.png"))
    iface.mapCanvas().setDestinationCrs(base.crs())
    iface.mapCanvas().setExtent(base.extent())
    iface.mapCanvas().refresh()
    step(
        lambda: screenshot(
            "06_crack_probability", "Orthomosaic with the styled crack probability; dock: Grad-CAM viewer"
        ),
        4000,
    )
    step(diagnostics, 5000)


def diagnostics() -> None:
    dlg = plugins["landslide_ai"].show_diagnostics()
    dlg.move(300, 150)
    STATE["diagnostics"] = dlg.text.toPlainText()
    step(lambda: screenshot("07_diagnostics", "Diagnostics dialog: versions, device, dependency table"), 1500)
    step(finish, 2500)


# -- the field loop on the canvas ("label" mode) ----------------------------------------------------
def label_start() -> None:
    """Tile the UAV75 test scene, label chips with the map tool (clicks at chip centres), adapt, show suggestions."""
    import numpy as np
    import rasterio

    import landslide_ai.algorithms.provider  # noqa: F401 - the plugin is importable

    show_provider_in_toolbox()
    scene = DATA / "uav75_scene"
    tiles = run(
        "crack_tile",
        {"INPUT": str(scene / "scene_rgb.tif"), "CHIP_PX": 227, "STRIDE_PX": 256, "ALPHA_BAND": 0,
         "OUTPUT": str(OUTD / "chips.gpkg")},
    )  # fmt: skip
    base = iface.addRasterLayer(str(scene / "scene_rgb.tif"), "UAV75 test scene")
    chips = iface.addVectorLayer(tiles["OUTPUT"], "Chips (click to label)", "ogr")
    sym = chips.renderer().symbol()
    sym.setColor(sym.color().fromRgb(0, 0, 0, 0))
    sym.symbolLayer(0).setStrokeColor(sym.color().fromRgb(255, 255, 0))
    iface.setActiveLayer(chips)
    iface.mapCanvas().setDestinationCrs(base.crs())
    iface.mapCanvas().setExtent(base.extent())
    iface.mapCanvas().refresh()
    with rasterio.open(scene / "crack_labels.tif") as ds:
        lab = ds.read(1)
        tr = ds.transform
    truth = []
    for f in chips.getFeatures():
        c = f.geometry().centroid().asPoint()
        col, row = ~tr * (c.x(), c.y())
        r0, c0 = int(row) - 113, int(col) - 113
        n = int((lab[max(r0, 0) : r0 + 227, max(c0, 0) : c0 + 227] == 1).sum())
        if n >= 150 or n == 0:
            truth.append((c, int(n >= 150)))
    rng = np.random.default_rng(1)
    pos = [t for t in truth if t[1] == 1]
    neg = [t for t in truth if t[1] == 0]
    picks = [pos[i] for i in rng.choice(len(pos), 8, replace=False)] + [
        neg[i] for i in rng.choice(len(neg), 8, replace=False)
    ]
    STATE["label_clicks"] = len(picks)
    plugins["landslide_ai"].label_action.setChecked(True)
    step(lambda: click_labels(chips, picks), 1500)


def click_labels(chips, picks) -> None:
    """Clicks as a user makes them: left = crack, right = crack-free, through the real map tool."""
    from qgis.gui import QgsMapMouseEvent
    from qgis.PyQt.QtCore import QEvent, QPoint, Qt

    canvas = iface.mapCanvas()
    tool = canvas.mapTool()
    STATE["map_tool"] = type(tool).__name__
    for point, y in picks:
        px = canvas.getCoordinateTransform().transform(point)
        button = Qt.MouseButton.LeftButton if y == 1 else Qt.MouseButton.RightButton
        ev = QgsMapMouseEvent(canvas, QEvent.Type.MouseButtonRelease, QPoint(int(px.x()), int(px.y())), button)
        tool.canvasReleaseEvent(ev)
    lab = [f["label"] for f in chips.getFeatures() if str(f["label"]) not in ("NULL", "None")]
    STATE["labelled"] = {"crack": lab.count(1), "no_crack": lab.count(0)}
    from qgis.PyQt.QtXml import QDomDocument

    from landslide_ai.algorithms.styling import label_chips_qml

    doc = QDomDocument()
    doc.setContent(label_chips_qml("label"))
    chips.importNamedStyle(doc)
    chips.triggerRepaint()
    step(
        lambda: screenshot(
            "10_labelling", f"Chips labelled with the map tool: {STATE['labelled']} (red = crack, green = crack-free)"
        ),
        1500,
    )
    step(lambda: adapt(chips), 3000)


def adapt(chips) -> None:
    chips.commitChanges()
    res = run(
        "crack_adapt",
        {"INPUT": str(DATA / "uav75_scene" / "scene_rgb.tif"), "CHIPS": chips.source(), "LABEL_FIELD": "label",
         "SUGGEST_N": 8, "ALPHA_BAND": 0, "OUTPUT_FOLDER": str(OUTD / "adapted"),
         "OUTPUT_CHIPS": str(OUTD / "chips_adapted.gpkg")},
    )  # fmt: skip
    STATE["adapt"] = {k: res[k] for k in ("CV_AUC", "BASE_AUC")}
    QgsProject.instance().layerTreeRoot().findLayer(chips.id()).setItemVisibilityChecked(False)
    out = iface.addVectorLayer(res["OUTPUT_CHIPS"], "Chips after adapting (orange: label next)", "ogr")
    out.loadNamedStyle(str(Path(res["OUTPUT_CHIPS"]).with_suffix(".qml")))
    out.triggerRepaint()
    step(lambda: screenshot("11_adapted", f"After crack_adapt: suggestions in orange; {STATE['adapt']}"), 2500)
    step(finish, 4000)


def start() -> None:
    check_loaded()
    if MODE == "demo":
        step(toolbox, 500)
    elif MODE == "label":
        step(label_start, 500)
    else:
        finish()


step(start, 2000)
