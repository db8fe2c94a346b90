"""The type the parameter mixins are written against: the algorithm they are mixed into.

Why: ``LayerReading``, ``OutputGuard``, ``TrainOptionParams`` and ``ChipParams`` call
``parameterAs*`` and ``add`` on ``self``; at run time they are mixed into ``LandslideAlgorithm``
(a ``QgsProcessingAlgorithm``), but on their own mypy saw objects without those methods. For the
type checker they derive from ``QgsProcessingAlgorithm`` plus what ``LandslideAlgorithm`` adds; at
run time from ``object``, so the method resolution order of the algorithms is unchanged.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from qgis.core import QgsProcessingAlgorithm, QgsProcessingParameterDefinition

    class AlgorithmMixin(QgsProcessingAlgorithm):
        """What a mixin may use of the algorithm (``LandslideAlgorithm``) it is mixed into."""

        _styles: list[tuple[str, str, str | None]]
        _loads: list[tuple[str, str]]

        def add(self, param: QgsProcessingParameterDefinition, advanced: bool = False) -> None:
            """Add a parameter (flagged advanced on request)."""

else:
    AlgorithmMixin = object
