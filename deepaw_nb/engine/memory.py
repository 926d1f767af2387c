"""Measured memory footprint per probe, and the batch size that fits a budget.

On CUDA the caching allocator reports its peak exactly.  On the CPU torch keeps no such
statistic, so a sampling thread watches the process's resident set size while a calibration
batch runs (large tensors are mmap'ed and returned to the OS when freed, so RSS follows the
live working set closely).  Two batch sizes give the slope: bytes per extra probe.
"""

from __future__ import annotations

import os
import threading
import time

import torch

from deepaw_nb.grid import available_memory_bytes

#: Share of free memory a run may fill with one batch's intermediates.
CPU_BUDGET_FRACTION = 0.25
CUDA_BUDGET_FRACTION = 0.6
#: Batch sizes used to measure the footprint (their results are kept as real results).
CALIBRATION_BATCHES = (256, 1024)
MIN_BATCH, MAX_BATCH = 64, 1 << 20

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def _rss_bytes() -> int:
    with open("/proc/self/statm", "rb") as handle:
        return int(handle.read().split()[1]) * _PAGE


class PeakMemory:
    """Context manager: peak bytes allocated above the level at entry (``.peak``)."""

    def __init__(self, device: torch.device, interval: float = 0.0005) -> None:
        self.device = device
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> "PeakMemory":
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self._base = torch.cuda.memory_allocated(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
        else:
            self._base = self._high = _rss_bytes()
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.is_set():
            self._high = max(self._high, _rss_bytes())
            time.sleep(self.interval)

    def __exit__(self, *exc: object) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self.peak = torch.cuda.max_memory_allocated(self.device) - self._base
        else:
            self._stop.set()
            assert self._thread is not None
            self._thread.join()
            self._high = max(self._high, _rss_bytes())
            self.peak = self._high - self._base


def free_memory_bytes(device: torch.device) -> int:
    """Free memory on the device (CUDA) or available host RAM (CPU), in bytes."""
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    return int(available_memory_bytes())


def default_budget_bytes(device: torch.device) -> int:
    fraction = CUDA_BUDGET_FRACTION if device.type == "cuda" else CPU_BUDGET_FRACTION
    return int(fraction * free_memory_bytes(device))


def bytes_per_probe(measurements: list[tuple[int, int]]) -> float:
    """Slope of peak bytes vs batch size from (batch, peak) pairs; never below the mean ratio/2."""
    (n1, p1), (n2, p2) = measurements[0], measurements[-1]
    ratio = max(p2, 1) / n2
    if n2 == n1:
        return ratio
    slope = (p2 - p1) / (n2 - n1)
    # Sampling noise can make the small batch look as expensive as the big one; do not let a
    # flat or negative slope promise unlimited batches.
    return max(slope, ratio / 2)


def batch_for_budget(per_probe: float, budget: int, total: int) -> int:
    """Largest batch whose intermediates fit ``budget`` bytes, within sane bounds."""
    size = int(budget // max(per_probe, 1.0))
    return max(MIN_BATCH, min(size, MAX_BATCH, max(total, MIN_BATCH)))
