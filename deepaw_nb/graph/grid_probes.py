"""Probe graph for the points of a regular grid, built batch by batch.

Probes are the grid points with flat C-order index ``p = (i * ny + j) * nz + k`` at
fractional coordinates ``(i/nx, j/ny, k/nz)``.  A contiguous range of ``p`` is a run of
whole *rows* (fixed ``i, j``; ``k = 0 .. nz-1``) plus partial rows at both ends.

Algorithm (all numpy, no per-probe Python loop):

1. Only the atom images whose fractional coordinates fall in the slab of the batch's
   i-planes (and j-range), padded by ``cutoff * |b_i|``, can be neighbours; per row, a
   separable test on the first two fractional coordinates keeps the candidate images.
2. For every (row, image) pair, the points of the row within the cutoff form one run
   ``lo..hi`` (:mod:`.row_intervals`): one quadratic per pair instead of one distance
   per probe and image.
3. The runs are expanded into edges already sorted by probe, then sender, then
   translation (:mod:`.run_expansion`); vectors are ``(origin - image) + k * step``.

Work and memory scale with the batch, not the grid: rows are processed in chunks whose
(row x image) candidate matrix has a fixed size budget, and edges are expanded in blocks.
"""

from __future__ import annotations

import numpy as np

from deepaw_nb.graph.edges import Edges, empty_edges
from deepaw_nb.graph.images import PeriodicImages, padded_images
from deepaw_nb.graph.row_intervals import candidate_pairs, exact_runs
from deepaw_nb.graph.run_expansion import expand_runs
from deepaw_nb.graph.validation import (
    check_batch,
    check_cell,
    check_cutoff,
    check_grid_shape,
    check_positions,
)

# Upper bound on (rows x images) in one candidate-culling boolean matrix (bytes).
_PAIR_BUDGET = 1 << 20


class _Runs:
    """Runs of one batch: per (row, image) pair, the probe range within the cutoff."""

    def __init__(self) -> None:
        self.row: list[np.ndarray] = []  # row index relative to the batch's first row
        self.lo: list[np.ndarray] = []
        self.hi: list[np.ndarray] = []
        self.atom: list[np.ndarray] = []
        self.offset: list[np.ndarray] = []  # (3, Q) row origin minus image position, Å

    def joined(self) -> tuple[np.ndarray, ...]:
        if not self.row:
            z = np.zeros(0, np.int64)
            return z, z, z, z, np.zeros((3, 0))
        return (
            *(np.concatenate(parts) for parts in (self.row, self.lo, self.hi, self.atom)),
            np.concatenate(self.offset, axis=1),
        )


