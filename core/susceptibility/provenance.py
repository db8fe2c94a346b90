"""What a susceptibility raster records about the model that made it (GeoTIFF metadata).

Kept apart from ``predict.py`` so that ``lsm_evaluate`` reads it without importing the
prediction machinery.
"""

from __future__ import annotations

import rasterio

#: GeoTIFF metadata item of a susceptibility raster: which samples fitted the model that made it
FIT_TAG = "LANDSLIDEAI_FIT_ON"


def tag_fit(path: str, training: dict) -> None:
    """Record in the raster which samples fitted its model (``training``: the card's; ``all samples`` after CV).

    Why: ``lsm_evaluate`` reads it; landslides marked 'test' in the sample layer are not held out
    from a model refit on all samples, and a rate on them is a success rate, not a prediction rate.
    """
    fit_on = str(training.get("fit_on", "training rows of the split"))
    with rasterio.open(path, "r+") as ds:
        ds.update_tags(**{FIT_TAG: fit_on})


def fit_on_all_samples(path: str) -> bool:
    """True when the raster says its model was refit on all samples (see :func:`tag_fit`)."""
    try:
        with rasterio.open(path) as ds:
            return ds.tags().get(FIT_TAG) == "all samples"
    except rasterio.errors.RasterioIOError:  # not a file GDAL opens here (a provider URI): nothing recorded
        return False
