"""The :class:`Edges` container shared by the atom graph and the probe graph.

An edge points from a *sender* (a periodic image of an atom of the unit cell) to a
*receiver* (an atom of the unit cell, or a probe point).  Edges are stored as flat
arrays, sorted by receiver, then sender, then the lattice translation of the sender
image (lexicographic), so that the edges of one receiver form one contiguous run.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def squared_norms(v: np.ndarray) -> np.ndarray:
    """Row-wise ``x*x + y*y + z*z`` of an ``(E, 3)`` array (Å^2).

    Every cutoff test in this package uses this one formula, in this order, so that an
    edge is kept or dropped identically whichever builder produced its vector.
    """
    return v[:, 0] * v[:, 0] + v[:, 1] * v[:, 1] + v[:, 2] * v[:, 2]


@dataclass(frozen=True)
class Edges:
    """Directed neighbour edges, sorted by receiver, then sender, then image translation.

    Attributes:
        sender: ``(E,)`` int64, index of the sending atom in the unit cell.
        receiver: ``(E,)`` int64, index of the receiving atom (atom graph) or of the
            receiving probe relative to the start of the batch (probe graph).
        vectors: ``(E, 3)`` float64 in Å, ``receiver_position - (sender_position + T)``
            where ``T`` is the lattice translation (Å) of the sender image.
    """

    sender: np.ndarray
    receiver: np.ndarray
    vectors: np.ndarray

    def __post_init__(self) -> None:
        n = self.sender.shape[0]
        if self.receiver.shape != (n,) or self.vectors.shape != (n, 3):
            raise ValueError(
                f"inconsistent edge arrays: sender {self.sender.shape}, receiver "
                f"{self.receiver.shape}, vectors {self.vectors.shape}; expected (E,), (E,), (E, 3)"
            )

    @property
    def num_edges(self) -> int:
        """Number of edges ``E``."""
        return int(self.sender.shape[0])

    @property
    def lengths(self) -> np.ndarray:
        """``(E,)`` float64 edge lengths in Å."""
        return np.sqrt(squared_norms(self.vectors))

    def receiver_offsets(self, num_receivers: int) -> np.ndarray:
        """CSR row pointer: edges of receiver ``r`` are ``offsets[r]:offsets[r + 1]``.

        Args:
            num_receivers: number of receivers ``R`` (atoms, or probes in the batch).

        Returns:
            ``(R + 1,)`` int64 array with ``offsets[0] == 0`` and ``offsets[R] == E``.
        """
        num_receivers = int(num_receivers)
        if num_receivers < 0:
            raise ValueError(f"num_receivers must be >= 0, got {num_receivers}")
        if self.num_edges and int(self.receiver[-1]) >= num_receivers:
            raise ValueError(
                f"num_receivers={num_receivers} is too small: the edges reach receiver "
                f"{int(self.receiver[-1])}; pass at least {int(self.receiver[-1]) + 1}"
            )
        offsets = np.zeros(num_receivers + 1, dtype=np.int64)
        # receiver is sorted, so searchsorted gives the start of every run directly.
        offsets[:] = np.searchsorted(self.receiver, np.arange(num_receivers + 1), side="left")
        return offsets

    def __repr__(self) -> str:
        return f"Edges(num_edges={self.num_edges})"


def empty_edges() -> Edges:
    """Return an :class:`Edges` with zero edges and the right dtypes and shapes."""
    return Edges(
        sender=np.zeros(0, dtype=np.int64),
        receiver=np.zeros(0, dtype=np.int64),
        vectors=np.zeros((0, 3), dtype=np.float64),
    )
