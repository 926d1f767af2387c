"""Density grids: FFT-friendly shapes (from spacing in Å or VASP ENCUT), point coordinates, memory checks.

A grid of shape ``(nx, ny, nz)`` samples the cell at fractional points ``(i/nx, j/ny, k/nz)``,
the CHGCAR convention; flat arrays are in C order ``p = (i*ny + j)*nz + k``.
"""

from deepaw_nb.grid.memory import DEFAULT_MEMORY_FRACTION, available_memory_bytes, check_grid_memory
from deepaw_nb.grid.points import cartesian_grid_points, fractional_grid_points
from deepaw_nb.grid.shape import (
    DEFAULT_SPACING,
    GRID_PRIME_FACTORS,
    HBAR2_OVER_2ME,
    grid_shape_from_encut,
    grid_shape_from_spacing,
    next_fft_size,
    resolve_grid_shape,
    validate_grid_shape,
)

__all__ = [
    "DEFAULT_MEMORY_FRACTION",
    "DEFAULT_SPACING",
    "GRID_PRIME_FACTORS",
    "HBAR2_OVER_2ME",
    "available_memory_bytes",
    "cartesian_grid_points",
    "check_grid_memory",
    "fractional_grid_points",
    "grid_shape_from_encut",
    "grid_shape_from_spacing",
    "next_fft_size",
    "resolve_grid_shape",
    "validate_grid_shape",
]
