"""Neighbour edges for arbitrary receivers: :func:`atom_edges` and :func:`point_edges`.

Both use a scipy ``cKDTree`` over the padded atom images (:mod:`.images`): a KD-tree is
the right tool for scattered points and scipy's is compiled and well tested, so nothing
is hand-written here except the periodic bookkeeping.  Pairs come out of
``sparse_distance_matrix(..., output_type="ndarray")`` as flat arrays, never as Python
lists per point.  For probes on a regular grid use :class:`.GridProbeGraph`, which is
several times faster still.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from deepaw_nb.graph.edges import Edges, empty_edges
from deepaw_nb.graph.images import PeriodicImages, padded_images, wrap_fractional, wrapped_positions
from deepaw_nb.graph.validation import check_cell, check_cutoff, check_points, check_positions

# The KD-tree is queried slightly beyond the cutoff (it tests <=) and the strict
# ``|v|^2 < cutoff^2`` test is then applied to the final float64 vectors.
_QUERY_SLACK = 1e-9

# Receivers per KD-tree query: bounds the temporary pair arrays for huge point sets, and
# keeps receiver indices below 2**16 for the radix sort in _receiver_image_order.
_POINTS_PER_CHUNK = 1 << 16


def _receiver_image_order(recv: np.ndarray, img: np.ndarray, num_images: int) -> np.ndarray:
    """Permutation sorting pairs by (receiver, image); pairs are unique."""
    if num_images <= (1 << 16) and (recv.shape[0] == 0 or int(recv.max()) < (1 << 16)):
        # Two stable passes over 16-bit keys use numpy's linear-time radix sort.
        by_image = np.argsort(img.astype(np.uint16), kind="stable")
        return by_image[np.argsort(recv[by_image].astype(np.uint16), kind="stable")]
    return np.argsort(recv * num_images + img)


class _ImageSearch:
    """Padded images of one structure and a KD-tree over them (reused across queries)."""

    def __init__(self, positions: np.ndarray, cell: np.ndarray, cutoff: float) -> None:
        self.cell = cell
        self.cutoff = cutoff
        self.images: PeriodicImages = padded_images(positions, cell, cutoff)
        self.tree = cKDTree(self.images.cart)
        self.image_cols = np.ascontiguousarray(self.images.cart.T)

    def edges(self, receivers: np.ndarray, home_atoms: np.ndarray | None = None) -> Edges:
        """Edges to receivers (Å; ``(R, 3)``, R <= _POINTS_PER_CHUNK), sorted.

        ``home_atoms[r]``, if given, is an atom whose untranslated image must not send
        to receiver ``r`` (the receiver is that atom itself).
        """
        _, shift = wrap_fractional(receivers, self.cell)
        wrapped = wrapped_positions(receivers, self.cell, shift)
        pairs = cKDTree(wrapped).sparse_distance_matrix(
            self.tree, self.cutoff * (1.0 + _QUERY_SLACK), output_type="ndarray"
        )
        recv, img = pairs["i"].astype(np.int64), pairs["j"].astype(np.int64)
        img_atom = self.images.atom
        if home_atoms is not None:
            self_pair = self.images.home[img] & (img_atom[img] == home_atoms[recv])
            recv, img = recv[~self_pair], img[~self_pair]
        # Images are numbered in (atom, translation) order, so sorting by (receiver,
        # image) sorts by receiver, then sender, then translation.
        order = _receiver_image_order(recv, img, self.images.num_images)
        recv, img = recv[order], img[order]
        # vector = wrapped receiver - image = receiver - (sender + T @ cell) with
        # T = (image shift) - (receiver wrap shift).  Column by column: numpy is slow on
        # (E, 3) arrays with a length-3 inner axis.
        cols = [wrapped[:, c][recv] - self.image_cols[c][img] for c in range(3)]
        keep = cols[0] * cols[0] + cols[1] * cols[1] + cols[2] * cols[2] < self.cutoff**2
        if not keep.all():
            recv, img, cols = recv[keep], img[keep], [c[keep] for c in cols]
        vectors = np.empty((recv.shape[0], 3))
        for c in range(3):
            vectors[:, c] = cols[c]
        return Edges(sender=img_atom[img], receiver=recv, vectors=vectors)


def atom_edges(positions: np.ndarray, cell: np.ndarray, cutoff: float) -> Edges:
    """Every ordered atom pair (periodic images included) closer than ``cutoff``.

    Args:
        positions: ``(N, 3)`` Cartesian atom positions in Å.
        cell: ``(3, 3)`` lattice vectors as rows (ASE convention), Å; fully periodic.
        cutoff: neighbour radius in Å; edges satisfy ``|vector| < cutoff`` (strict).

    Returns:
        :class:`Edges` with ``receiver`` = atom ``i``, ``sender`` = atom ``j`` and
        ``vectors = positions[i] - (positions[j] + T @ cell)``.  An atom's own
        zero-translation self is excluded; its other periodic images are included.
    """
    positions = check_positions(positions)
    search = _ImageSearch(positions, check_cell(cell), check_cutoff(cutoff))
    parts = []
    for lo in range(0, positions.shape[0], _POINTS_PER_CHUNK):
        chunk = positions[lo : lo + _POINTS_PER_CHUNK]
        part = search.edges(chunk, home_atoms=np.arange(lo, lo + chunk.shape[0]))
        parts.append(Edges(part.sender, part.receiver + lo, part.vectors))
    return _concatenate(parts)


def point_edges(
    positions: np.ndarray, cell: np.ndarray, points: np.ndarray, cutoff: float
) -> Edges:
    """Every atom image closer than ``cutoff`` to each of the given probe points.

    Args:
        positions: ``(N, 3)`` Cartesian atom positions in Å.
        cell: ``(3, 3)`` lattice vectors as rows (ASE convention), Å; fully periodic.
        points: ``(P, 3)`` Cartesian probe points in Å (anywhere; they need not be in
            the cell).
        cutoff: neighbour radius in Å; edges satisfy ``|vector| < cutoff`` (strict).

    Returns:
        :class:`Edges` with ``receiver`` = probe index, ``sender`` = atom index and
        ``vectors = points[p] - (positions[a] + T @ cell)``.
    """
    positions = check_positions(positions)
    cell = check_cell(cell)
    cutoff = check_cutoff(cutoff)
    points = check_points(points)
    if points.shape[0] == 0:
        return empty_edges()
    search = _ImageSearch(positions, cell, cutoff)
    parts = []
    for lo in range(0, points.shape[0], _POINTS_PER_CHUNK):
        part = search.edges(points[lo : lo + _POINTS_PER_CHUNK])
        parts.append(Edges(part.sender, part.receiver + lo, part.vectors))
    return _concatenate(parts)


def _concatenate(parts: list[Edges]) -> Edges:
    if len(parts) == 1:
        return parts[0]
    return Edges(
        sender=np.concatenate([p.sender for p in parts]),
        receiver=np.concatenate([p.receiver for p in parts]),
        vectors=np.concatenate([p.vectors for p in parts]),
    )
