"""Test set-up shared by the three tiers.

The repository root is the plugin folder, whose installed name is not ours; tests import it as
the package ``landslide_ai`` through a symlink in a temporary folder, exactly as QGIS would
import an installed plugin. QGIS-dependent fixtures start one headless ``QgsApplication``.
"""

from __future__ import annotations

import base64
import hashlib
import os
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
_LINKDIR = Path(tempfile.mkdtemp(prefix="lsai_pkg_"))
(_LINKDIR / "landslide_ai").symlink_to(ROOT, target_is_directory=True)
sys.path.insert(0, str(_LINKDIR))
sys.path.insert(0, str(ROOT / "scripts"))  # processing_chain: the Processing steps chained as scripts chain them
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

SAMPLE = ROOT / "sample_data" / "ecuador_rbsf"


@pytest.fixture(scope="session")
def qgis_app():
    """One QGIS application (GUI-enabled, offscreen: the dock tests need widgets) with Processing."""
    sys.path.insert(0, "/usr/share/qgis/python/plugins")
    from processing_chain import start_headless
    from qgis.core import QgsApplication

    app = start_headless(gui=True)
    yield app
    reg = QgsApplication.processingRegistry()
    if reg.providerById("landslideai") is not None:
        reg.removeProvider("landslideai")


@pytest.fixture(scope="session")
def run_alg(qgis_app):
    """``run_alg("lsm_train", params)``: processing.run of a Landslide AI algorithm with a fresh context."""
    import processing
    from qgis.core import QgsProcessingContext, QgsProcessingFeedback, QgsProject

    def _run(alg: str, params: dict) -> dict:
        ctx = QgsProcessingContext()
        ctx.setProject(QgsProject.instance())
        return processing.run(f"landslideai:{alg}", params, context=ctx, feedback=QgsProcessingFeedback())

    return _run


def train_params(stack: str, samples: str, out, models: list[int], epochs: int = 2, **extra) -> dict:
    """``lsm_train`` parameters for a quick test run: no CV, 8-cell patches, no SHAP unless asked."""
    return {
        "STACK": stack,
        "SAMPLES": samples,
        "CV_FOLDS": 0,
        "MODELS": models,
        "PATCH_SIZE": 8,
        "EPOCHS": epochs,
        "SHAP_SAMPLES": 0,
        "OUTPUT_FOLDER": str(out),
    } | extra


#: the plugin menu's submenus as a user sees them, in order (the desktop and the plugin tests check it)
MENU_ORDER = [
    "1 Prepare factors",
    "2 Sample",
    "3 Train & evaluate",
    "4 Map & interpret",
    "Cracks",
    "5 Workflows (models)",
]

#: the pixel grid of the synthetic orthomosaics (2 cm pixels, UTM 33N)
ORTHO_TRANSFORM = (0.02, 0, 638838.7, 0, -0.02, 5802604.9)


def write_raster(path, arr, transform=(30.0, 0, 500000.0, 0, -30.0, 9560000.0), crs="EPSG:32717", nodata=-9999.0):
    """Write a GeoTIFF of 1 band or (bands, h, w): float32, or uint8 when ``arr`` is uint8 (images)."""
    import rasterio
    from affine import Affine

    arr = np.asarray(arr) if np.asarray(arr).dtype == np.uint8 else np.asarray(arr, np.float32)
    if arr.dtype == np.uint8:
        nodata = None
    if arr.ndim == 2:
        arr = arr[None]
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=arr.shape[2],
        height=arr.shape[1],
        count=arr.shape[0],
        dtype=arr.dtype.name,
        crs=crs,
        transform=Affine(*transform),
        nodata=nodata,
    ) as ds:
        ds.write(arr)
    return str(path)


@pytest.fixture(scope="session")
def tiny_factors(tmp_path_factory):
    """Three seeded 60x60 factor rasters on a 30 m UTM grid plus landslide points on steep cells."""
    tmp_path = tmp_path_factory.mktemp("factors")
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:60, 0:60]
    elev = 2000 + 10 * yy + rng.normal(0, 2, (60, 60))
    slope = 40 * np.exp(-((xx - 30) ** 2) / 200.0) + rng.normal(0, 1, (60, 60))
    twi = 5 + 0.05 * xx + rng.normal(0, 0.3, (60, 60))
    paths = {n: write_raster(tmp_path / f"{n}.tif", a) for n, a in (("elev", elev), ("slope", slope), ("twi", twi))}
    cand = np.argwhere(slope > 30)
    pick = cand[rng.choice(len(cand), 40, replace=False)]
    xs = 500000.0 + (pick[:, 1] + 0.5) * 30
    ys = 9560000.0 - (pick[:, 0] + 0.5) * 30
    from landslide_ai.core.sampling.points import write_points

    inv = str(tmp_path / "inventory.gpkg")
    from rasterio.crs import CRS

    write_points(inv, CRS.from_epsg(32717).to_wkt(), xs, ys, {"lslpts": np.ones(len(xs), np.int32)})
    return paths, inv


