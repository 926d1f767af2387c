"""Refuse grids whose arrays would not fit in memory, before anything is allocated.

A density grid is held on the host as float32 (4 bytes per point); a 400³ grid is already
256 MB and a careless ``spacing=0.01`` would ask for terabytes.  :func:`check_grid_memory`
turns that into a one-line :class:`GridError` that names a grid which would fit.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from deepaw_nb.errors import GridError
from deepaw_nb.grid.shape import as_cell, next_fft_size, validate_grid_shape

__all__ = ["DEFAULT_MEMORY_FRACTION", "available_memory_bytes", "check_grid_memory"]

#: Share of the available memory one grid may take when no explicit budget is given.
DEFAULT_MEMORY_FRACTION: float = 0.25


def _meminfo_available() -> int | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _cgroup_available() -> int | None:
    """Room left under a container's cgroup-v2 memory limit, if one is set."""
    base = Path("/sys/fs/cgroup")
    try:
        limit = (base / "memory.max").read_text().strip()
        if limit == "max":
            return None
        used = int((base / "memory.current").read_text().strip())
        return max(int(limit) - used, 0)
    except (OSError, ValueError):
        return None


def available_memory_bytes() -> int:
    """Memory (bytes) the process can still use: psutil if installed, else /proc/meminfo or sysconf.

    A container memory limit (cgroup v2) is honoured when it is smaller than the host figure.
    """
    candidates: list[int] = []
    try:
        import psutil  # optional dependency

        candidates.append(int(psutil.virtual_memory().available))
    except Exception:  # not installed, or unsupported platform
        value = _meminfo_available()
        if value is None:
            try:
                value = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
            except (ValueError, OSError, AttributeError):
                value = None
        if value is not None:
            candidates.append(int(value))
    cgroup = _cgroup_available()
    if cgroup is not None:
        candidates.append(cgroup)
    return min(candidates) if candidates else 8 * 1024**3  # unknown: assume a modest 8 GiB


def _fmt_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB", "PB"):
        if n < 1000 or unit == "PB":
            return f"{n:.3g} {unit}"
        n /= 1000.0
    return f"{n:.3g} PB"  # pragma: no cover


def check_grid_memory(
    shape: Sequence[int],
    bytes_per_point: float = 4,
    budget_bytes: float | None = None,
    cell: object | None = None,
) -> int:
    """Raise :class:`GridError` if a grid of ``shape`` needs more than ``budget_bytes``; return bytes needed.

    ``bytes_per_point`` is the memory per grid point (4 for the float32 density alone; pass more
    when several arrays per point are alive).  ``budget_bytes`` defaults to
    :data:`DEFAULT_MEMORY_FRACTION` (25 %) of :func:`available_memory_bytes`.  The message suggests
    a grid (and, when ``cell`` is given, a spacing in Å) that fits.
    """
    nx, ny, nz = validate_grid_shape(shape)
    if isinstance(bytes_per_point, bool) or not isinstance(bytes_per_point, (int, float)) or not bytes_per_point > 0:
        raise GridError(f"bytes_per_point must be a positive number, got {bytes_per_point!r}; pass e.g. 4 for float32")
    if budget_bytes is None:
        budget = DEFAULT_MEMORY_FRACTION * available_memory_bytes()
        source = f"{DEFAULT_MEMORY_FRACTION:.0%} of available memory"
    else:
        if isinstance(budget_bytes, bool) or not isinstance(budget_bytes, (int, float)) or not budget_bytes > 0:
            raise GridError(f"budget_bytes must be a positive number, got {budget_bytes!r}; pass e.g. 2e9")
        budget = float(budget_bytes)
        source = "the memory budget"
    points = nx * ny * nz  # Python ints: no overflow for absurd grids
    needed = points * bytes_per_point
    if needed <= budget:
        return int(needed)
    scale = (budget / needed) ** (1.0 / 3.0)
    smaller = []
    for n in (nx, ny, nz):
        m = max(1, math.floor(n * scale))
        while m > 1 and next_fft_size(m) * 1.0 > n * scale:
            m -= 1
        smaller.append(next_fft_size(m))
    hint = f"use a grid of at most {smaller[0]}x{smaller[1]}x{smaller[2]}"
    if cell is not None:
        lengths = np.linalg.norm(as_cell(cell), axis=1)
        spacing = max(float(length) / m for length, m in zip(lengths, smaller))
        hint += f" (spacing >= {math.ceil(spacing * 1000) / 1000:.3f} Å)"
    raise GridError(
        f"A {nx}x{ny}x{nz} grid needs {_fmt_bytes(needed)} ({bytes_per_point:g} bytes/point), "
        f"more than {source} ({_fmt_bytes(budget)}); {hint}"
    )
