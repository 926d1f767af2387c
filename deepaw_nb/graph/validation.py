"""Input checks for the graph builders.

Every check returns a clean float64 / int array or raises a one-line
:class:`~deepaw_nb.errors.StructureError` or :class:`~deepaw_nb.errors.GridError`
that names the fix.
"""

from __future__ import annotations

import numbers

import numpy as np

from deepaw_nb.errors import GridError, StructureError

# |det(cell)| / (|a| |b| |c|) below this means the three lattice vectors are (almost)
# coplanar: the cell has no volume and fractional coordinates are meaningless.
_MIN_NORMALISED_VOLUME = 1e-8


def check_positions(positions: object) -> np.ndarray:
    """Return atom positions as a C-contiguous ``(N, 3)`` float64 array in Å (N >= 1)."""
    try:
        arr = np.array(positions, dtype=np.float64, copy=True)
    except (TypeError, ValueError) as exc:
        raise StructureError(
            f"atom positions must be an (N, 3) array of numbers in Å ({exc})"
        ) from None
    if arr.ndim != 2 or arr.shape[1] != 3:
        raise StructureError(
            f"atom positions must have shape (N, 3) in Å, got {arr.shape}; "
            "pass Cartesian xyz per atom"
        )
    if arr.shape[0] == 0:
        raise StructureError("the structure has no atoms; pass at least one atom position")
    if not np.all(np.isfinite(arr)):
        raise StructureError("atom positions contain NaN or infinity; fix the structure file")
    return np.ascontiguousarray(arr)


def check_cell(cell: object) -> np.ndarray:
    """Return the lattice as a ``(3, 3)`` float64 array whose rows are lattice vectors (Å)."""
    try:
        arr = np.array(cell, dtype=np.float64, copy=True)
    except (TypeError, ValueError) as exc:
        raise StructureError(f"cell must be a (3, 3) array of numbers in Å ({exc})") from None
    if arr.shape != (3, 3):
        raise StructureError(
            f"cell must have shape (3, 3) with lattice vectors as rows, got {arr.shape}; "
            "use a fully periodic cell"
        )
    if not np.all(np.isfinite(arr)):
        raise StructureError("cell contains NaN or infinity; fix the lattice vectors")
    norms = np.linalg.norm(arr, axis=1)
    if np.any(norms == 0.0):
        raise StructureError(
            "cell has a zero-length lattice vector; "
            "the structure must be periodic in all three directions"
        )
    volume = abs(float(np.linalg.det(arr)))
    if volume <= _MIN_NORMALISED_VOLUME * float(np.prod(norms)):
        raise StructureError(
            "cell is singular (lattice vectors are coplanar, zero volume); fix the lattice vectors"
        )
    return np.ascontiguousarray(arr)


def check_cutoff(cutoff: object) -> float:
    """Return the cutoff radius (Å) as a positive finite float."""
    if isinstance(cutoff, bool) or not isinstance(cutoff, numbers.Real):
        raise StructureError(f"cutoff must be a positive number in Å, got {cutoff!r}")
    value = float(cutoff)
    if not np.isfinite(value) or value <= 0.0:
        raise StructureError(f"cutoff must be a positive finite number in Å, got {value!r}")
    return value


def check_points(points: object) -> np.ndarray:
    """Return probe points as a C-contiguous ``(P, 3)`` float64 array in Å (P may be 0)."""
    try:
        arr = np.array(points, dtype=np.float64, copy=True)
    except (TypeError, ValueError) as exc:
        raise GridError(f"probe points must be a (P, 3) array of numbers in Å ({exc})") from None
    if arr.ndim == 1 and arr.shape[0] == 0:
        arr = arr.reshape(0, 3)
    if arr.ndim != 2 or arr.shape[1] != 3:
        raise GridError(
            f"probe points must have shape (P, 3) in Å, got {arr.shape}; "
            "pass Cartesian xyz per point"
        )
    if not np.all(np.isfinite(arr)):
        raise GridError("probe points contain NaN or infinity; pass finite Cartesian coordinates")
    return np.ascontiguousarray(arr)


def check_grid_shape(grid_shape: object) -> tuple[int, int, int]:
    """Return the grid shape as three positive Python ints."""
    try:
        dims = tuple(grid_shape)  # type: ignore[arg-type]
    except TypeError:
        raise GridError(
            f"grid shape must be three positive integers (nx, ny, nz), got {grid_shape!r}"
        ) from None
    ok = len(dims) == 3 and all(
        isinstance(d, numbers.Integral) and not isinstance(d, bool) for d in dims
    )
    if not ok:
        raise GridError(
            f"grid shape must be three positive integers (nx, ny, nz), got {grid_shape!r}"
        )
    out = (int(dims[0]), int(dims[1]), int(dims[2]))
    if min(out) <= 0:
        raise GridError(f"grid dimensions must all be > 0, got {out}; pass e.g. (48, 48, 48)")
    return out


def check_batch(start: object, stop: object, num_probes: int) -> tuple[int, int]:
    """Return ``(start, stop)`` as ints with ``0 <= start <= stop <= num_probes``."""
    for name, value in (("start", start), ("stop", stop)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise GridError(f"batch {name} must be an integer probe index, got {value!r}")
    lo, hi = int(start), int(stop)  # type: ignore[call-overload]
    if not 0 <= lo <= hi <= num_probes:
        raise GridError(
            f"probe batch [{lo}, {hi}) is outside the grid; need 0 <= start <= stop <= {num_probes}"
        )
    return lo, hi
