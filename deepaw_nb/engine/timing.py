"""Wall-clock timing of the prediction pipeline, stage by stage."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import torch

#: Stages in pipeline order; every result reports all of them (0.0 when a stage did no work).
STAGES = (
    "structure preparation",
    "model load",
    "atom graph",
    "atom model",
    "probe graph",
    "host→device",
    "probe model",
    "F_local",
    "free atoms",
    "device→host",
    "assembly",
    "writing",
)


class StageTimer:
    """Accumulates seconds per stage.

    On CUDA, kernels run asynchronously, so each timed block synchronises the device on entry
    and exit: the time charged to a stage is the time its kernels really took, not the time to
    queue them.  Stages measured in a helper thread (the probe graph, built ahead while the
    device works) are added with :meth:`add` and listed in :attr:`overlapped`.
    """

    def __init__(self, device: torch.device | None = None) -> None:
        self.seconds: dict[str, float] = {name: 0.0 for name in STAGES}
        self.overlapped: set[str] = set()
        self._cuda = device is not None and device.type == "cuda"
        self._device = device

    def _sync(self) -> None:
        if self._cuda:
            torch.cuda.synchronize(self._device)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time the block and add it to ``name``."""
        self._sync()
        start = time.perf_counter()
        try:
            yield
        finally:
            self._sync()
            self.add(name, time.perf_counter() - start)

    def add(self, name: str, seconds: float, overlapped: bool = False) -> None:
        if name not in self.seconds:
            raise KeyError(f"unknown stage {name!r}; stages are {STAGES}")
        self.seconds[name] += float(seconds)
        if overlapped:
            self.overlapped.add(name)

    def as_dict(self) -> dict[str, float]:
        """Ordered ``{stage: seconds}``."""
        return dict(self.seconds)


def format_timings(timings: dict[str, float], wall_seconds: float | None = None, overlapped: set[str] | frozenset[str] = frozenset()) -> str:
    """A plain-text table of stage times with their share of the total."""
    total = sum(timings.values()) or 1.0
    width = max(len(name) for name in timings) + 2
    lines = [f"{'stage':<{width}}{'seconds':>10}{'share':>8}"]
    for name, seconds in timings.items():
        note = "  (overlapped)" if name in overlapped else ""
        lines.append(f"{name:<{width}}{seconds:>10.3f}{100 * seconds / total:>7.1f}%{note}")
    lines.append(f"{'sum of stages':<{width}}{sum(timings.values()):>10.3f}")
    if wall_seconds is not None:
        lines.append(f"{'wall time':<{width}}{wall_seconds:>10.3f}")
    return "\n".join(lines)
