"""Geometry of 2-D cuts through a periodic cell: plane construction, sampling, nearby atoms.

A :class:`SlicePlane` is a parallelogram in Cartesian space (Å): an ``origin`` corner and
two edge vectors that are lattice vectors lying in the plane, so the parallelogram is
exactly one repeat unit of the plane.  In-plane coordinates ``(s, t)`` (Å) are measured
from the origin along the orthonormal vectors ``e1`` (parallel to ``edge1``) and ``e2``.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
from scipy.ndimage import map_coordinates

from deepaw_nb.errors import DeepawError
from deepaw_nb.viz._inputs import as_cell_matrix
from deepaw_nb.viz.structure3d import wrapped_positions

__all__ = ["SlicePlane", "atoms_near_plane", "axis_plane", "hkl_plane", "sample_plane"]

_AXES = {"a": 0, "b": 1, "c": 2, "x": 0, "y": 1, "z": 2, 0: 0, 1: 1, 2: 2}


@dataclass(frozen=True)
class SlicePlane:
    """A parallelogram cut through the crystal; all vectors Cartesian, in Å."""

    origin: np.ndarray
    edge1: np.ndarray
    edge2: np.ndarray
    hkl: tuple[int, int, int]
    edge_indices: tuple[tuple[int, int, int], tuple[int, int, int]]

    @property
    def e1(self) -> np.ndarray:
        """Unit vector along ``edge1``."""
        return self.edge1 / np.linalg.norm(self.edge1)

    @property
    def e2(self) -> np.ndarray:
        """Unit in-plane vector ⊥ ``e1``, oriented so ``edge2`` has a positive component."""
        v = self.edge2 - (self.edge2 @ self.e1) * self.e1
        return v / np.linalg.norm(v)

    @property
    def normal(self) -> np.ndarray:
        """Unit normal ``e1 × e2``."""
        return np.cross(self.e1, self.e2)

    def to_2d(self, points: np.ndarray) -> np.ndarray:
        """In-plane coordinates (s, t) in Å of Cartesian ``points`` (projected on the plane)."""
        rel = np.atleast_2d(points) - self.origin
        return np.stack([rel @ self.e1, rel @ self.e2], axis=-1)

    def corners_2d(self) -> np.ndarray:
        """(5, 2) closed outline of the parallelogram in (s, t), Å."""
        p = self.to_2d(np.array([np.zeros(3), self.edge1, self.edge1 + self.edge2, self.edge2]) + self.origin)
        return np.vstack([p, p[:1]])

    def edge_coefficients(self, st: np.ndarray) -> np.ndarray:
        """Coefficients (α, β) with (s, t) = α·edge1 + β·edge2; inside means both in [0, 1]."""
        basis = np.array([self.to_2d(self.origin + self.edge1)[0], self.to_2d(self.origin + self.edge2)[0]])
        return np.linalg.solve(basis.T, np.asarray(st).reshape(-1, 2).T).T


def _axis_index(axis: Any) -> int:
    key = axis.lower() if isinstance(axis, str) else axis
    if key not in _AXES:
        raise DeepawError(f"axis={axis!r} is not a lattice direction; use 'a', 'b' or 'c'")
    return _AXES[key]


def axis_plane(cell: Any, axis: Any, position: float) -> SlicePlane:
    """Lattice plane ⊥ reciprocal axis ``axis`` at fractional ``position`` along it.

    ``axis="c", position=0.5`` is the plane z_frac = 0.5 spanned by a and b (the (001)
    plane).  ``position`` is wrapped into [0, 1) (the grid is periodic).
    """
    mat = as_cell_matrix(cell)
    ax = _axis_index(axis)
    if not np.isfinite(position):
        raise DeepawError(f"position={position} must be a finite fractional coordinate (0..1)")
    pos = float(position) % 1.0
    i1, i2 = [n for n in range(3) if n != ax]  # a: (b, c); b: (a, c); c: (a, b)
    hkl = tuple(int(ax == n) for n in range(3))
    return SlicePlane(
        origin=pos * mat[ax], edge1=mat[i1].copy(), edge2=mat[i2].copy(), hkl=hkl,  # type: ignore[arg-type]
        edge_indices=(tuple(int(i1 == n) for n in range(3)), tuple(int(i2 == n) for n in range(3))),  # type: ignore[arg-type]
    )


def _check_hkl(hkl: Sequence[Any]) -> tuple[int, int, int]:
    try:
        vals = [float(x) for x in hkl]
    except (TypeError, ValueError):
        raise DeepawError(f"hkl={hkl!r} must be three integers such as (1, 1, 0)") from None
    if len(vals) != 3 or any(not v.is_integer() for v in vals) or not any(vals):
        raise DeepawError(f"hkl={hkl!r} must be three integers, not all zero, such as (1, 1, 0)")
    h, k, l = (int(v) for v in vals)
    g = math.gcd(math.gcd(abs(h), abs(k)), abs(l))
    return h // g, k // g, l // g


def _in_plane_lattice_vectors(mat: np.ndarray, hkl: tuple[int, int, int]):
    """Two short lattice vectors [uvw] with h·u + k·v + l·w = 0 spanning one plane repeat unit."""
    m = max(abs(x) for x in hkl) + 1
    rng = range(-m, m + 1)
    cands = [uvw for uvw in itertools.product(rng, rng, rng)
             if any(uvw) and uvw[0] * hkl[0] + uvw[1] * hkl[1] + uvw[2] * hkl[2] == 0]
    idx = np.array(cands)
    cart = idx @ mat
    length = np.linalg.norm(cart, axis=1)
    first = int(np.argmin(length))
    area = np.linalg.norm(np.cross(cart[first], cart), axis=1)
    ok = area > 1e-8 * length[first] * length
    # Smallest area (a primitive 2-D cell), then the shortest such vector.
    order = np.lexsort((length, np.round(area, 8)))
    second = next(int(i) for i in order if ok[i])
    u1, u2 = idx[first], idx[second]
    if u1[np.flatnonzero(u1)[0]] < 0:  # prefer [1 -1 0] over [-1 1 0]
        u1 = -u1
    # Gauss-reduce the second vector against the first for a less skewed parallelogram.
    shift = round(float((u2 @ mat) @ (u1 @ mat)) / float(length[first] ** 2))
    u2 = u2 - shift * u1
    return tuple(int(x) for x in u1), tuple(int(x) for x in u2)


def hkl_plane(cell: Any, hkl: Sequence[int], point: np.ndarray) -> SlicePlane:
    """The (hkl) plane through the Cartesian ``point`` (Å), one repeat unit centred on it.

    The edges are the two shortest in-plane lattice vectors, so sampling the parallelogram
    shows every distinct part of that infinite plane exactly once.
    """
    mat = as_cell_matrix(cell)
    h = _check_hkl(hkl)
    u1, u2 = _in_plane_lattice_vectors(mat, h)
    edge1, edge2 = np.array(u1) @ mat, np.array(u2) @ mat
    if np.cross(edge1, edge2) @ (np.linalg.inv(mat) @ np.array(h, float)) < 0:
        u2 = tuple(-x for x in u2)
        edge2 = -edge2
    origin = np.asarray(point, dtype=float) - 0.5 * (edge1 + edge2)
    return SlicePlane(origin=origin, edge1=edge1, edge2=edge2, hkl=h, edge_indices=(u1, u2))  # type: ignore[arg-type]


def sample_plane(
    density: np.ndarray, cell: Any, plane: SlicePlane, spacing: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Sample a periodic density on a rectangular (s, t) grid covering ``plane``.

    Values come from periodic trilinear interpolation (``scipy.ndimage.map_coordinates``,
    ``order=1, mode="grid-wrap"``) at the exact Cartesian points, so they are correct in
    skewed cells.  Points of the rectangle outside the parallelogram hold the periodic
    continuation of the density; ``inside`` tells them apart.

    Returns ``s`` (ns,) and ``t`` (nt,) in Å, ``values`` (nt, ns) in the unit of
    ``density`` and the boolean ``inside`` (nt, ns).
    """
    mat = as_cell_matrix(cell)
    box = plane.corners_2d()[:4]
    lo, hi = box.min(axis=0), box.max(axis=0)
    ns, nt = (int(math.ceil((hi[n] - lo[n]) / spacing)) + 1 for n in range(2))
    s = np.linspace(lo[0], hi[0], max(ns, 2))
    t = np.linspace(lo[1], hi[1], max(nt, 2))
    ss, tt = np.meshgrid(s, t)  # (nt, ns)
    cart = plane.origin + ss[..., None] * plane.e1 + tt[..., None] * plane.e2
    frac = cart.reshape(-1, 3) @ np.linalg.inv(mat)
    coords = (frac * np.array(density.shape)).T
    values = map_coordinates(density, coords, order=1, mode="grid-wrap").reshape(ss.shape)
    ab = plane.edge_coefficients(np.stack([ss.ravel(), tt.ravel()], axis=-1))
    tol = 0.5 * spacing / max(np.linalg.norm(plane.edge1), np.linalg.norm(plane.edge2))
    inside = np.all((ab >= -tol) & (ab <= 1 + tol), axis=1).reshape(ss.shape)
    return s, t, values, inside


