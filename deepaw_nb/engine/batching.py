"""Choosing batch sizes: a fixed size, or ``"auto"`` calibrated on the run's first batches."""

from __future__ import annotations

from deepaw_nb.errors import GridError
from deepaw_nb.engine.memory import CALIBRATION_BATCHES, MIN_BATCH, batch_for_budget, bytes_per_probe

_GIB = 1024**3
#: Longest a batch should take (s): progress updates and Stop stay responsive, and beyond a
#: few seconds of work per batch a bigger batch no longer buys throughput.
TARGET_BATCH_SECONDS = 2.0


class BatchSizer:
    """Yields batch sizes for a run of ``total`` probes.

    With ``requested="auto"`` the first batches have the calibration sizes; their measured peak
    memory gives bytes per probe, and every later batch is the largest that fits ``budget``
    and still finishes in about :data:`TARGET_BATCH_SECONDS` at the measured speed.
    With an integer the size is fixed, and once the footprint is measured a batch that could not
    fit in ``free`` memory is refused with a :class:`GridError` naming a size that fits.
    """

    def __init__(self, requested: int | str, total: int, budget: int, free: int) -> None:
        self.total = int(total)
        self.budget = int(budget)
        self.free = int(free)
        if requested == "auto":
            self.auto = True
            self.fixed = None
        elif isinstance(requested, (int,)) and not isinstance(requested, bool) and requested > 0:
            self.auto = False
            self.fixed = int(requested)
        else:
            raise GridError(f"batch_size={requested!r} is not valid; pass a positive integer or 'auto'")
        self.measurements: list[tuple[int, int]] = []
        self.seconds: list[tuple[int, float]] = []
        self.per_probe: float | None = None
        self.shrunk = False
        self._chosen: int | None = self.fixed

    @property
    def calibrating(self) -> bool:
        """Whether the next batch still measures memory."""
        return self.per_probe is None and not self.shrunk

    def shrink(self, size: int) -> None:
        """Use at most ``size`` probes per batch from now on (after an out-of-memory failure)."""
        self.shrunk = True
        self._chosen = max(1, min(int(size), self._chosen or int(size)))

    def next_size(self) -> int:
        """Size of the next batch (before it is measured)."""
        if self.shrunk:
            assert self._chosen is not None
            return self._chosen
        if self.per_probe is None:
            if self.auto:
                return CALIBRATION_BATCHES[len(self.measurements)]
            # A fixed size is first tried small, so an impossible size is refused, not crashed on.
            return min(self.fixed, CALIBRATION_BATCHES[0])
        assert self._chosen is not None
        return self._chosen

    def following_size(self) -> int | None:
        """Size of the batch after the current one, if already known (so it can be prefetched)."""
        if self.per_probe is not None or self.shrunk:
            return self._chosen
        if self.auto and len(self.measurements) + 1 < len(CALIBRATION_BATCHES):
            return CALIBRATION_BATCHES[len(self.measurements) + 1]
        return None

    def record(self, size: int, peak_bytes: int, seconds: float | None = None) -> None:
        """Store one calibration measurement (batch size, peak bytes above baseline, seconds)."""
        if self.shrunk:
            return
        self.measurements.append((int(size), int(max(peak_bytes, 0))))
        if seconds is not None:
            self.seconds.append((int(size), float(seconds)))
        if len(self.measurements) >= len(CALIBRATION_BATCHES) or not self.auto:
            self.per_probe = bytes_per_probe(self.measurements)
            if self.auto:
                self._chosen = min(batch_for_budget(self.per_probe, self.budget, self.total), self._time_cap())
            else:
                self._check_fixed_fits()

    def _time_cap(self) -> int:
        """Largest batch expected to take about TARGET_BATCH_SECONDS (no cap if not timed)."""
        if not self.seconds:
            return self.total
        size, seconds = self.seconds[-1]
        per_probe_seconds = max(seconds, 1e-9) / max(size, 1)
        return max(MIN_BATCH, int(TARGET_BATCH_SECONDS / per_probe_seconds))

    def _check_fixed_fits(self) -> None:
        assert self.fixed is not None and self.per_probe is not None
        need = self.fixed * self.per_probe
        if need > self.free:
            fits = max(1, int(self.budget // self.per_probe))
            raise GridError(
                f"batch_size={self.fixed} needs about {need / _GIB:.1f} GiB but only {self.free / _GIB:.1f} GiB "
                f"is free; use batch_size='auto' or at most {fits}"
            )
