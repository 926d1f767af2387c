"""Periodic images of the atoms that can lie within the cutoff of a point in the cell.

Every neighbour search in this package works on the same finite set of atom images: all
images whose fractional coordinates lie in the unit cell padded by ``cutoff * |b_i|`` on
each side, where ``b_i`` is the i-th reciprocal-lattice row (``inv(cell).T[i]``, in 1/Å)
and ``|b_i|`` is therefore the fractional extent of one Å along lattice axis i.  Any
atom image within the cutoff of a point whose fractional coordinates are in ``[0, 1]``
belongs to this set, whatever the cell shape (triclinic, skewed, or thinner than the
cutoff, in which case several images of one atom are present).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from deepaw_nb.errors import StructureError

# Refuse to enumerate more atom images than this (about 1 GB of coordinates and indices):
# it only happens for cells far thinner than the cutoff, which no sensible input has.
MAX_IMAGES = 20_000_000

# Relative and absolute slack added to the padding so that rounding in the fractional
# coordinates can never drop an image that sits exactly on the padded boundary.
_PAD_RTOL = 1e-9
_PAD_ATOL = 1e-12


def reciprocal_lengths(cell: np.ndarray) -> np.ndarray:
    """Return ``|b_i|`` (1/Å) for the rows of ``inv(cell).T``: fractional extent per Å."""
    return np.linalg.norm(np.linalg.inv(cell), axis=0)


def wrap_fractional(positions: np.ndarray, cell: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Wrap Cartesian positions (Å) into the cell.

    Returns:
        ``(frac, shift)``: fractional coordinates in ``[0, 1)`` and the int64 lattice
        shifts such that ``frac == positions @ inv(cell) + shift`` up to rounding.
    """
    frac = positions @ np.linalg.inv(cell)
    shift = -np.floor(frac)
    frac = frac + shift
    # frac can round to exactly 1.0 for tiny negative inputs; fold it back to 0.
    over = frac >= 1.0
    frac[over] -= 1.0
    shift[over] -= 1.0
    return frac, shift.astype(np.int64)


@dataclass(frozen=True)
class PeriodicImages:
    """Atom images within the padded unit cell, ordered by (atom, translation).

    Attributes:
        atom: ``(M,)`` int64, index of the unit-cell atom of each image.
        shift: ``(M, 3)`` int64, lattice translation of the image relative to the atom
            position as given by the user (``cart = positions[atom] + shift @ cell``).
        frac: ``(M, 3)`` float64 fractional coordinates of the images.
        cart: ``(M, 3)`` float64 Cartesian coordinates of the images (Å).
        pad: ``(3,)`` fractional padding ``cutoff * |b_i|`` used on each side.
        home: ``(M,)`` bool, True for the image inside the cell (the wrapped atom).
    """

    atom: np.ndarray
    shift: np.ndarray
    frac: np.ndarray
    cart: np.ndarray
    pad: np.ndarray
    home: np.ndarray

    @property
    def num_images(self) -> int:
        """Number of images ``M``."""
        return int(self.atom.shape[0])


def _axis_offsets(frac_axis: np.ndarray, pad: float) -> tuple[np.ndarray, np.ndarray]:
    """Integer offsets ``n`` to try on one axis and the (N, K) mask of those inside the box."""
    # f in [0, 1) and f + n in [-pad, 1 + pad]  =>  n in [ceil(-pad - 1), floor(1 + pad)].
    offsets = np.arange(int(np.ceil(-pad - 1.0)), int(np.floor(1.0 + pad)) + 1)
    shifted = frac_axis[:, None] + offsets[None, :]
    inside = (shifted >= -pad) & (shifted <= 1.0 + pad)
    return offsets, inside


def padded_images(positions: np.ndarray, cell: np.ndarray, cutoff: float) -> PeriodicImages:
    """Enumerate all atom images within ``cutoff`` (Å) of the closed unit cell.

    ``positions`` (Å) and ``cell`` (rows = lattice vectors, Å) must already be validated.
    """
    pad = cutoff * reciprocal_lengths(cell) * (1.0 + _PAD_RTOL) + _PAD_ATOL
    frac, wrap = wrap_fractional(positions, cell)
    per_axis = [_axis_offsets(frac[:, ax], float(pad[ax])) for ax in range(3)]
    counts = [inside.sum(axis=1) for _, inside in per_axis]
    total = int(np.sum(counts[0] * counts[1] * counts[2]))
    if total > MAX_IMAGES:
        raise StructureError(
            f"the cell is far thinner than the {cutoff:g} Å cutoff ({total:,} atom images "
            "needed); use a smaller cutoff or a conventional/supercell"
        )
    (o0, m0), (o1, m1), (o2, m2) = per_axis
    # Boolean product over (atom, n0, n1, n2); np.nonzero returns C order, which is the
    # lexicographic (atom, n0, n1, n2) order the Edges sort convention relies on.
    keep = m0[:, :, None, None] & m1[:, None, :, None] & m2[:, None, None, :]
    atom, i0, i1, i2 = np.nonzero(keep)
    n = np.stack([o0[i0], o1[i1], o2[i2]], axis=1).astype(np.int64)
    atom = atom.astype(np.int64)
    image_frac = frac[atom] + n
    cart = wrapped_positions(positions, cell, wrap)[atom] + n.astype(np.float64) @ cell
    return PeriodicImages(
        atom=atom, shift=n + wrap[atom], frac=image_frac, cart=cart, pad=pad, home=~n.any(axis=1)
    )


def wrapped_positions(positions: np.ndarray, cell: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """``positions + shift @ cell`` (Å): positions moved into the cell by integer shifts."""
    return positions + shift.astype(np.float64) @ cell