def atoms_near_plane(atoms: Any, plane: SlicePlane, max_distance: float) -> list[dict]:
    """Atoms (any periodic image) within ``max_distance`` Å of the plane, inside its parallelogram.

    Returns one dict per image found, with ``index`` (into ``atoms``), ``symbol``,
    ``number`` (atomic number), ``s``/``t`` (in-plane position, Å) and ``distance``
    (signed distance from the plane along its normal, Å).  An atom on a parallelogram
    edge appears once per edge/corner it touches, as in VESTA.
    """
    if not np.isfinite(max_distance) or max_distance < 0:
        raise DeepawError(f"atom_distance={max_distance} must be a distance ≥ 0 in Å")
    if len(atoms) == 0:
        return []
    mat = as_cell_matrix(atoms.cell)
    pos = wrapped_positions(atoms)
    reach = max(max(abs(x) for x in u) for u in plane.edge_indices) + 1
    spacing = 1.0 / np.linalg.norm(np.linalg.inv(mat), axis=0).max()
    reach += int(math.ceil(max_distance / spacing))
    rng = np.arange(-reach, reach + 1)
    shifts = np.array(np.meshgrid(rng, rng, rng, indexing="ij")).reshape(3, -1).T @ mat
    images = pos[:, None, :] + shifts[None, :, :]  # (n_atoms, n_shifts, 3)
    dist = (images - plane.origin) @ plane.normal
    near = np.abs(dist) <= max_distance
    ai, si = np.nonzero(near)
    if ai.size == 0:
        return []
    st = plane.to_2d(images[ai, si])
    ab = plane.edge_coefficients(st)
    tol = 1e-6
    keep = np.all((ab >= -tol) & (ab <= 1 + tol), axis=1)
    symbols = atoms.get_chemical_symbols()
    numbers = atoms.get_atomic_numbers()
    found = [
        dict(index=int(a), symbol=symbols[a], number=int(numbers[a]),
             s=float(p[0]), t=float(p[1]), distance=float(dist[a, sh]))
        for a, sh, p, k in zip(ai, si, st, keep) if k
    ]
    found.sort(key=lambda r: (r["index"], r["s"], r["t"]))
    return found
