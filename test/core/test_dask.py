"""Windows as Dask tasks write the same raster as the local run (issue 12)."""

import numpy as np
import pytest
import rasterio

from landslide_ai.core.errors import InvalidInputError
from landslide_ai.core.susceptibility.predict import predict_stack


@pytest.mark.parametrize("kind", ["cnn_lstm_am", "rf"])
def test_local_cluster_map_is_bit_identical_to_the_local_run(lsm_models, kind, tmp_path):
    stack, cards, _ = lsm_models
    maps = []
    for dask in (None, "local"):
        out = tmp_path / f"{dask}.tif"
        predict_stack(cards[kind], stack, str(out), block=16, dask=dask, dask_workers=2)
        with rasterio.open(out) as ds:
            maps.append(ds.read(1))
            prof = ds.profile
    assert prof["nodata"] == -9999 and (maps[0] != -9999).sum() > 100
    assert np.array_equal(maps[0], maps[1])


def test_unreachable_scheduler_is_a_clear_error_and_writes_nothing(lsm_models, tmp_path, monkeypatch):
    from landslide_ai.core.susceptibility import distributed

    monkeypatch.setattr(distributed, "CONNECT_TIMEOUT_S", 2.0)
    stack, cards, _ = lsm_models
    out = tmp_path / "x.tif"
    with pytest.raises(InvalidInputError, match="Cannot reach the Dask scheduler 'tcp://127.0.0.1:9'"):
        predict_stack(cards["rf"], stack, str(out), dask="tcp://127.0.0.1:9")
    assert not out.exists() and not list(tmp_path.iterdir())
