"""Crystal-symmetry reduction of a density grid (spglib).

A DeePAW density is an invariant scalar field, so it has the full space-group symmetry of the
structure: ρ(R x + t) = ρ(x).  When an operation maps grid points onto grid points, the density
needs to be evaluated only at one point of each orbit; the rest of the grid is filled by
copying.  For monoclinic HfO2 (P2₁/c, 4 operations) an 80³ grid needs ~128,000 evaluations
instead of 512,000.

Only operations that map the grid onto itself are used (they form a subgroup).  Atoms must map
onto atoms to within ``position_tolerance`` Å, far tighter than spglib's usual tolerance, so
that the copied values equal what a direct evaluation would give (to float rounding).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import spglib
from ase import Atoms

#: spglib's search tolerance (Å); symmetry found must then hold to ``POSITION_TOLERANCE``.
SYMPREC = 1e-3
POSITION_TOLERANCE = 1e-5
#: Grid points per chunk when computing orbit representatives (bounds the memory).
_CHUNK = 1 << 18


@dataclass(frozen=True)
class GridSymmetry:
    """How a grid is reduced by symmetry.

    Attributes:
        used: whether the reduction applies (False: every point is evaluated).
        reason: why it does or does not apply (shown in results).
        spacegroup: international symbol and number, e.g. ``"P2_1/c (14)"``.
        num_operations: operations used (those that map the grid onto itself).
        num_spacegroup_operations: all operations of the space group (in this cell).
        representatives: (M,) sorted flat C-order indices of the points to evaluate.
        inverse: (N,) for every grid point, its position in ``representatives``.
    """

    used: bool
    reason: str
    spacegroup: str
    num_operations: int
    num_spacegroup_operations: int
    representatives: np.ndarray
    inverse: np.ndarray

    @property
    def num_points(self) -> int:
        return int(self.inverse.shape[0])

    @property
    def num_evaluations(self) -> int:
        return int(self.representatives.shape[0])

    def describe(self) -> dict:
        """Provenance record."""
        return {
            "used": self.used,
            "reason": self.reason,
            "spacegroup": self.spacegroup,
            "operations_used": self.num_operations,
            "spacegroup_operations": self.num_spacegroup_operations,
            "evaluations": self.num_evaluations,
            "grid_points": self.num_points,
        }

    def expand(self, values: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
        """Full grid (nx, ny, nz) from the values at ``representatives``."""
        return np.asarray(values)[self.inverse].reshape(shape)


def no_reduction(shape: tuple[int, int, int], reason: str, spacegroup: str = "", total_ops: int = 1) -> GridSymmetry:
    """A plan that evaluates every grid point (with the reason why)."""
    n = int(np.prod(shape))
    return GridSymmetry(False, reason, spacegroup, 1, total_ops, np.arange(n), np.arange(n))


def _operations_hold(atoms: Atoms, rotations: np.ndarray, translations: np.ndarray) -> bool:
    """Every operation maps every atom onto an atom of the same species within tolerance."""
    frac = atoms.get_scaled_positions(wrap=True)
    cell = np.asarray(atoms.cell)
    for rot, trans in zip(rotations, translations):
        image = frac @ rot.T + trans
        delta = image[:, None, :] - frac[None, :, :]
        delta -= np.round(delta)
        dist = np.linalg.norm(delta @ cell, axis=2)
        same = atoms.numbers[:, None] == atoms.numbers[None, :]
        if not np.all(np.min(np.where(same, dist, np.inf), axis=1) <= POSITION_TOLERANCE):
            return False
    return True


def _grid_compatible(rot: np.ndarray, trans: np.ndarray, shape: np.ndarray) -> bool:
    """Whether x -> R x + t maps the points (i/nx, j/ny, k/nz) onto themselves."""
    scaled = rot * shape[:, None] / shape[None, :]
    shift = trans * shape
    return bool(np.allclose(scaled, np.round(scaled)) and np.allclose(shift, np.round(shift), atol=1e-6))


def grid_symmetry(atoms: Atoms, shape: tuple[int, int, int]) -> GridSymmetry:
    """The symmetry reduction of a grid of ``shape`` for ``atoms`` (or a no-op with a reason)."""
    shape = tuple(int(n) for n in shape)  # type: ignore[assignment]
    cell = (np.asarray(atoms.cell), atoms.get_scaled_positions(wrap=True), atoms.numbers)
    with warnings.catch_warnings():
        # spglib 2.5+ warns about its legacy error handling on every call; None still means failure.
        warnings.simplefilter("ignore", DeprecationWarning)
        data = spglib.get_symmetry_dataset(cell, symprec=SYMPREC)
    if data is None:
        return no_reduction(shape, "spglib found no symmetry")
    spacegroup = f"{data.international} ({data.number})"
    rotations, translations = np.asarray(data.rotations), np.asarray(data.translations)
    total = len(rotations)
    if total == 1:
        return no_reduction(shape, "the structure has no symmetry beyond the identity (P1)", spacegroup, total)
    if not _operations_hold(atoms, rotations, translations):
        return no_reduction(
            shape, f"the structure is only approximately {spacegroup} (atoms off by > {POSITION_TOLERANCE} Å)",
            spacegroup, total,
        )
    dims = np.asarray(shape)
    keep = [i for i in range(total) if _grid_compatible(rotations[i], translations[i], dims)]
    if len(keep) <= 1:
        return no_reduction(shape, f"no {spacegroup} operation maps the {shape} grid onto itself", spacegroup, total)
    representative = _orbit_minimum(rotations[keep], translations[keep], dims)
    reps, inverse = np.unique(representative, return_inverse=True)
    reason = f"{spacegroup}: {len(keep)} of {total} operations map the grid onto itself"
    return GridSymmetry(True, reason, spacegroup, len(keep), total, reps, inverse.astype(np.int64))


def _orbit_minimum(rotations: np.ndarray, translations: np.ndarray, shape: np.ndarray) -> np.ndarray:
    """For each flat grid index, the smallest flat index in its orbit (chunked, vectorised)."""
    total = int(np.prod(shape))
    # Integer form of the operations on grid indices: g' = M g + s (mod shape).
    matrices = np.rint(rotations * shape[None, :, None] / shape[None, None, :]).astype(np.int64)
    shifts = np.rint(translations * shape[None, :]).astype(np.int64)
    out = np.empty(total, dtype=np.int64)
    for start in range(0, total, _CHUNK):
        flat = np.arange(start, min(start + _CHUNK, total), dtype=np.int64)
        grid = np.stack(np.unravel_index(flat, tuple(shape)), axis=1)
        best = flat.copy()
        for matrix, shift in zip(matrices, shifts):
            image = np.mod(grid @ matrix.T + shift, shape)
            best = np.minimum(best, np.ravel_multi_index(image.T, tuple(shape)))
        out[start : start + len(flat)] = best
    return out
