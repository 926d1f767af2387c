"""Edge sources: the probe graph of batch [start, stop) of some set of probes.

The engine streams probes in contiguous batches; these adapters say which probes those are:
every grid point (fast grid graph), a subset of grid points (the symmetry-irreducible ones),
or arbitrary Cartesian points.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from deepaw_nb.graph import Edges, GridProbeGraph, point_edges

EdgeSource = Callable[[int, int], Edges]


def whole_grid_source(positions: np.ndarray, cell: np.ndarray, shape: tuple[int, int, int], cutoff: float) -> EdgeSource:
    """Every grid point in flat C order, with the grid-structured graph builder."""
    return GridProbeGraph(positions, cell, shape, cutoff).edges


def grid_subset_source(
    positions: np.ndarray, cell: np.ndarray, shape: tuple[int, int, int], indices: np.ndarray, cutoff: float
) -> EdgeSource:
    """The grid points with the given flat C-order ``indices``, in that order."""
    dims = np.asarray(shape, dtype=np.float64)
    cell = np.asarray(cell, dtype=np.float64)

    def edges(start: int, stop: int) -> Edges:
        frac = np.stack(np.unravel_index(indices[start:stop], shape), axis=1) / dims
        return point_edges(positions, cell, frac @ cell, cutoff)

    return edges


def points_source(positions: np.ndarray, cell: np.ndarray, points: np.ndarray, cutoff: float) -> EdgeSource:
    """Arbitrary Cartesian points (Å)."""

    def edges(start: int, stop: int) -> Edges:
        return point_edges(positions, cell, points[start:stop], cutoff)

    return edges