class GridProbeGraph:
    """Neighbour edges from atom images to the points of a periodic grid.

    Args:
        positions: ``(N, 3)`` Cartesian atom positions in Å.
        cell: ``(3, 3)`` lattice vectors as rows (ASE convention), Å; fully periodic.
        grid_shape: ``(nx, ny, nz)``, the number of grid points along each lattice vector.
        cutoff: neighbour radius in Å; edges satisfy ``|vector| < cutoff`` (strict).

    Probe ``p = (i * ny + j) * nz + k`` sits at Cartesian ``(i/nx, j/ny, k/nz) @ cell``.
    """

    def __init__(
        self,
        positions: np.ndarray,
        cell: np.ndarray,
        grid_shape: tuple[int, int, int],
        cutoff: float,
    ) -> None:
        self.positions = check_positions(positions)
        self.cell = check_cell(cell)
        self.positions.flags.writeable = False  # the cached images depend on them
        self.cell.flags.writeable = False
        self.grid_shape = check_grid_shape(grid_shape)
        self.cutoff = check_cutoff(cutoff)
        nx, ny, nz = self.grid_shape
        self.num_probes: int = nx * ny * nz
        self._images: PeriodicImages = padded_images(self.positions, self.cell, self.cutoff)
        self._step = self.cell[2] / nz  # Å between neighbouring probes of a row
        self._image_cols = np.ascontiguousarray(self._images.cart.T)  # (3, M) Å
        # Long rows are expanded in units of ~1.5 cutoffs: a unit then meets only about
        # twice as many images as one of its points has neighbours (see run_expansion).
        step_len = float(np.linalg.norm(self._step))
        self._segment = nz
        if nz * step_len > 3.0 * self.cutoff:
            self._segment = max(1, int(np.ceil(1.5 * self.cutoff / step_len)))

    def __repr__(self) -> str:
        return (
            f"GridProbeGraph(num_atoms={self.positions.shape[0]}, grid_shape={self.grid_shape}, "
            f"cutoff={self.cutoff:g} Å, num_probes={self.num_probes})"
        )

    def probe_positions(self, start: int, stop: int) -> np.ndarray:
        """Cartesian positions (Å) of probes ``start <= p < stop``, shape ``(stop-start, 3)``."""
        start, stop = check_batch(start, stop, self.num_probes)
        nx, ny, nz = self.grid_shape
        i, rest = np.divmod(np.arange(start, stop, dtype=np.int64), ny * nz)
        j, k = np.divmod(rest, nz)
        frac = np.stack([i / nx, j / ny, k / nz], axis=1)
        return frac @ self.cell

    def edges(self, start: int, stop: int) -> Edges:
        """Edges of the probes ``start <= p < stop``; ``receiver = p - start``.

        Sorted by receiver, then sender, then sender-image translation.  Memory and time
        are proportional to the batch (its probes and edges), not to the whole grid.
        """
        start, stop = check_batch(start, stop, self.num_probes)
        if start == stop:
            return empty_edges()
        nz = self.grid_shape[2]
        row0 = start // nz
        num_rows = (stop - 1) // nz - row0 + 1
        last_row = row0 + num_rows - 1
        runs = self._runs(row0, num_rows, start - row0 * nz, stop - last_row * nz)
        row, lo, hi, atom, offset = runs
        return expand_runs(
            row, lo, hi, atom, offset, num_rows, nz, self._step,
            receiver_base=start - row0 * nz, segment=self._segment,
        )

    # -- step 1 and 2: runs per (row, image) pair -------------------------------------

    def _slab_images(self, rows: np.ndarray) -> np.ndarray:
        """Indices of the images that can reach any of the given (global) rows."""
        _, ny, _ = self.grid_shape
        nx = self.grid_shape[0]
        img = self._images
        i = rows // ny
        i_lo, i_hi = int(i[0]), int(i[-1])
        f0, f1 = img.frac[:, 0], img.frac[:, 1]
        keep = (f0 >= i_lo / nx - img.pad[0]) & (f0 <= i_hi / nx + img.pad[0])
        if i_lo == i_hi:  # one i-plane: the rows also span a j-range
            j_lo, j_hi = int(rows[0] % ny), int(rows[-1] % ny)
            keep &= (f1 >= j_lo / ny - img.pad[1]) & (f1 <= j_hi / ny + img.pad[1])
        return np.flatnonzero(keep)

    def _runs(self, row0: int, num_rows: int, k_first: int, k_end_last: int) -> tuple:
        """Runs of all (row, image) pairs of the batch, sorted by (row, image).

        The batch covers rows ``row0 .. row0 + num_rows - 1``, from ``k = k_first`` in its
        first row to ``k < k_end_last`` in its last row.
        """
        nx, ny, nz = self.grid_shape
        img = self._images
        step = self._step
        out = _Runs()
        all_rows = np.arange(row0, row0 + num_rows, dtype=np.int64)
        num_slab = max(1, self._slab_images(all_rows).shape[0])
        rows_per_chunk = max(1, _PAIR_BUDGET // num_slab)
        for c0 in range(0, num_rows, rows_per_chunk):
            rows = all_rows[c0 : c0 + rows_per_chunk]
            cand = self._slab_images(rows)
            if cand.shape[0] == 0:
                continue
            i, j = np.divmod(rows, ny)
            # Row origins (3, R) = (i/nx) a + (j/ny) b, written out: a BLAS call for a
            # (R, 3) @ (3, 3) product costs more than it computes (thread start-up).
            fi, fj = i / nx, j / ny
            origins = np.stack([fi * self.cell[0, c] + fj * self.cell[1, c] for c in range(3)])
            r_idx, c_idx = candidate_pairs(i, j, (nx, ny), img.frac[cand], img.pad)
            image_idx = cand[c_idx]
            # (3, Q) columns: numpy is slow on (Q, 3) arrays with a length-3 inner axis.
            offset = np.stack(
                [origins[c][r_idx] - self._image_cols[c][image_idx] for c in range(3)]
            )
            lo, hi = exact_runs(offset, step, self.cutoff, nz)
            local_row = r_idx + c0
            # The batch may start or end in the middle of a row.
            lo = np.where(local_row == 0, np.maximum(lo, k_first), lo)
            hi = np.where(local_row == num_rows - 1, np.minimum(hi, k_end_last - 1), hi)
            keep = lo <= hi
            out.row.append(local_row[keep])
            out.lo.append(lo[keep])
            out.hi.append(hi[keep])
            out.atom.append(img.atom[image_idx[keep]])
            out.offset.append(offset[:, keep])
        return out.joined()
