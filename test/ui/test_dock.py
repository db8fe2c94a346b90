"""The dock, rendered offscreen, receives the data of real algorithm runs and exports its plots."""

from pathlib import Path

import numpy as np
import pytest
from helpers import make_set, ortho
from processing_chain import crack_map_params


@pytest.fixture(scope="module")
def dock(qgis_app):
    from landslide_ai.ui.dock import LandslideAIDock

    d = LandslideAIDock()
    d.resize(700, 600)
    d.show()
    yield d
    d.shutdown()
    d.close()


def _pump(qgis_app) -> None:
    """Deliver the queued signals (events are queued to the GUI thread even from this thread)."""
    for _ in range(3):
        qgis_app.processEvents()


def _line_data(plot) -> dict[str, int]:
    return {
        item.name(): len(item.getData()[0] if item.getData()[0] is not None else [])
        for item in plot.listDataItems()
        if item.name()
    }


def test_training_run_feeds_curves_roc_confusion_and_shap(qgis_app, dock, run_alg, tiny_factors, tmp_path):
    paths, inv = tiny_factors
    stack = run_alg(
        "lsm_stack_factors",
        {"FACTORS": list(paths.values()), "NAMES": "elev,slope,twi", "OUTPUT": str(tmp_path / "stack.tif")},
    )["OUTPUT"]
    samples = run_alg(
        "lsm_sample_absences",
        {
            "STACK": stack,
            "INVENTORY": inv,
            "STRATEGY": 0,
            "BUFFER_M": 60.0,
            "BLOCK_SIZE_M": 450.0,
            "OUTPUT": str(tmp_path / "samples.gpkg"),
        },
    )["OUTPUT"]
    run_alg(
        "lsm_train",
        {
            "STACK": stack,
            "SAMPLES": samples,
            "CV_FOLDS": 0,
            "MODELS": [0, 4],  # CNN (curves) and Random Forest (no curves)
            "PATCH_SIZE": 8,
            "EPOCHS": 3,
            "PATIENCE": 10,
            "SHAP_SAMPLES": 5,
            "OUTPUT_FOLDER": str(tmp_path / "models"),
        },
    )
    _pump(qgis_app)
    # live curves: one point per epoch, training and validation loss and the metric
    assert list(dock.curves) == ["CNN"]
    assert dock.curves["CNN"]["epoch"] == [1.0, 2.0, 3.0]
    assert _line_data(dock.loss_plot) == {"CNN": 3} and _line_data(dock.metric_plot) == {"CNN": 3}
    assert all(np.isfinite(dock.curves["CNN"]["val_loss"]))
    # ROC of both compared models, with their AUC in the legend
    assert set(dock.roc) == {"CNN", "Random Forest"}
    names = _line_data(dock.roc_plot)
    assert len(names) == 2 and all("AUC" in n for n in names)
    # confusion matrices sum to the test split, SHAP bars cover the three factors
    sizes = {m: int(c["matrix"].sum()) for m, c in dock.confusion.items()}
    assert len(set(sizes.values())) == 1 and next(iter(sizes.values())) > 0
    assert dock.confusion_combo.count() == 2
    assert set(dock.importance["Random Forest"]) == {"elev", "slope", "twi"}
    # every factor's name is drawn at its bar (axis ticks drop overlapping labels); pyqtgraph is
    # imported after QGIS chose the Qt binding (a module-level import would pick PyQt6)
    import pyqtgraph as pg

    dock._draw_shap("Random Forest")
    texts = {i.toPlainText() for i in dock.shap_plot.getPlotItem().items if isinstance(i, pg.TextItem)}
    assert {"elev", "slope", "twi"} <= texts
    png = dock.export_png("Training", str(tmp_path / "training.png"))
    from qgis.PyQt.QtGui import QImage

    img = QImage(png)
    assert img.width() > 100 and img.height() > 100
    # the picture is not blank: the curves and axes put more than one colour on it
    colours = {img.pixel(x, y) for x in range(0, img.width(), 7) for y in range(0, img.height(), 7)}
    assert len(colours) > 5

    pred = run_alg(
        "lsm_predict",
        {
            "MODEL": str(tmp_path / "models" / "rf.json"),
            "STACK": stack,
            "INVENTORY": inv,
            "OUTPUT": str(tmp_path / "p.tif"),
            "ZONING": str(tmp_path / "z.tif"),
            "ZONE_TABLE": str(tmp_path / "zones.csv"),
        },
    )
    assert Path(pred["ZONE_TABLE"]).exists()
    _pump(qgis_app)
    assert dock.zones["zones"][0] == "Very low" and len(dock.zones["area_share"]) == 5
    assert abs(sum(dock.zones["area_share"]) - 1) < 1e-6 and abs(sum(dock.zones["landslide_share"]) - 1) < 1e-6


