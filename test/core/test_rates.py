"""Rate curves and zone densities against direct computations."""

import numpy as np
import pytest

from conftest import write_raster


def test_rate_auc_equals_the_mann_whitney_auc(tmp_path):
    """Rate AUC = P(landslide cell ranks above a random cell) + ties/2, i.e. sklearn's AUC of cells vs landslides."""
    from sklearn.metrics import roc_auc_score

    from landslide_ai.core.susceptibility.rates import cell_histogram, rate_curve

    rng = np.random.default_rng(1)
    a = rng.gamma(2.0, 1.0, (80, 90))
    a[:5, :5] = -9999.0  # nodata is not area
    path = write_raster(tmp_path / "s.tif", a)
    valid = a[a != -9999.0]
    ls = rng.choice(valid[valid > np.quantile(valid, 0.3)], 60)
    hist = cell_histogram(path, bins=4096)
    assert hist.n_cells == valid.size
    curve = rate_curve("x", hist, ls)
    y = np.r_[np.zeros(valid.size), np.ones(ls.size)]
    expected = roc_auc_score(y, np.r_[valid, ls])
    # sklearn counts the landslide's own cell among the others once more: compare within a bin's share
    assert curve.auc == pytest.approx(expected, abs=2e-3)
    lo, hi = curve.auc_ci
    assert lo < curve.auc < hi and hi - lo < 0.2
    assert curve.area_share[0] == 0 and curve.area_share[-1] == pytest.approx(1)
    assert np.all(np.diff(curve.landslide_share) >= 0)


def test_zone_densities_sum_and_ratio(tmp_path):
    from landslide_ai.core.susceptibility.rates import cell_histogram, equal_area_breaks, zone_densities

    a = np.tile(np.linspace(0, 1, 100), (50, 1))
    hist = cell_histogram(write_raster(tmp_path / "s.tif", a))
    breaks = equal_area_breaks(hist)
    rows = zone_densities(hist, np.full(10, 0.95), breaks)
    assert [r.area_share for r in rows] == pytest.approx([0.2] * 5, abs=0.015)
    assert rows[-1].landslide_share == 1 and rows[-1].density_ratio == pytest.approx(5, rel=0.02)
    assert sum(r.landslides for r in rows) == 10


def test_exact_ranks_on_a_saturated_map(tmp_path):
    """28 % of the cells share one value: the exact ranks equal the brute-force rank statistic."""
    from landslide_ai.core.susceptibility.rates import cell_histogram, cell_scores, exact_cell_scores, rate_curve

    rng = np.random.default_rng(3)
    a = rng.random((90, 100)).astype(np.float32)
    a[rng.random(a.shape) < 0.28] = np.float32(0.999)
    a[:4, :4] = -9999.0
    path = write_raster(tmp_path / "sat.tif", a)
    valid = a[a != -9999.0].astype(np.float64)
    ls = np.r_[np.full(30, np.float32(0.999)), rng.choice(valid, 40)].astype(np.float64)
    exact = exact_cell_scores(path, ls, block=32)  # several windows
    brute = np.array([((valid < v).sum() + 0.5 * (valid == v).sum()) / valid.size for v in ls])
    np.testing.assert_allclose(exact, brute, rtol=0, atol=1e-12)
    hist = cell_histogram(path, bins=4096)
    curve = rate_curve("x", hist, ls, scores=exact)
    assert curve.auc == pytest.approx(brute.mean(), abs=1e-12)
    assert abs(cell_scores(hist, ls).mean() - brute.mean()) > 1e-6  # the histogram alone is only approximate
