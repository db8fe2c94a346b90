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


def _clustered_area(seed: int, n_boot: int):
    """One simulated CV: 40 blocks in 5 folds; block terrain and model skill vary, landslides cluster.

    Returns the block-bootstrap result and the landslides-only interval of the same pooled rate.
    """
    from landslide_ai.core.susceptibility.rates import block_bootstrap_rate, bootstrap_mean_ci

    rng = np.random.default_rng(seed)
    n_blocks, cells_per_block = 40, 40
    terrain = rng.normal(0, 1, n_blocks)  # shared by a block's landslides and cells
    skill = rng.normal(1.0, 0.7, n_blocks)  # how well the model ranks this block's landslides
    fold = np.arange(n_blocks) % 5
    ls_block = np.repeat(np.arange(n_blocks), rng.negative_binomial(1, 0.25, n_blocks))
    ls = skill[ls_block] + terrain[ls_block] + rng.normal(0, 1, ls_block.size)
    cell_block = np.repeat(np.arange(n_blocks), cells_per_block)
    cells = terrain[cell_block] + rng.normal(0, 1, cell_block.size)
    res = block_bootstrap_rate(ls, fold[ls_block], ls_block, cells, fold[cell_block], cell_block, n_boot, seed)
    same = fold[cell_block][None, :] == fold[ls_block][:, None]
    u = ((cells[None, :] < ls[:, None]) & same).sum(axis=1) / same.sum(axis=1)
    assert res.auc == pytest.approx(u.mean(), rel=1e-12)  # the point estimate is the plain pooled rate
    return res, bootstrap_mean_ci(u, n_boot, seed)


def test_rate_interval_covers_held_out_value_at_about_its_nominal_rate():
    """Acceptance of issue 21: the block-bootstrap interval covers the held-out value ~95 % of the time.

    The held-out value is what a fresh area of the same design gives on average (800 simulated
    areas); 300 further areas each get an interval. Resampling landslides only (the old interval)
    covers far less, because landslides of one block are not independent.
    """
    truth = np.mean([_clustered_area(s, 2)[0].auc for s in range(10_000, 10_800)])
    block = landslides = 0
    for s in range(300):
        res, only_ls = _clustered_area(s, 400)
        block += res.ci[0] <= truth <= res.ci[1]
        landslides += only_ls[0] <= truth <= only_ls[1]
    assert 0.88 <= block / 300 <= 0.99, block / 300
    assert landslides / 300 < 0.8, landslides / 300


def test_paired_difference_of_a_model_with_itself_is_zero_and_shifts_show():
    from landslide_ai.core.susceptibility.rates import block_bootstrap_rate, paired_difference_ci

    rng = np.random.default_rng(3)
    blocks = np.repeat(np.arange(30), 20)
    cells = rng.normal(0, 1, blocks.size)
    ls_block = rng.integers(0, 30, 90)
    ls = rng.normal(0.8, 1, 90)
    folds = blocks % 3
    a = block_bootstrap_rate(ls, ls_block % 3, ls_block, cells, folds, blocks, 300, 7)
    assert paired_difference_ci(a, a) == (0.0, 0.0)
    b = block_bootstrap_rate(ls + 1.0, ls_block % 3, ls_block, cells, folds, blocks, 300, 7)
    lo, hi = paired_difference_ci(b, a)
    assert lo > 0 and b.auc > a.auc


def test_texture_correlation_sees_terrain_detail_not_broad_trends(tmp_path):
    from landslide_ai.core.raster.stack import FactorSpec, stack_factors
    from landslide_ai.core.susceptibility.texture import texture_correlation

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:120, 0:130]
    slope = 0.2 * xx + rng.normal(0, 3, xx.shape)  # a trend plus cell-scale detail
    stack = str(tmp_path / "stack.tif")
    stack_factors([FactorSpec(write_raster(tmp_path / "slope.tif", slope), "slope")], stack)
    textured = write_raster(tmp_path / "m1.tif", 0.5 * slope + 1.0)
    from scipy.ndimage import gaussian_filter

    smooth = gaussian_filter(rng.normal(0, 30, xx.shape), 12)
    blob = write_raster(tmp_path / "m2.tif", 0.2 * xx + smooth)  # the same trend and smooth hills, no detail
    noisy = write_raster(tmp_path / "m3.tif", rng.normal(0, 1, xx.shape))
    assert texture_correlation(textured, stack, "slope", block=50) == pytest.approx(1.0, abs=1e-6)
    assert abs(texture_correlation(blob, stack, "slope", block=50)) < 0.05
    assert abs(texture_correlation(noisy, stack, "slope", block=50)) < 0.1
    # windows with halos give the whole-raster figure
    assert texture_correlation(noisy, stack, "slope", block=50) == pytest.approx(
        texture_correlation(noisy, stack, "slope", block=1000), rel=1e-9
    )