def test_crack_runs_feed_curves_and_the_gradcam_viewer(qgis_app, dock, run_alg, tmp_path):
    t = make_set(tmp_path / "t", n=12)
    card = run_alg(
        "crack_train",
        {
            "TARGET_FOLDER": t,
            "SOURCE_FOLDER": make_set(tmp_path / "s", n=12, seed=3),
            "ARCHITECTURE": 0,
            "EPOCHS": 2,
            "INPUT_PX": 48,
            "OUTPUT_FOLDER": str(tmp_path / "m"),
        },
    )["MODEL_CARD"]
    _pump(qgis_app)
    assert set(dock.curves) == {"cnn (pretrain)", "cnn (fine-tune)"}
    assert all(len(c["epoch"]) >= 1 for c in dock.curves.values())
    assert "cnn_tl" in dock.confusion
    images = sorted(str(p) for p in (Path(t) / "crack").glob("*.png"))[:3]
    o = ortho(tmp_path / "o.tif")
    params = crack_map_params(card, o, tmp_path, 48, 48, alpha_band=4, gradcam=True, IMAGES=images)
    run_alg("crack_gradcam", params | {"OVERLAY_FOLDER": str(tmp_path / "overlays")})
    _pump(qgis_app)
    assert [it["name"] for it in dock.gradcam] == [Path(p).name for p in images]
    chip, heat, overlay = (img.image for img in dock._cam_images)
    assert chip.shape == (48, 48, 3) and heat.shape == (48, 48, 3) and overlay.shape == (48, 48, 3)
    assert "P(crack)" in dock.gradcam_label.text()
    assert Path(dock.export_png("Grad-CAM", str(tmp_path / "cam.png"))).stat().st_size > 1000


def test_skill_event_shows_the_cv_prediction_rate_first(qgis_app, dock):
    """The dock's ROC tab leads with the CV prediction rate and its interval, and the mapped model's note."""
    from landslide_ai.algorithms import events

    row = {"model": "GAM", "rate": 0.819, "rate_low": 0.761, "rate_high": 0.85, "separability": 0.97, "flags": ""}
    events.publish("skill", algorithm="lsm_train", note="Mapped model: GAM; not distinguishable.", rows=[row])
    _pump(qgis_app)
    text = dock.skill_label.text()
    assert "0.819" in text and "0.761-0.850" in text and "not distinguishable" in text
    assert text.index("prediction-rate") < text.index("separability")


def test_cv_fold_and_refit_curves_are_named_and_nan_validation_is_not_drawn(qgis_app, dock):
    """With CV the dock draws fold 1 (validation judged) and the refit (training loss only), not every fold."""
    from landslide_ai.algorithms import events
    from landslide_ai.algorithms.train_events import epoch_publisher

    events.publish("run_started", algorithm="lsm_train", title="Susceptibility models")  # the dock is shared
    on_epoch = epoch_publisher("lsm_train")
    for fold in (1, 2):
        for e in (1, 2, 3):
            on_epoch("cnn", {"epoch": e, "loss": 0.6, "val_loss": 0.5, "val_auc": 0.7, "fold": fold})
    for e in (1, 2):
        on_epoch("cnn", {"epoch": e, "loss": 0.5, "val_loss": float("nan"), "val_auc": float("nan")})
    _pump(qgis_app)
    assert set(dock.curves) == {"CNN (CV fold 1)", "CNN (refit)"}
    assert dock.curves["CNN (CV fold 1)"]["epoch"] == [1.0, 2.0, 3.0]
    assert _line_data(dock.metric_plot) == {"CNN (CV fold 1)": 3, "CNN (refit)": 0}
