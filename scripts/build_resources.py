"""Write resources/styles/*.qml and resources/workflows/*.model3 from their single sources.

Styles come from ``algorithms.styling.STATIC_STYLES`` (the functions outputs are styled with);
the Model Designer models are built here with the QGIS model API rather than hand-edited XML, so
that a renamed parameter breaks this script (and the tests) instead of silently breaking a model.

Run with QGIS's Python:  .venv/bin/python scripts/build_resources.py
(A test checks that the committed files equal what this script writes.)
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GROUP_ID = "workflows"
GROUP = "5 Workflows (models)"  # = algorithms.base.GROUPS["workflows"]


def _import_plugin():
    """Import the repository as the package ``landslide_ai`` (its installed name is not ours)."""
    link = Path(tempfile.mkdtemp(prefix="lsai_build_")) / "landslide_ai"
    link.symlink_to(ROOT, target_is_directory=True)
    sys.path.insert(0, str(link.parent))
    import landslide_ai

    return landslide_ai


def _child(alg_id: str, child_id: str, description: str, x: float, y: float):
    from qgis.core import QgsProcessingModelChildAlgorithm
    from qgis.PyQt.QtCore import QPointF

    c = QgsProcessingModelChildAlgorithm(alg_id)
    c.setChildId(child_id)
    c.setDescription(description)
    c.setPosition(QPointF(x, y))
    return c


def _param(model, param, x: float, y: float) -> None:
    from qgis.core import QgsProcessingModelParameter
    from qgis.PyQt.QtCore import QPointF

    mp = QgsProcessingModelParameter(param.name())
    mp.setPosition(QPointF(x, y))
    model.addModelParameter(param, mp)


def _src(**kw):
    """Parameter sources: model=..., child=(id, output), value=..., expression=..."""
    from qgis.core import QgsProcessingModelChildParameterSource as S

    if "model" in kw:
        return [S.fromModelParameter(kw["model"])]
    if "child" in kw:
        return [S.fromChildOutput(*kw["child"])]
    if "expression" in kw:
        return [S.fromExpression(kw["expression"])]
    return [S.fromStaticValue(kw["value"])]


def _output(child, child_output: str, name: str, x: float, y: float) -> None:
    from qgis.core import QgsProcessingModelOutput
    from qgis.PyQt.QtCore import QPointF

    o = QgsProcessingModelOutput(name)
    o.setChildOutputName(child_output)
    o.setChildId(child.childId())
    o.setPosition(QPointF(x, y))
    outs = dict(child.modelOutputs())
    outs[name] = o
    child.setModelOutputs(outs)


def susceptibility_model():
    """Stack -> CF map -> sample absences -> train and compare -> map with the best-CV model -> evaluate."""
    from qgis.core import (
        QgsProcessingModelAlgorithm,
        QgsProcessingParameterEnum,
        QgsProcessingParameterMultipleLayers,
        QgsProcessingParameterNumber,
        QgsProcessingParameterString,
        QgsProcessingParameterVectorLayer,
    )

    from landslide_ai.algorithms.qgis_enums import RASTER, VECTOR_POINT  # build() imported the plugin first

    m = QgsProcessingModelAlgorithm("susceptibility_workflow", GROUP, GROUP_ID)
    m.setName("susceptibility_workflow")
    _param(m, QgsProcessingParameterMultipleLayers("factors", "Factor rasters", RASTER), 100, 60)
    _param(m, QgsProcessingParameterString("names", "Factor names (comma-separated, in order)"), 300, 60)
    _param(
        m,
        QgsProcessingParameterVectorLayer("inventory", "Landslide inventory (points)", [VECTOR_POINT]),
        500,
        60,
    )
    _param(
        m,
        QgsProcessingParameterString(
            "presence_field",
            "Presence field of the inventory (empty: every point is a landslide)",
            optional=True,
        ),
        500,
        120,
    )
    _param(m, QgsProcessingParameterNumber("resolution", "Grid resolution (m)", 1, 30.0, minValue=0.1), 700, 60)
    _param(
        m,
        QgsProcessingParameterEnum(
            "strategy",
            "Absence sampling strategy",
            ["(a) buffer exclusion", "(b) slope threshold", "(c) CF low-risk zones"],
            defaultValue=2,
        ),
        900,
        60,
    )
    _param(m, QgsProcessingParameterNumber("epochs", "Maximum epochs", 0, 30, minValue=1), 1100, 60)
    _param(
        m,
        QgsProcessingParameterNumber("block_size", "Spatial block size for the split (m)", 1, 1000.0, minValue=1),
        1300,
        60,
    )

    stack = _child("landslideai:lsm_stack_factors", "stack", "Stack factors onto one grid", 200, 180)
    stack.addParameterSources("FACTORS", _src(model="factors"))
    stack.addParameterSources("NAMES", _src(model="names"))
    stack.addParameterSources("RESOLUTION", _src(model="resolution"))
    m.addChildAlgorithm(stack)

    cf = _child("landslideai:lsm_cf_map", "cf", "Certainty-factor map", 400, 280)
    cf.addParameterSources("STACK", _src(child=("stack", "OUTPUT")))
    cf.addParameterSources("INVENTORY", _src(model="inventory"))
    cf.addParameterSources("PRESENCE_FIELD", _src(model="presence_field"))
    _output(cf, "ZONING", "CF zoning", 600, 300)
    m.addChildAlgorithm(cf)

    sample = _child("landslideai:lsm_sample_absences", "sample", "Sample absences (spatial blocks)", 200, 380)
    sample.addParameterSources("STACK", _src(child=("stack", "OUTPUT")))
    sample.addParameterSources("INVENTORY", _src(model="inventory"))
    sample.addParameterSources("PRESENCE_FIELD", _src(model="presence_field"))
    sample.addParameterSources("STRATEGY", _src(model="strategy"))
    sample.addParameterSources("CF_ZONING", _src(child=("cf", "ZONING")))
    sample.addParameterSources("BLOCK_SIZE_M", _src(model="block_size"))
    _output(sample, "OUTPUT", "Samples", 420, 400)
    m.addChildAlgorithm(sample)

    train = _child("landslideai:lsm_train", "train", "Train and compare models", 200, 480)
    train.addParameterSources("STACK", _src(child=("stack", "OUTPUT")))
    train.addParameterSources("SAMPLES", _src(child=("sample", "OUTPUT")))
    train.addParameterSources("EPOCHS", _src(model="epochs"))
    _output(train, "OUTPUT_FOLDER", "Models and comparison", 420, 500)
    m.addChildAlgorithm(train)

    predict = _child("landslideai:lsm_predict", "predict", "Susceptibility map and zoning", 200, 580)
    predict.addParameterSources("MODEL", _src(child=("train", "MODEL_CARD")))
    predict.addParameterSources("STACK", _src(child=("stack", "OUTPUT")))
    predict.addParameterSources("INVENTORY", _src(model="inventory"))
    predict.addParameterSources("PRESENCE_FIELD", _src(model="presence_field"))
    _output(predict, "OUTPUT", "Susceptibility", 420, 580)
    _output(predict, "ZONING", "Susceptibility zoning", 420, 620)
    _output(predict, "ZONE_TABLE", "Zone table", 420, 660)
    m.addChildAlgorithm(predict)

    # independent of how absences were drawn: the map's rate curves against all valid cells. The
    # mapped model is refit on all samples after CV, so lsm_evaluate reads the map's metadata and
    # reports the 'test' rows as training landslides (success rate); held-out skill is lsm_train's CV
    evaluate = _child("landslideai:lsm_evaluate", "evaluate", "Evaluate the map (rate curves)", 200, 700)
    evaluate.addParameterSources("SUSCEPTIBILITY", _src(child=("predict", "OUTPUT")))
    evaluate.addParameterSources("INVENTORY", _src(child=("sample", "OUTPUT")))
    evaluate.addParameterSources("PRESENCE_FIELD", _src(value="label"))
    evaluate.addParameterSources("SPLIT_FIELD", _src(value="split"))
    _output(evaluate, "OUTPUT_HTML", "Evaluation report", 420, 720)
    m.addChildAlgorithm(evaluate)
    m.setHelpContent(help_content(m.name()))
    return m


def crack_model():
    """Tile -> predict -> Grad-CAM over an orthomosaic with a trained crack model card."""
    from qgis.core import (
        QgsProcessingModelAlgorithm,
        QgsProcessingParameterFile,
        QgsProcessingParameterNumber,
        QgsProcessingParameterRasterLayer,
    )

    m = QgsProcessingModelAlgorithm("crack_workflow", GROUP, GROUP_ID)
    m.setName("crack_workflow")
    _param(m, QgsProcessingParameterRasterLayer("orthomosaic", "Orthomosaic (8-bit RGB, projected CRS)"), 100, 60)
    _param(
        m, QgsProcessingParameterFile("model", "Crack model card (.json from crack_train)", extension="json"), 300, 60
    )
    _param(
        m,
        QgsProcessingParameterNumber("alpha", "Alpha band (-1 = declared alpha, 0 = none)", 0, -1, minValue=-1),
        500,
        60,
    )
    _param(m, QgsProcessingParameterNumber("chip", "Chip size (px)", 0, 227, minValue=8), 700, 60)
    _param(m, QgsProcessingParameterNumber("stride", "Stride (px)", 0, 113, minValue=1), 900, 60)

    def chips(c) -> None:
        c.addParameterSources("INPUT", _src(model="orthomosaic"))
        c.addParameterSources("ALPHA_BAND", _src(model="alpha"))
        c.addParameterSources("CHIP_PX", _src(model="chip"))
        c.addParameterSources("STRIDE_PX", _src(model="stride"))

    tile = _child("landslideai:crack_tile", "tile", "Tile orthomosaic into chips", 200, 180)
    chips(tile)
    _output(tile, "OUTPUT", "Chip grid", 420, 200)
    m.addChildAlgorithm(tile)

    predict = _child("landslideai:crack_predict", "predict", "Crack probability", 200, 300)
    chips(predict)
    predict.addParameterSources("MODEL", _src(model="model"))
    predict.setDependencies([_dependency("tile")])
    _output(predict, "OUTPUT", "Crack probability", 420, 300)
    _output(predict, "CHIPS", "Chips with probability", 420, 340)
    m.addChildAlgorithm(predict)

    cam = _child("landslideai:crack_gradcam", "gradcam", "Grad-CAM heatmap", 200, 420)
    chips(cam)
    cam.addParameterSources("MODEL", _src(model="model"))
    cam.setDependencies([_dependency("predict")])
    _output(cam, "GRADCAM", "Grad-CAM", 420, 440)
    m.addChildAlgorithm(cam)
    m.setHelpContent(help_content(m.name()))
    return m


def help_content(name: str) -> dict:
    """The model's help from resources/help/<name>.json, the one source every algorithm's help comes from."""
    import json

    h = json.loads((ROOT / "resources" / "help" / f"{name}.json").read_text(encoding="utf-8"))
    content = {"ALG_DESC": h["description"], "ALG_CREATOR": "Landslide AI", "ALG_HELP_CREATOR": "Landslide AI"}
    content["ALG_DESC"] += f"<p><i>Method: {h['reference']}</i></p>"
    content.update(h["parameters"])
    return content


def _dependency(child_id: str):
    from qgis.core import QgsProcessingModelChildDependency

    return QgsProcessingModelChildDependency(child_id)


WORKFLOWS = {"susceptibility_workflow.model3": susceptibility_model, "crack_workflow.model3": crack_model}


def build(out_dir: Path | None = None) -> list[Path]:
    """Write the styles and models; returns the written paths. Needs a running QgsApplication."""
    _import_plugin()
    from qgis.core import QgsApplication

    from landslide_ai.algorithms.provider import LandslideAIProvider
    from landslide_ai.algorithms.styling import write_static_styles

    reg = QgsApplication.processingRegistry()
    provider = None
    if reg.providerById("landslideai") is None:  # children must resolve so that model outputs get their types
        provider = LandslideAIProvider()
        reg.addProvider(provider)

    written = write_static_styles()
    out = out_dir or ROOT / "resources" / "workflows"
    out.mkdir(parents=True, exist_ok=True)
    for name, make in WORKFLOWS.items():
        m = make()
        if not m.toFile(str(out / name)):
            raise OSError(f"could not write {out / name}")
        written.append(out / name)
    if provider is not None:
        reg.removeProvider(provider)
    return written


if __name__ == "__main__":
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from qgis.core import QgsApplication

    app = QgsApplication([], False)
    app.initQgis()
    for p in build():
        print(p.relative_to(ROOT))
