"""Run in a fresh interpreter by test_without_optional_packages.py: QGIS with no torch & co.

Blocks every optional package (``blocker.OPTIONAL``), loads the plugin through ``classFactory`` as
QGIS does, then runs the torch-free susceptibility chain on the bundled Ecuador sample:
terrain -> stack -> CF map -> absences -> RF + GLM + GAM -> map -> evaluation. Prints one JSON
object on the last line for the test to check. Usage: ``python chain_without_optional.py OUT_DIR``.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
import blocker  # noqa: E402

blocker.block()
link = Path(tempfile.mkdtemp(prefix="lsai_min_"))
(link / "landslide_ai").symlink_to(ROOT, target_is_directory=True)
sys.path.insert(0, str(link))
sys.path.insert(0, "/usr/share/qgis/python/plugins")
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def main(out: Path) -> dict:
    """Everything the test asserts, as plain values."""
    from qgis.core import QgsApplication, QgsProcessingContext, QgsProcessingException, QgsProcessingFeedback

    app = QgsApplication([], False)
    app.initQgis()
    from processing.core.Processing import Processing

    Processing.initialize()
    import processing

    import landslide_ai

    plugin = landslide_ai.classFactory(None)  # what qgis_process and the desktop call
    plugin.initProcessing()
    reg = QgsApplication.processingRegistry()
    provider = reg.providerById("landslideai")
    algs = {a.name(): a for a in provider.algorithms()}
    can = {name: list(a.canExecute()) for name, a in algs.items()}
    log: list[str] = []

    class Feedback(QgsProcessingFeedback):
        def pushWarning(self, text: str) -> None:
            log.append(text)

        def pushInfo(self, text: str) -> None:
            log.append(text)

        def pushDebugInfo(self, text: str) -> None:
            if os.environ.get("LSAI_DEBUG"):
                print(text, file=sys.stderr)

    def run(alg: str, params: dict) -> dict:
        return processing.run(f"landslideai:{alg}", params, context=QgsProcessingContext(), feedback=Feedback())

    sys.path.insert(0, str(ROOT / "scripts"))
    from ecuador_pipeline import SAMPLE, TORCH_FREE_TERRAIN, prepare

    prep = prepare(
        run,
        out,
        str(SAMPLE / "dem_10m.tif"),
        str(SAMPLE / "landslide_points_all.gpkg"),
        terrain_factors=TORCH_FREE_TERRAIN,
    )
    from landslide_ai.core.susceptibility.models import ALL_MODELS

    tabular = [ALL_MODELS.index(m) for m in ("rf", "glm", "gam")]
    base = {"STACK": prep["stack"], "SAMPLES": prep["samples"], "CV_FOLDS": 0, "SHAP_SAMPLES": 0, "PATCH_SIZE": 8}
    trained = run("lsm_train", base | {"MODELS": tabular, "OUTPUT_FOLDER": str(out / "models")})
    refused = ""
    try:
        run("lsm_train", base | {"MODELS": [ALL_MODELS.index("cnn")], "OUTPUT_FOLDER": str(out / "deep")})
    except QgsProcessingException as exc:
        refused = str(exc)
    pred = run(
        "lsm_predict",
        {
            "MODEL": str(out / "models" / "rf.json"),
            "STACK": prep["stack"],
            "OUTPUT": str(out / "susceptibility_rf.tif"),
            "ZONING": str(out / "zoning_rf.tif"),
        },
    )
    ev = run(
        "lsm_evaluate",
        {
            "SUSCEPTIBILITY": pred["OUTPUT"],
            "INVENTORY": prep["samples"],
            "PRESENCE_FIELD": "label",
            "SPLIT_FIELD": "split",
            "OUTPUT_HTML": str(out / "evaluation_rf.html"),
        },
    )
    crack_refused = ""
    try:
        run(
            "crack_predict",
            {"INPUT": str(SAMPLE / "dem_10m.tif"), "OUTPUT": str(out / "c.tif"), "CHIPS": str(out / "c.gpkg")},
        )
    except QgsProcessingException as exc:
        crack_refused = str(exc)
    torch_loaded = any(m.split(".")[0] in blocker.OPTIONAL for m in sys.modules)
    result = {
        "algorithms": sorted(algs),
        "can_execute": can,
        "help_lsm_train": algs["lsm_train"].shortHelpString(),
        "terrain": [Path(p).name for p in prep["terrain_layers"]],
        "log": log,
        "trained_csv": Path(trained["TABLE_CSV"]).read_text(encoding="utf-8"),
        "deep_refused": refused,
        "deep_folder_exists": (out / "deep" / "cnn.json").exists(),
        "susceptibility": pred["OUTPUT"],
        "evaluation_html": ev["OUTPUT_HTML"],
        "crack_refused": crack_refused,
        "optional_module_loaded": torch_loaded,
    }
    app.exitQgis()
    return result


if __name__ == "__main__":
    print(json.dumps(main(Path(sys.argv[1]))))
