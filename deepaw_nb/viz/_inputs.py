"""Argument handling shared by the figure functions.

Every figure accepts either a result object with ``.density`` and ``.atoms`` attributes
(the engine's ``DensityResult``) or explicit ``density=`` / ``atoms=`` keywords.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from deepaw_nb.errors import DeepawError, GridError, StructureError

__all__ = ["as_cell_matrix", "check_density", "_unpack"]


def check_density(density: Any) -> np.ndarray:
    """Return ``density`` as a float64 array of shape (nx, ny, nz), or raise GridError.

    The grid is periodic: element ``[i, j, k]`` is the density (e/Å³) at fractional
    coordinates ``(i/nx, j/ny, k/nz)``.
    """
    try:
        arr = np.asarray(density)
    except Exception as exc:  # pragma: no cover - exotic array-likes
        raise GridError(f"density cannot be read as an array ({exc}); pass a 3-D numpy array") from None
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise GridError(f"density has dtype {arr.dtype}; pass a real 3-D numpy array of floats")
    if np.iscomplexobj(arr):
        raise GridError("density is complex; pass its real part (density.real)")
    if arr.ndim != 3:
        raise GridError(
            f"density must be a 3-D grid (nx, ny, nz) but has shape {arr.shape}; "
            "reshape it to the grid dimensions"
        )
    if min(arr.shape) < 2:
        raise GridError(f"density grid {arr.shape} needs at least 2 points along each axis")
    arr = arr.astype(float, copy=False)
    bad = arr.size - int(np.count_nonzero(np.isfinite(arr)))
    if bad:
        raise GridError(
            f"density contains {bad} NaN/inf values; fix the prediction or clean it with np.nan_to_num"
        )
    return arr


def as_cell_matrix(cell: Any) -> np.ndarray:
    """Return the lattice as a 3×3 float array whose rows are a, b, c in Å.

    Accepts an ``ase.cell.Cell``, an ``ase.Atoms`` or any 3×3 array-like.  Raises
    StructureError for a wrong shape, non-finite entries or a (near) zero volume.
    """
    if hasattr(cell, "cell") and hasattr(cell, "get_positions"):
        cell = cell.cell
    mat = np.asarray(getattr(cell, "array", cell), dtype=float)
    if mat.shape != (3, 3):
        raise StructureError(f"cell must be 3×3 (rows = lattice vectors in Å), got shape {mat.shape}")
    if not np.all(np.isfinite(mat)):
        raise StructureError("cell contains NaN/inf; fix the lattice vectors")
    volume = abs(np.linalg.det(mat))
    scale = float(np.prod(np.linalg.norm(mat, axis=1)))
    if scale == 0.0 or volume < 1e-8 * scale:
        raise StructureError("cell has zero volume; set all three lattice vectors (atoms.cell) in Å")
    return mat


def _unpack(result: Any, density: Any, atoms: Any) -> tuple[np.ndarray, Any]:
    """Resolve ``(result, density=, atoms=)`` into a checked density array and an Atoms.

    Explicit keywords win over the result's attributes, so
    ``slice_figure(result, density=result.density - reference)`` plots a difference map
    on the result's structure.
    """
    if result is not None:
        if density is None:
            density = getattr(result, "density", None)
        if atoms is None:
            atoms = getattr(result, "atoms", None)
    if density is None:
        raise DeepawError("no density given; pass a result or density=<(nx, ny, nz) array in e/Å³>")
    if atoms is None:
        raise DeepawError("no structure given; pass a result or atoms=<ase.Atoms with its cell>")
    if not (hasattr(atoms, "cell") and hasattr(atoms, "get_positions")):
        raise DeepawError(f"atoms must be an ase.Atoms, got {type(atoms).__name__}; convert it with ase.io or AseAtomsAdaptor")
    as_cell_matrix(atoms.cell)
    return check_density(density), atoms
