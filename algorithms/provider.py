"""The ``landslideai`` Processing provider."""

from __future__ import annotations

from qgis.core import QgsProcessingModelAlgorithm, QgsProcessingProvider
from qgis.PyQt.QtGui import QIcon

from .base import RESOURCES


def algorithm_classes() -> list:
    """All algorithm classes, in toolbox order."""
    from .crack_adapt import CrackAdaptAlgorithm
    from .crack_evaluate import CrackEvaluateAlgorithm
    from .crack_evaluate_scene import CrackEvaluateSceneAlgorithm
    from .crack_gradcam import CrackGradcamAlgorithm
    from .crack_predict import CrackPredictAlgorithm
    from .crack_tile import CrackTileAlgorithm
    from .crack_train import CrackTrainAlgorithm
    from .lsm_aggregate_units import AggregateUnitsAlgorithm
    from .lsm_cf_map import CfMapAlgorithm
    from .lsm_derive_terrain import DeriveTerrainAlgorithm
    from .lsm_evaluate import EvaluateAlgorithm
    from .lsm_predict import PredictAlgorithm
    from .lsm_sample_absences import SampleAbsencesAlgorithm
    from .lsm_stack_factors import StackFactorsAlgorithm
    from .lsm_train import TrainAlgorithm
    from .model_convert import ConvertModelAlgorithm
    from .model_export_onnx import ExportOnnxAlgorithm

    classes = [
        DeriveTerrainAlgorithm,
        StackFactorsAlgorithm,
        CfMapAlgorithm,
        SampleAbsencesAlgorithm,
        TrainAlgorithm,
        EvaluateAlgorithm,
        PredictAlgorithm,
        AggregateUnitsAlgorithm,
        ExportOnnxAlgorithm,
        ConvertModelAlgorithm,
        CrackTileAlgorithm,
        CrackTrainAlgorithm,
        CrackPredictAlgorithm,
        CrackGradcamAlgorithm,
        CrackAdaptAlgorithm,
        CrackEvaluateAlgorithm,
        CrackEvaluateSceneAlgorithm,
    ]
    return classes


class LandslideAIProvider(QgsProcessingProvider):
    """Provider id ``landslideai``."""

    def id(self) -> str:
        return "landslideai"

    def name(self) -> str:
        return "Landslide AI"

    def longName(self) -> str:
        return "Landslide AI: susceptibility mapping and crack classification"

    def icon(self):
        return QIcon(str(RESOURCES / "icons" / "landslideai.svg"))

    def __init__(self) -> None:
        super().__init__()
        self._registered = False

    def loadAlgorithms(self) -> None:
        """The algorithms, then the Model Designer workflows of resources/workflows.

        A model's children are resolved through the registry, which does not hold this provider
        while it first loads; so the workflows are added by a refresh once the registry has it.
        """
        for cls in algorithm_classes():
            self.addAlgorithm(cls())
        from qgis.core import QgsApplication

        reg = QgsApplication.processingRegistry()
        if reg.providerById(self.id()) is self:
            for alg in workflow_models():
                self.addAlgorithm(alg)
        elif not self._registered:
            self._registered = True
            reg.providerAdded.connect(self._on_provider_added)

    def _on_provider_added(self, provider_id: str) -> None:
        if provider_id == self.id():
            from qgis.core import QgsApplication

            QgsApplication.processingRegistry().providerAdded.disconnect(self._on_provider_added)
            self.refreshAlgorithms()


#: what the toolbox and menus show for each workflow (a model's own name is also its id, kept stable)
WORKFLOW_TITLES = {
    "susceptibility_workflow": "Susceptibility mapping workflow",
    "crack_workflow": "Crack mapping workflow",
}


def workflow_models() -> list:
    """The .model3 files of resources/workflows as algorithms (group "5 Workflows (models)")."""
    out = []
    for path in sorted((RESOURCES / "workflows").glob("*.model3")):
        m = _workflow(str(path))
        if m is not None:
            out.append(m)
    return out


class _Workflow(QgsProcessingModelAlgorithm):
    """A shipped model whose display name is a title, not its id (``crack_workflow``)."""

    def displayName(self) -> str:
        return WORKFLOW_TITLES.get(self.name(), self.name())

    def createInstance(self):
        return _workflow(self.sourceFilePath())


def _workflow(path: str) -> _Workflow | None:
    """The model of ``path``, or None when QGIS cannot read it."""
    m = _Workflow()
    if not m.fromFile(path):
        return None
    m.setSourceFilePath(path)
    return m
