"""Certainty factors, absence strategies and splits."""

import numpy as np
import pytest
import rasterio
from rasterio.crs import CRS

from landslide_ai.core.errors import InvalidInputError
from landslide_ai.core.raster.stack import FactorSpec, stack_factors
from landslide_ai.core.sampling.absences import SamplingConfig, SplitMethod, Strategy, sample_absences, split_samples
from landslide_ai.core.sampling.certainty_factor import certainty_factor, cf_map
from landslide_ai.core.sampling.points import Points, read_points

WKT = CRS.from_epsg(32717).to_wkt()


def test_certainty_factor_formula():
    pps = 0.01
    cf = certainty_factor(np.array([0.02, 0.01, 0.005, 0.0]), pps)
    assert cf[0] == pytest.approx((0.02 - 0.01) / (0.02 * 0.99))
    assert cf[1] == pytest.approx(0.0)
    assert cf[2] == pytest.approx((0.005 - 0.01) / (0.01 * 0.995))
    assert cf[3] == pytest.approx(-1.0)


@pytest.fixture
def stack(tiny_factors, tmp_path):
    paths, inv = tiny_factors
    out = str(tmp_path / "stack.tif")
    stack_factors([FactorSpec(p, n) for n, p in paths.items()], out, resolution_m=30.0)
    return out, read_points(inv, WKT)


def test_cf_map_weights_and_zoning(stack, tmp_path):
    s, pts = stack
    res = cf_map(
        s,
        pts,
        str(tmp_path / "score.tif"),
        str(tmp_path / "zones.tif"),
        str(tmp_path / "cf.csv"),
        str(tmp_path / "cf.html"),
    )
    assert sum(res.weights.values()) == pytest.approx(1.0)
    # landslides were placed on steep cells: slope must be the most sensitive factor
    assert max(res.sensitivity, key=res.sensitivity.get) == "slope"
    with rasterio.open(tmp_path / "zones.tif") as ds:
        z = ds.read(1)
    counts = np.bincount(z.ravel(), minlength=6)[1:]
    assert counts.sum() == 3600 and counts.min() > 300
    zl = np.array([v[0] for v in rasterio.open(tmp_path / "zones.tif").sample(zip(pts.x, pts.y))])
    assert np.mean(zl >= 4) > 0.8  # the CF map puts the landslides in high zones
    assert "slope" in (tmp_path / "cf.csv").read_text()


@pytest.mark.parametrize("strategy", list(Strategy))
def test_absence_strategies_respect_their_constraint(stack, tmp_path, strategy):
    s, pts = stack
    zones = None
    if strategy is Strategy.CF:
        zones = str(tmp_path / "z.tif")
        cf_map(s, pts, str(tmp_path / "sc.tif"), zones)
    cfg = SamplingConfig(strategy=strategy, buffer_m=150, slope_max_deg=10, block_size_m=450, min_spacing_m=30)
    smp = sample_absences(s, pts, cfg, zones)
    neg = smp.label == 0
    assert neg.sum() == 2 * smp.label.sum()
    dn = np.hypot(smp.x[neg][:, None] - smp.x[neg][None], smp.y[neg][:, None] - smp.y[neg][None])
    assert dn[~np.eye(neg.sum(), dtype=bool)].min() >= 30  # minimum spacing between absences
    with rasterio.open(s) as ds:
        vals = np.array(list(ds.sample(zip(smp.x[neg], smp.y[neg]))))
    if strategy is Strategy.SLOPE:
        assert vals[:, 1].max() < 10
    if strategy is Strategy.BUFFER:
        d = np.hypot(smp.x[neg][:, None] - smp.x[~neg][None], smp.y[neg][:, None] - smp.y[~neg][None])
        assert d.min() >= 150
    if strategy is Strategy.CF:
        z = np.array([v[0] for v in rasterio.open(zones).sample(zip(smp.x[neg], smp.y[neg]))])
        assert z.max() <= 2


def test_spatial_block_split_keeps_blocks_whole():
    rng = np.random.default_rng(1)
    x, y = rng.uniform(0, 5000, 400), rng.uniform(0, 5000, 400)
    lab = (rng.random(400) < 0.33).astype(int)
    cfg = SamplingConfig(split=SplitMethod.SPATIAL_BLOCKS, block_size_m=1000, test_fraction=0.3)
    test, blk = split_samples(x, y, lab, cfg)
    for b in np.unique(blk):
        assert len(np.unique(test[blk == b])) == 1  # a block is all-train or all-test
    assert 0.2 < test.mean() < 0.5
    assert test[lab == 1].any() and (~test[lab == 1]).any()


def test_inventory_outside_grid_is_refused(stack):
    s, _ = stack
    far = Points(np.array([100.0, 200.0]), np.array([100.0, 200.0]), {})
    with pytest.raises(InvalidInputError, match="No landslide point"):
        sample_absences(s, far, SamplingConfig(strategy=Strategy.BUFFER))
