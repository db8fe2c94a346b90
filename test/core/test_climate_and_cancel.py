"""The paper's temporal branch with a real 12 x 2 climate stack, and cancellation."""

import numpy as np
import pytest
import rasterio
from rasterio.crs import CRS

from conftest import write_raster
from landslide_ai.core.errors import Canceled, ModelLoadError
from landslide_ai.core.raster.grid import Grid
from landslide_ai.core.raster.stack import FactorSpec, monthly_specs, stack_factors
from landslide_ai.core.sampling.absences import SamplingConfig, Strategy, sample_absences, write_samples
from landslide_ai.core.sampling.points import read_points
from landslide_ai.core.susceptibility.comparison import run_training
from landslide_ai.core.susceptibility.dataset import TemporalMode
from landslide_ai.core.susceptibility.predict import predict_stack
from landslide_ai.core.susceptibility.train import TrainConfig

WKT = CRS.from_epsg(32717).to_wkt()


class CancelAfter:
    """Progress that asks to cancel after ``n`` checks."""

    def __init__(self, n):
        self.n = n

    def report(self, fraction, message=""):
        pass

    def log(self, message):
        pass

    def is_canceled(self):
        self.n -= 1
        return self.n < 0


@pytest.fixture(scope="module")
def climate_setup(tiny_factors, tmp_path_factory):
    paths, inv = tiny_factors
    d = tmp_path_factory.mktemp("climate")
    stack = str(d / "stack.tif")
    stack_factors([FactorSpec(p, n) for n, p in paths.items()], stack)
    # 60 m climate rasters (coarser than the 30 m factors), seasonal cycle varying across the area
    xx = np.arange(30)[None, :].repeat(30, 0)
    rain = [
        write_raster(
            d / f"r{m}.tif",
            100 + 50 * np.sin(m / 12 * 2 * np.pi) + xx,
            transform=(60.0, 0, 500000.0, 0, -60.0, 9560000.0),
        )
        for m in range(12)
    ]
    temp = [
        write_raster(
            d / f"t{m}.tif",
            15 + 5 * np.cos(m / 12 * 2 * np.pi) - 0.1 * xx,
            transform=(60.0, 0, 500000.0, 0, -60.0, 9560000.0),
        )
        for m in range(12)
    ]
    specs, layout = monthly_specs(rain, temp)
    clim = str(d / "climate.tif")
    stack_factors(specs, clim, grid=Grid.from_path(stack), temporal=layout)
    pts = read_points(inv, WKT)
    s = sample_absences(
        stack, pts, SamplingConfig(strategy=Strategy.BUFFER, buffer_m=90, block_size_m=450, min_spacing_m=30)
    )
    samples = str(d / "samples.gpkg")
    write_samples(s, WKT, samples, "buffer")
    return d, stack, clim, samples


def test_climate_stack_layout(climate_setup):
    _, stack, clim, _ = climate_setup
    with rasterio.open(clim) as ds, rasterio.open(stack) as st:
        assert ds.count == 24 and ds.descriptions[0] == "rain_01" and ds.descriptions[12] == "temp_01"
        assert ds.transform == st.transform and ds.shape == st.shape


def test_temporal_layout_travels_in_the_raster_and_unknown_layouts_are_refused(climate_setup, tmp_path):
    """The layout is read from the stack's own metadata (a copy without its JSON sidecar keeps it);
    a stack with GDAL's default band names and no layout is refused instead of split by a guess."""
    import shutil

    from landslide_ai.core.errors import InvalidInputError
    from landslide_ai.core.raster.stack import open_stack, temporal_layout

    _, _, clim, _ = climate_setup
    copy = tmp_path / "copy.tif"
    shutil.copy(clim, copy)
    info = open_stack(str(copy))
    assert info.temporal == {"n_steps": 12, "variables": ["rain", "temp"]}
    assert temporal_layout(info) == (12, 2)
    with rasterio.open(clim) as src:
        prof, data = src.profile, src.read()
    bare = tmp_path / "bare.tif"
    with rasterio.open(bare, "w", **prof) as dst:
        dst.write(data)
    with pytest.raises(InvalidInputError, match="does not say how its 24 bands split.*lsm_stack_factors"):
        temporal_layout(open_stack(str(bare)))


def test_cnn_lstm_am_with_monthly_climate(climate_setup, tmp_path):
    d, stack, clim, samples = climate_setup
    cfg = TrainConfig(
        models=("cnn_lstm_am", "lstm"), patch_size=8, epochs=2, shap_samples=5, temporal_mode=TemporalMode.CLIMATE
    )
    out = run_training(stack, samples, str(tmp_path / "m"), cfg, temporal_stack=clim)
    assert [r.kind for r in out.results] == ["cnn_lstm_am", "lstm"]
    assert {"rain", "temp"} <= set(out.importance["cnn_lstm_am"])  # climate variables explained too
    card = str(tmp_path / "m" / "cnn_lstm_am.json")
    prob = tmp_path / "p.tif"
    predict_stack(card, stack, str(prob), temporal_stack=clim, block=16)
    p = rasterio.open(prob).read(1)
    assert np.isfinite(p).all() and p.min() >= 0 and p.max() <= 1 and p.std() > 0
    with pytest.raises(ModelLoadError, match="climate"):
        predict_stack(card, stack, str(tmp_path / "q.tif"))
    assert not (tmp_path / "q.tif").exists()


def test_cancel_during_prediction_leaves_no_output(climate_setup, tmp_path):
    d, stack, clim, samples = climate_setup
    cfg = TrainConfig(models=("rf",), rf_trees=5, shap_samples=0, temporal_mode=TemporalMode.NONE)
    run_training(stack, samples, str(tmp_path / "m"), cfg)
    out = tmp_path / "p.tif"
    with pytest.raises(Canceled):
        predict_stack(str(tmp_path / "m" / "rf.json"), stack, str(out), block=8, progress=CancelAfter(3))
    assert not out.exists() and list(tmp_path.glob(".p.*")) == []


def test_cancel_during_training_epochs(climate_setup, tmp_path):
    _, stack, _, samples = climate_setup
    cfg = TrainConfig(models=("cnn",), patch_size=8, epochs=50, shap_samples=0)
    with pytest.raises(Canceled):
        run_training(stack, samples, str(tmp_path / "m"), cfg, progress=CancelAfter(5))
    assert not (tmp_path / "m" / "cnn.pt").exists()
