"""Progress and cancellation across the engine boundary.

The engine never sees ``QgsProcessingFeedback``; it receives any object implementing
:class:`Progress`. Loops call :func:`check` every block, batch or epoch so that cancel is honoured
promptly and partial outputs can be cleaned up by the caller.
"""

from __future__ import annotations

import sys
from typing import Protocol, TextIO, runtime_checkable

from .errors import Canceled


@runtime_checkable
class Progress(Protocol):
    """What the engine needs from a progress sink."""

    def report(self, fraction: float, message: str = "") -> None:
        """Report overall completion in [0, 1] with an optional message."""

    def is_canceled(self) -> bool:
        """Return True once the user asked to stop."""

    def log(self, message: str) -> None:
        """Emit an informational line (shown in the Processing log or the console)."""


class NullProgress:
    """Progress sink that ignores everything and never cancels."""

    def report(self, fraction: float, message: str = "") -> None:
        """Ignore the progress."""

    def is_canceled(self) -> bool:
        """Never canceled."""
        return False

    def log(self, message: str) -> None:
        """Ignore the message."""


class ConsoleProgress:
    """Progress sink for the command line: prints messages and coarse percentages to stderr."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream or sys.stderr
        self._last = -1

    def report(self, fraction: float, message: str = "") -> None:
        """Print every 5 % step and every message."""
        pct = int(max(0.0, min(1.0, fraction)) * 100)
        if pct // 5 != self._last // 5 or message:
            self._last = pct
            self._stream.write(f"[{pct:3d}%] {message}\n")
            self._stream.flush()

    def is_canceled(self) -> bool:
        """A terminal run stops with Ctrl-C, not through this flag."""
        return False

    def log(self, message: str) -> None:
        """Print the message on its own line."""
        self._stream.write(message + "\n")
        self._stream.flush()


class SubProgress:
    """Maps a child's [0, 1] progress onto the slice [start, end] of a parent.

    Multi-phase engine calls (stack -> sample -> train) use it so that each phase reports its
    own fraction while the user sees one monotonic bar.
    """

    def __init__(self, parent: Progress, start: float, end: float) -> None:
        self._parent = parent
        self._start = start
        self._end = end

    def report(self, fraction: float, message: str = "") -> None:
        """Report ``fraction`` of this phase as the matching share of the parent's slice."""
        f = max(0.0, min(1.0, fraction))
        self._parent.report(self._start + (self._end - self._start) * f, message)

    def is_canceled(self) -> bool:
        """The parent's cancel flag."""
        return self._parent.is_canceled()

    def log(self, message: str) -> None:
        """Pass the message to the parent."""
        self._parent.log(message)


def check(progress: Progress) -> None:
    """Raise :class:`Canceled` if the user asked to stop.

    Args:
        progress: the sink to ask.
    """
    if progress.is_canceled():
        raise Canceled("Canceled by the user; partial outputs were removed.")
