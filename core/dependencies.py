"""The one table of Python packages Landslide AI needs, and their status in this interpreter.

Why a table: QGIS users install the plugin from a zip into a Python they do not control (the
distribution's, OSGeo4W's, the macOS bundle's). The plugin must never pip-install behind their
back, so it says, per algorithm, exactly which package is missing or too old and how to install
it. ``algorithms.base.LandslideAlgorithm.canExecute`` and the Diagnostics dialog both read this
table, so the message and the dialog cannot disagree.
"""

from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass
from functools import cache
from importlib import metadata


@dataclass(frozen=True)
class Dependency:
    """One required package: its import name, distribution name, minimum version and install hint."""

    module: str
    distribution: str
    minimum: str
    install: str
    purpose: str


def _apt(module: str, pip: str | None = None) -> str:
    return f"Debian: apt install python3-{module}; else pip install {pip or module}"


#: import name -> requirement. Minimums are the oldest versions the test suite has run against
#: or whose APIs we use (optuna GPSampler needs 4.0, torchvision v2 transforms 0.17, captum
#: LayerGradCam 0.7). GDAL-linked packages come from the distribution, so their hint is apt.
DEPENDENCIES: dict[str, Dependency] = {
    d.module: d
    for d in (
        Dependency("numpy", "numpy", "1.23", "comes with QGIS", "arrays"),
        Dependency("osgeo", "GDAL", "3.4", "comes with QGIS (Debian: python3-gdal)", "raster/vector I/O"),
        Dependency("rasterio", "rasterio", "1.3", _apt("rasterio"), "windowed I/O"),
        Dependency("sklearn", "scikit-learn", "1.1", _apt("sklearn", "scikit-learn"), "RF, metrics"),
        Dependency("shapely", "shapely", "1.8", _apt("shapely", "shapely"), "mapping units, held-out areas"),
        Dependency("matplotlib", "matplotlib", "3.5", "comes with QGIS (Debian: python3-matplotlib)", "report figures"),
        Dependency("torch", "torch", "2.2", "pip install torch", "deep models"),
        Dependency("torchvision", "torchvision", "0.17", "pip install torchvision", "ResNet50, transforms"),
        Dependency("xgboost", "xgboost", "2.0", "pip install xgboost", "XGBoost-LR baseline"),
        Dependency("optuna", "optuna", "4.0", "pip install optuna", "Bayesian search (GPSampler)"),
        Dependency("shap", "shap", "0.45", "pip install shap", "SHAP importance"),
        Dependency("captum", "captum", "0.7", "pip install captum", "Grad-CAM"),
        Dependency("pysheds", "pysheds", "0.4", "pip install pysheds", "flow accumulation for TWI"),
        Dependency("jenkspy", "jenkspy", "0.4", "pip install jenkspy", "natural-breaks zoning"),
        Dependency("pyqtgraph", "pyqtgraph", "0.12", _apt("pyqtgraph"), "dock plots"),
    )
}


@dataclass(frozen=True)
class Status:
    """What this interpreter has of one dependency."""

    dependency: Dependency
    installed: str | None  # version string, or None when the module cannot be found

    @property
    def ok(self) -> bool:
        """Importable and at least the minimum version."""
        return self.installed is not None and _version_tuple(self.installed) >= _version_tuple(self.dependency.minimum)

    @property
    def problem(self) -> str:
        """Empty when fine; else what is wrong and how to fix it."""
        d = self.dependency
        if self.installed is None:
            return f"{d.distribution} is not installed ({d.install})"
        if not self.ok:
            return f"{d.distribution} {self.installed} is older than {d.minimum} ({d.install} --upgrade)"
        return ""


def _version_tuple(v: str) -> tuple[int, ...]:
    """Leading numeric parts of a version ('2.15.0+cu132' -> (2, 15, 0), '0.13rc1' -> (0, 13))."""
    m = re.match(r"\d+(?:\.\d+)*", v.strip())
    return tuple(int(x) for x in m.group(0).split(".")) if m else (0,)


@cache
def status(module: str) -> Status:
    """Status of one dependency of the table (cached: the interpreter does not change while QGIS runs)."""
    dep = DEPENDENCIES[module]
    if importlib.util.find_spec(module) is None:
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


def problems(modules: tuple[str, ...]) -> list[str]:
    """One message per module of ``modules`` that is missing or too old (unknown modules: import check only)."""
    out = []
    for m in modules:
        if m in DEPENDENCIES:
            s = status(m)
            if not s.ok:
                out.append(s.problem)
        elif importlib.util.find_spec(m) is None:
            out.append(f"{m} is not installed (pip install {m})")
    return out


def all_status() -> list[Status]:
    """Status of every package of the table, in table order."""
    return [status(m) for m in DEPENDENCIES]
