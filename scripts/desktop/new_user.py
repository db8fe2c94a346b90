"""QGIS --code script of the new-user walkthrough (scripts/walkthrough_new_user.sh), one phase per start.

LANDSLIDEAI_PHASE:
  "bare": QGIS whose Python has none of our packages: toolbox and menu screenshots, every algorithm
          listed, the torch-free chain (terrain -> stack -> CF -> absences -> RF -> map) through
          Processing, the installer window showing its plan; then the installer runs (as a QgsTask,
          from that window) with the packages of LANDSLIDEAI_PACKAGES.
  "after": QGIS restarted: the packages are found in the profile; a deep model (CNN) trains.
Writes <phase>.json and screenshots to LANDSLIDEAI_OUT, then quits through File > Exit.
"""

import json
import os
import subprocess
import sys
import time
import traceback
from pathlib import Path

from qgis.core import QgsApplication, QgsProcessingFeedback
from qgis.PyQt.QtCore import QTimer
from qgis.utils import iface, plugins

OUT = Path(os.environ["LANDSLIDEAI_OUT"])
PHASE = os.environ["LANDSLIDEAI_PHASE"]
REPO = Path(os.environ["LANDSLIDEAI_REPO"])
sys.path.insert(0, str(REPO / "scripts" / "desktop"))
from desktop_common import quit_like_a_user, show_provider_in_toolbox  # noqa: E402

STATE: dict = {"phase": PHASE, "screenshots": [], "errors": []}


def save() -> None:
    (OUT / f"{PHASE}.json").write_text(json.dumps(STATE, indent=1, default=str), encoding="utf-8")


def shot(name: str, note: str) -> None:
    QgsApplication.processEvents()
    subprocess.run(["import", "-window", "root", str(OUT / f"{PHASE}_{name}.png")], check=True, timeout=60)
    STATE["screenshots"].append({"file": f"{PHASE}_{name}.png", "shows": note})
    save()


def later(fn, ms: int = 500) -> None:
    def wrapped():
        try:
            fn()
        except Exception:
            STATE["errors"].append(traceback.format_exc())
            finish()

    QTimer.singleShot(ms, wrapped)


def finish() -> None:
    save()
    QTimer.singleShot(500, quit_like_a_user)


def run(alg: str, params: dict) -> dict:
    import processing

    return processing.run(f"landslideai:{alg}", params, feedback=QgsProcessingFeedback())


def listed() -> None:
    import importlib.util

    provider = QgsApplication.processingRegistry().providerById("landslideai")
    STATE["algorithms"] = sorted(a.name() for a in provider.algorithms()) if provider else []
    STATE["torch_importable"] = importlib.util.find_spec("torch") is not None
    show_provider_in_toolbox()
    later(lambda: shot("01_toolbox", "toolbox: every Landslide AI algorithm, in a QGIS without torch"), 1500)
    later(chain if PHASE == "bare" else deep, 3000)


def chain() -> None:
    out = OUT / "bare_data"
    sys.path.insert(0, str(REPO / "scripts"))
    from ecuador_pipeline import SAMPLE, TORCH_FREE_TERRAIN, prepare

    prep = prepare(
        run,
        out,
        str(SAMPLE / "dem_10m.tif"),
        str(SAMPLE / "landslide_points_all.gpkg"),
        terrain_factors=TORCH_FREE_TERRAIN,
    )
    from landslide_ai.core.susceptibility.models import ALL_MODELS

    tr = run(
        "lsm_train",
        {
            "STACK": prep["stack"],
            "SAMPLES": prep["samples"],
            "MODELS": [ALL_MODELS.index("rf"), ALL_MODELS.index("gam")],
            "CV_FOLDS": 0,
            "SHAP_SAMPLES": 0,
            "OUTPUT_FOLDER": str(out / "models"),
        },
    )
    STATE["chain_table"] = Path(tr["TABLE_CSV"]).read_text()
    pr = run(
        "lsm_predict",
        {
            "MODEL": str(out / "models" / "rf.json"),
            "STACK": prep["stack"],
            "OUTPUT": str(out / "susceptibility_rf.tif"),
            "ZONING": str(out / "zoning_rf.tif"),
        },
    )
    for path, name in ((pr["ZONING"], "Susceptibility zoning (RF, no torch)"),):
        iface.addRasterLayer(path, name)
    later(lambda: shot("02_map_without_torch", "RF susceptibility zoning made without torch"), 2000)
    later(open_installer, 3500)


def open_installer() -> None:
    dlg = plugins["landslide_ai"].show_installer()
    STATE["plan"] = dlg.plan.toPlainText()
    later(lambda: shot("03_installer_plan", "installer window: what it will do, before doing anything"), 1500)
    later(lambda: install(dlg), 3000)


def install(dlg) -> None:
    from landslide_ai.plugin.installer import InstallOptions

    reqs = tuple(os.environ["LANDSLIDEAI_PACKAGES"].split())
    dlg.options = lambda: InstallOptions(torch_build="default", requirements=reqs)
    dlg.start_install()
    t0 = time.time()

    def poll() -> None:
        if dlg.task is not None and time.time() - t0 < 1500:
            later(poll, 2000)
            return
        STATE["install_seconds"] = round(time.time() - t0)
        STATE["install_log_tail"] = dlg.log.toPlainText().splitlines()[-15:]
        STATE["installed_ok"] = "Done." in dlg.log.toPlainText()
        shot("04_installer_done", "installer window after the install: log and verified versions")
        finish()

    later(poll, 2000)


def deep() -> None:
    import importlib.util

    from landslide_ai.core.susceptibility.models import ALL_MODELS

    STATE["torch_importable"] = importlib.util.find_spec("torch") is not None
    out = OUT / "bare_data"
    t0 = time.time()
    tr = run(
        "lsm_train",
        {
            "STACK": str(out / "stack.tif"),
            "SAMPLES": str(out / "samples.gpkg"),
            "MODELS": [ALL_MODELS.index("cnn")],
            "CV_FOLDS": 0,
            "SHAP_SAMPLES": 0,
            "PATCH_SIZE": 8,
            "EPOCHS": 3,
            "OUTPUT_FOLDER": str(OUT / "after_models"),
        },
    )
    STATE["deep_seconds"] = round(time.time() - t0)
    STATE["deep_table"] = Path(tr["TABLE_CSV"]).read_text()
    later(lambda: shot("02_after_install", "QGIS restarted: packages found, a CNN trained"), 1000)
    later(finish, 2500)


later(listed, 4000)
