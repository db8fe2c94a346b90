"""What a susceptibility raster records about the model that made it (GeoTIFF metadata).

Kept apart from ``predict.py`` so that ``lsm_evaluate`` reads it without importing the
prediction machinery.
"""

from __future__ import annotations

import rasterio

#: GeoTIFF metadata item of a susceptibility raster: which samples fitted the model that made it
FIT_TAG = "LANDSLIDEAI_FIT_ON"


def fit_tags(training: dict) -> dict[str, str]:
    """The raster tag recording which samples fitted its model (``training``: the card's; ``all samples`` after CV).

    Why: ``lsm_evaluate`` reads it; landslides marked 'test' in the sample layer are not held out
    from a model refit on all samples, and a rate on them is a success rate, not a prediction rate.
    The writers put it in the raster before its atomic rename (it used to be added afterwards, by
    reopening the finished map for update).
    """
    return {FIT_TAG: str(training.get("fit_on", "training rows of the split"))}


def fit_on_all_samples(path: str) -> bool:
    """True when the raster says its model was refit on all samples (see :func:`fit_tags`)."""
    try:
        with rasterio.open(path) as ds:
            return ds.tags().get(FIT_TAG) == "all samples"
    except rasterio.errors.RasterioIOError:  # not a file GDAL opens here (a provider URI): nothing recorded
        return False
