"""Parameters of lsm_train beyond the paper's: spatial cross-validation and the deep models' options.

Why a mixin of their own: they are a family (each read back into one config object) and kept
``lsm_train.py`` over the 200-line limit of an algorithm file.
"""

from __future__ import annotations

from qgis.core import QgsProcessingParameterBoolean, QgsProcessingParameterNumber, QgsProcessingParameterString

from ..core.susceptibility.cross_validation import CVConfig
from ..core.susceptibility.fitting import TrainConfig
from .mixin_base import AlgorithmMixin
from .qgis_enums import DOUBLE


class TrainOptionParams(AlgorithmMixin):
    """Declares and reads the CV and deep-model option parameters (mixed into a LandslideAlgorithm)."""

    CV_FOLDS, CV_BLOCK, CV_BUFFER, CV_GROUPS = "CV_FOLDS", "CV_BLOCK_M", "CV_BUFFER_M", "CV_GROUP_FIELD"
    CLASS_WEIGHT, AUGMENT, ENSEMBLE, ONE_HOT = "CLASS_WEIGHT", "AUGMENT", "ENSEMBLE", "ONE_HOT"
    CENTRE_SKIP = "CENTRE_SKIP"

    def add_cv_params(self) -> None:
        """Folds (shown), block size, buffer and mapping-unit field (advanced)."""
        c = CVConfig()
        dbl = DOUBLE
        self.add(
            QgsProcessingParameterNumber(
                self.CV_FOLDS,
                "Spatial cross-validation folds (0 = single split only)",
                defaultValue=c.folds,
                minValue=0,
            )
        )
        for name, label, default in (
            (self.CV_BLOCK, "CV block size (m; 0 = the factors' correlation length)", c.block_m),
            (self.CV_BUFFER, "CV buffer between training and test samples (m)", c.buffer_m),
        ):
            self.add(QgsProcessingParameterNumber(name, label, dbl, default, minValue=0), advanced=True)
        self.add(
            QgsProcessingParameterString(
                self.CV_GROUPS, "CV groups: samples' mapping-unit field (empty: spatial blocks)", optional=True
            ),
            advanced=True,
        )

    def cv_options(self, parameters, context) -> tuple[CVConfig | None, str | None]:
        """The CV config (None for fewer than 2 folds) and the group field (None for spatial blocks)."""
        folds = self.parameterAsInt(parameters, self.CV_FOLDS, context)
        cv = None
        if folds >= 2:
            cv = CVConfig(
                folds=folds,
                block_m=self.parameterAsDouble(parameters, self.CV_BLOCK, context),
                buffer_m=self.parameterAsDouble(parameters, self.CV_BUFFER, context),
            )
        group = self.parameterAsString(parameters, self.CV_GROUPS, context).strip() or None
        return cv, group

    def add_deep_options(self) -> None:
        """Class weights, augmentation, seed ensemble, one-hot (all advanced)."""
        d = TrainConfig()
        for p in (
            QgsProcessingParameterBoolean(
                self.CLASS_WEIGHT, "Weight landslides by the absence:landslide ratio (deep models)", d.class_weight
            ),
            QgsProcessingParameterBoolean(
                self.AUGMENT, "Augment patches by rotations/mirrors (directions rotated with them)", d.augment
            ),
            QgsProcessingParameterNumber(
                self.ENSEMBLE, "Seed ensemble: members per deep model", defaultValue=d.ensemble, minValue=1, maxValue=20
            ),
            QgsProcessingParameterBoolean(self.ONE_HOT, "One-hot encode categorical factors", d.one_hot),
            QgsProcessingParameterBoolean(
                self.CENTRE_SKIP, "Give the CNN the target cell's own factor values (centre skip)", d.hp.centre_skip
            ),
        ):
            self.add(p, advanced=True)

    def centre_skip(self, parameters, context) -> bool:
        """The DeepHP ``centre_skip`` of :meth:`add_deep_options`."""
        return self.parameterAsBool(parameters, self.CENTRE_SKIP, context)

    def deep_options(self, parameters, context) -> dict:
        """The TrainConfig fields of :meth:`add_deep_options`."""
        return {
            "class_weight": self.parameterAsBool(parameters, self.CLASS_WEIGHT, context),
            "augment": self.parameterAsBool(parameters, self.AUGMENT, context),
            "ensemble": self.parameterAsInt(parameters, self.ENSEMBLE, context),
            "one_hot": self.parameterAsBool(parameters, self.ONE_HOT, context),
        }
