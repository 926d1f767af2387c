"""Coordinates of density grid points, in flat C order, generated in slices to bound memory.

Flat index ``p = (i*ny + j)*nz + k`` is the point at fractional coordinates
``(i/nx, j/ny, k/nz)``; ``density.reshape(nx, ny, nz)`` of a flat array in this order gives the
``[i, j, k]`` array that :func:`deepaw_nb.io.read_chgcar` returns.
"""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Integral

import numpy as np

from deepaw_nb.errors import GridError
from deepaw_nb.grid.shape import as_cell, validate_grid_shape

__all__ = ["cartesian_grid_points", "fractional_grid_points"]


def _slice_bounds(total: int, start: object, stop: object) -> tuple[int, int]:
    if isinstance(start, bool) or not isinstance(start, Integral):
        raise GridError(f"start must be an integer point index, got {start!r}; pass e.g. start=0")
    if stop is None:
        stop = total
    if isinstance(stop, bool) or not isinstance(stop, Integral):
        raise GridError(f"stop must be an integer point index or None, got {stop!r}; pass e.g. stop={total}")
    a, b = int(start), int(stop)
    if not 0 <= a <= b <= total:
        raise GridError(f"Point range [{a}, {b}) is outside the grid's 0..{total} points; use 0 <= start <= stop <= {total}")
    return a, b


def fractional_grid_points(shape: Sequence[int], start: int = 0, stop: int | None = None) -> np.ndarray:
    """Fractional coordinates of grid points ``start .. stop-1`` (flat C order), shape (M, 3) float64.

    Point ``p = (i*ny + j)*nz + k`` is ``(i/nx, j/ny, k/nz)``; all values lie in [0, 1).
    """
    nx, ny, nz = validate_grid_shape(shape)
    a, b = _slice_bounds(nx * ny * nz, start, stop)
    i, j, k = np.unravel_index(np.arange(a, b, dtype=np.int64), (nx, ny, nz))
    out = np.empty((b - a, 3), dtype=np.float64)
    out[:, 0] = i / nx
    out[:, 1] = j / ny
    out[:, 2] = k / nz
    return out


def cartesian_grid_points(cell: object, shape: Sequence[int], start: int = 0, stop: int | None = None) -> np.ndarray:
    """Cartesian coordinates (Å) of grid points ``start .. stop-1``: ``fractional @ cell``, shape (M, 3)."""
    lattice = as_cell(cell)
    return fractional_grid_points(shape, start, stop) @ lattice
