"""The ``landslideai`` Processing provider."""

from __future__ import annotations

from qgis.core import QgsProcessingProvider
from qgis.PyQt.QtGui import QIcon

from .base import RESOURCES


def algorithm_classes() -> list:
    """All algorithm classes, in toolbox order."""
    from .crack_algorithms import CRACK_ALGORITHMS
    from .lsm_cf_map import CfMapAlgorithm
    from .lsm_derive_terrain import DeriveTerrainAlgorithm
    from .lsm_predict import PredictAlgorithm
    from .lsm_sample_absences import SampleAbsencesAlgorithm
    from .lsm_stack_factors import StackFactorsAlgorithm
    from .lsm_train import TrainAlgorithm

    classes = [
        DeriveTerrainAlgorithm,
        StackFactorsAlgorithm,
        CfMapAlgorithm,
        SampleAbsencesAlgorithm,
        TrainAlgorithm,
        PredictAlgorithm,
        *CRACK_ALGORITHMS,
    ]
    return classes


class LandslideAIProvider(QgsProcessingProvider):
    """Provider id ``landslideai``."""

    def id(self) -> str:  # noqa: D102
        return "landslideai"

    def name(self) -> str:  # noqa: D102
        return "Landslide AI"

    def longName(self) -> str:  # noqa: D102
        return "Landslide AI: susceptibility mapping and crack classification"

    def icon(self):  # noqa: D102
        return QIcon(str(RESOURCES / "icons" / "landslideai.svg"))

    def loadAlgorithms(self) -> None:  # noqa: D102
        for cls in algorithm_classes():
            self.addAlgorithm(cls())
