"""Neighbour edges for arbitrary receivers: :func:`atom_edges` and :func:`point_edges`.

Both use a scipy ``cKDTree`` over the padded atom images (:mod:`.images`): a KD-tree is
the right tool for scattered points and scipy's is compiled and well tested, so nothing
is hand-written here except the periodic bookkeeping.  Pairs come out of
``sparse_distance_matrix(..., output_type="ndarray")`` as flat arrays, never as Python
lists per point.  For probes on a regular grid use :class:`.GridProbeGraph`, which is
much faster.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from deepaw_nb.graph.edges import Edges, empty_edges, squared_norms
from deepaw_nb.graph.images import PeriodicImages, padded_images, wrap_fractional
from deepaw_nb.graph.validation import check_cell, check_cutoff, check_points, check_positions

# The KD-tree is queried slightly beyond the cutoff (it tests <=) and the strict
# ``|v|^2 < cutoff^2`` test is then applied to the final float64 vectors.
_QUERY_SLACK = 1e-9

# Receivers per KD-tree query: bounds the temporary pair arrays for huge point sets.
_POINTS_PER_CHUNK = 65_536


def _pairs_within(
    receivers_wrapped: np.ndarray, images: PeriodicImages, image_tree: cKDTree, cutoff: float
) -> tuple[np.ndarray, np.ndarray]:
    """All (receiver, image) index pairs closer than ``cutoff`` (+ slack), unsorted."""
    if receivers_wrapped.shape[0] == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    tree = cKDTree(receivers_wrapped)
    pairs = tree.sparse_distance_matrix(
        image_tree, cutoff * (1.0 + _QUERY_SLACK), output_type="ndarray"
    )
    return pairs["i"].astype(np.int64), pairs["j"].astype(np.int64)


def _edges_from_pairs(
    recv: np.ndarray,
    img: np.ndarray,
    receiver_positions: np.ndarray,
    receiver_shift: np.ndarray,
    positions: np.ndarray,
    cell: np.ndarray,
    images: PeriodicImages,
    cutoff: float,
) -> Edges:
    """Exact vectors, strict cutoff, and the (receiver, sender, translation) sort order."""
    # Lattice translation of the sender image as seen from the receiver as given (not
    # wrapped): vector = receiver - (sender + T @ cell), straight from the definition.
    translation = images.shift[img] - receiver_shift[recv]
    sender = images.atom[img]
    vectors = receiver_positions[recv] - (positions[sender] + translation.astype(np.float64) @ cell)
    keep = squared_norms(vectors) < cutoff * cutoff
    recv, img, sender, vectors = recv[keep], img[keep], sender[keep], vectors[keep]
    # Images are numbered in (atom, translation) order, so sorting by (receiver, image)
    # sorts by receiver, then sender, then translation.
    order = np.argsort(recv * images.num_images + img, kind="stable")
    return Edges(
        sender=np.ascontiguousarray(sender[order]),
        receiver=np.ascontiguousarray(recv[order]),
        vectors=np.ascontiguousarray(vectors[order]),
    )


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
    cell = check_cell(cell)
    cutoff = check_cutoff(cutoff)
    images = padded_images(positions, cell, cutoff)
    frac, wrap = wrap_fractional(positions, cell)
    wrapped = frac @ cell
    recv, img = _pairs_within(wrapped, images, cKDTree(images.cart), cutoff)
    # Drop each atom's pairing with its own untranslated self.
    self_pair = (images.atom[img] == recv) & np.all(images.shift[img] == wrap[recv], axis=1)
    recv, img = recv[~self_pair], img[~self_pair]
    return _edges_from_pairs(recv, img, positions, wrap, positions, cell, images, cutoff)


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
    images = padded_images(positions, cell, cutoff)
    frac, wrap = wrap_fractional(points, cell)
    wrapped = frac @ cell
    image_tree = cKDTree(images.cart)
    parts: list[Edges] = []
    for lo in range(0, points.shape[0], _POINTS_PER_CHUNK):
        hi = min(lo + _POINTS_PER_CHUNK, points.shape[0])
        recv, img = _pairs_within(wrapped[lo:hi], images, image_tree, cutoff)
        part = _edges_from_pairs(
            recv, img, points[lo:hi], wrap[lo:hi], positions, cell, images, cutoff
        )
        parts.append(
            Edges(sender=part.sender, receiver=part.receiver + lo, vectors=part.vectors)
        )
    if len(parts) == 1:
        return parts[0]
    return Edges(
        sender=np.concatenate([p.sender for p in parts]),
        receiver=np.concatenate([p.receiver for p in parts]),
        vectors=np.concatenate([p.vectors for p in parts]),
    )
