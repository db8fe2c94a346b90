"""Typed engine errors.

Every error raised on purpose by the engine derives from :class:`LandslideAIError`, so the
Processing adapters can turn exactly these into ``QgsProcessingException`` with the message
unchanged. Messages say what was wrong *and* how to fix it, because they are shown to users.
"""

from __future__ import annotations


class LandslideAIError(Exception):
    """Base class of all deliberate engine errors."""


class InvalidInputError(LandslideAIError, ValueError):
    """An input (raster, vector, parameter) cannot be used as given."""


class GridMismatchError(InvalidInputError):
    """Rasters or a model disagree about the grid, CRS or band layout."""


class ModelLoadError(LandslideAIError):
    """A saved model or its model card is missing, corrupt or does not match the input."""


class MissingDependencyError(LandslideAIError, ImportError):
    """An optional Python package needed by this operation is not installed."""


class Canceled(LandslideAIError):  # noqa: N818 - public name the adapters catch; not an error
    """The user canceled the operation; partial outputs have been removed."""


class OutputError(LandslideAIError, OSError):
    """An output could not be written (permissions, disk full, name too long); nothing was changed."""