@pytest.fixture(scope="session")
def tiny_samples(tiny_factors, tmp_path_factory):
    """(stack, samples, landslide points): the tiny factors stacked, absences by a 90 m buffer, 450 m blocks.

    One spelling for the core tier's training tests (they used to build the same pair each).
    """
    from rasterio.crs import CRS

    from landslide_ai.core.raster.stack import FactorSpec, stack_factors
    from landslide_ai.core.sampling.absences import SamplingConfig, Strategy, sample_absences, write_samples
    from landslide_ai.core.sampling.points import read_points

    paths, inv = tiny_factors
    d = tmp_path_factory.mktemp("tiny_samples")
    wkt = CRS.from_epsg(32717).to_wkt()
    stack = str(d / "stack.tif")
    stack_factors([FactorSpec(p, n) for n, p in paths.items()], stack)
    pts = read_points(inv, wkt)
    cfg = SamplingConfig(strategy=Strategy.BUFFER, buffer_m=90, block_size_m=450, min_spacing_m=30)
    samples = str(d / "samples.gpkg")
    write_samples(sample_absences(stack, pts, cfg), wkt, samples, "buffer")
    return stack, samples, pts


sys.path.insert(0, str(Path(__file__).resolve().parent / "reliability"))
pytest_plugins = ["rel_fixtures"]  # the reliability tier's fixtures (world, sandbox, refused, run_fb)


def make_wheel(folder: Path, name: str, version: str, code: str = "", requires: tuple[str, ...] = ()) -> Path:
    """A minimal pure-Python wheel: one module ``name`` with ``code`` and ``__version__``."""
    dist = f"{name}-{version}.dist-info"
    files = {
        f"{name}/__init__.py": f"__version__ = {version!r}\n{code}",
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
        + "".join(f"Requires-Dist: {r}\n" for r in requires),
        f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: landslide-ai-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(text.encode())}")
    record.append(f"{dist}/RECORD,,")
    files[f"{dist}/RECORD"] = "\n".join(record) + "\n"
    whl = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(whl, "w") as z:
        for path, text in files.items():
            z.writestr(path, text)
    return whl


@pytest.fixture
def count_opens(monkeypatch):
    """A counting spy on file opens: ``counts = count_opens(path, ...)`` starts it; ``counts[path]`` grows.

    Both ``open`` and ``io.open`` (what ``Path.read_text`` uses) are wrapped; ``monkeypatch.undo()``
    or the end of the test stops it. Used to test that a run reads its card and weights once.
    """
    import builtins
    import io

    def start(*paths):
        counts = {Path(p).resolve(): 0 for p in paths}
        real = builtins.open

        def spy(f, *a, **k):
            if isinstance(f, (str, Path)) and Path(f).resolve() in counts:
                counts[Path(f).resolve()] += 1
            return real(f, *a, **k)

        monkeypatch.setattr(builtins, "open", spy)
        monkeypatch.setattr(io, "open", spy)
        return counts

    return start


@pytest.fixture(scope="module")
def crack_model(tmp_path_factory):
    d = tmp_path_factory.mktemp("crackmodel")
    from helpers import make_set

    from landslide_ai.core.cracks.train import CrackTrainConfig, train_crack_model

    tgt = make_set(d / "imgs", n=12)
    card, _ = train_crack_model(tgt, str(d / "m"), CrackTrainConfig(arch="cnn", input_px=48, epochs=2, batch_size=8))
    return card


@pytest.fixture(scope="module")
def lsm_models(tiny_samples, tmp_path_factory):
    """CNN-LSTM-AM at patch 18 (dense graph, a 2-member ensemble), CNN at patch 8 (patch graph), LSTM, RF."""
    from landslide_ai.core.susceptibility.train import TrainConfig, prepare, train_all

    stack, samples, _ = tiny_samples
    d = tmp_path_factory.mktemp("onnx_lsm")
    cards = {}
    for patch, models, ens in ((18, ("cnn_lstm_am",), 2), (8, ("cnn", "lstm", "rf"), 1)):
        cfg = TrainConfig(models=models, patch_size=patch, epochs=2, batch_size=16, rf_trees=10, ensemble=ens)
        for r in train_all(prepare(stack, samples, cfg), cfg, str(d / f"m{patch}")):
            cards[r.kind] = r.card_path
    return stack, cards, d
