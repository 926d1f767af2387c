"""Progress reporting (tqdm bar or a callback) and cancellation checks."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from deepaw_nb.errors import DeepawError

#: ``callback(done_probes, total_probes, elapsed_seconds)`` as used by the widget layer.
ProgressCallback = Callable[[int, int, float], Any]
#: A zero-argument callable returning True to stop, or an object with ``is_set()``.
CancelSignal = Callable[[], bool] | threading.Event | None


def eta_seconds(done: int, total: int, elapsed: float) -> float | None:
    """Estimated seconds left at the average rate so far (None before any progress)."""
    if done <= 0 or elapsed <= 0:
        return None
    return max(total - done, 0) * elapsed / done


class Progress:
    """Reports finished probes to a tqdm bar and/or a callback.

    Args:
        total: number of probes of the run.
        progress: ``True`` for a tqdm bar (on stderr), ``False``/``None`` for none, or a
            callback ``(done_probes, total_probes, elapsed_s)``.
    """

    def __init__(self, total: int, progress: bool | ProgressCallback | None) -> None:
        self.total = int(total)
        self.done = 0
        self.start = time.perf_counter()
        self._callback = progress if callable(progress) else None
        self._bar = None
        if progress is True:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=self.total, unit="probe", unit_scale=True, file=sys.stderr, desc="density")
        elif not (progress is None or progress is False or callable(progress)):
            raise DeepawError(f"progress={progress!r} is not valid; pass True, False or a callback(done, total, elapsed_s)")

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    @property
    def eta(self) -> float | None:
        """Seconds left, estimated from the rate so far."""
        return eta_seconds(self.done, self.total, self.elapsed)

    def update(self, count: int) -> None:
        self.done += int(count)
        if self._bar is not None:
            self._bar.update(int(count))
        if self._callback is not None:
            self._callback(self.done, self.total, self.elapsed)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def cancel_requested(cancel: CancelSignal) -> bool:
    """Whether ``cancel`` (None, an Event-like object, or a callable) asks to stop."""
    if cancel is None:
        return False
    if hasattr(cancel, "is_set"):
        return bool(cancel.is_set())
    if callable(cancel):
        return bool(cancel())
    raise DeepawError(f"cancel={cancel!r} is not valid; pass a threading.Event or a callable returning True to stop")
