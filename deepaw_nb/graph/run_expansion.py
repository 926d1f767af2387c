"""Expand per-(row, image) runs of grid points into edges sorted by probe.

Input: for each (row, atom image) pair of a batch, an inclusive run ``lo..hi`` of grid
indices ``k`` within the cutoff, the sending atom, and the offset ``row origin - image``
(Å).  Pairs are sorted by (row, image), and images are numbered in (atom, translation)
order.  Output: one edge per (pair, k), sorted by probe ``(row, k)``, then image.

How: the runs of a block of rows are written into a boolean array indexed
``(row, k, slot)`` (``slot`` = rank of the pair within its row); ``np.flatnonzero``
of that array lists the edges in exactly the wanted order, so no sort is needed.  Both
padded axes are rounded up to powers of two so the flat index splits into
``(row, k, slot)`` with shifts and masks.  Edges are produced in blocks of about
``EDGE_BLOCK`` so that every per-edge temporary stays in the CPU cache; only the output
arrays travel to main memory.

No library offers "runs to sorted edges", hence the hand-written code.
"""

from __future__ import annotations

import numpy as np

from deepaw_nb.graph.edges import Edges, empty_edges

# Edges expanded per block.  Small enough that every per-edge temporary of a block stays
# in the CPU cache (about 100 bytes per edge), large enough to amortise numpy call overhead.
EDGE_BLOCK = 1 << 15


def _bits(n: int) -> int:
    """Smallest b with 2**b >= n (n >= 1)."""
    return max(0, int(n - 1).bit_length())


def expand_runs(
    row: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    atom: np.ndarray,
    offset: np.ndarray,
    num_rows: int,
    nz: int,
    step: np.ndarray,
    receiver_base: int,
) -> Edges:
    """Turn runs into :class:`Edges`.

    Args:
        row: ``(Q,)`` int64 row of each pair, ``0 <= row < num_rows``, non-decreasing.
        lo, hi: ``(Q,)`` int64 inclusive run limits in ``[0, nz)``; ``lo <= hi``.
        atom: ``(Q,)`` int64 sending atom of each pair.
        offset: ``(Q, 3)`` float64 row origin minus image position (Å).
        num_rows: number of rows in the batch.
        nz: grid points per row.
        step: ``(3,)`` Cartesian step (Å) along a row.
        receiver_base: subtracted from ``row * nz + k`` to give the receiver index.

    Returns:
        Edges with ``vectors = offset + k * step`` computed as exactly that float64
        expression (a multiply, then an add), so lengths match :mod:`.row_intervals`.
    """
    run_len = hi - lo + 1
    total = int(run_len.sum())
    if total == 0:
        return empty_edges()
    per_row = np.bincount(row, minlength=num_rows)
    first_pair = np.concatenate([[0], np.cumsum(per_row)])
    zbits = _bits(nz)
    wbits = _bits(int(per_row.max()))
    # Padded (row, slot) tables for the whole batch: about (pairs per row) entries per row.
    slot = np.arange(row.shape[0]) - first_pair[row]
    pair_flat = (row << wbits) + slot
    small = np.int16 if (1 << zbits) < np.iinfo(np.int16).max else np.int32
    lo_pad = np.full(num_rows << wbits, 1 << zbits, dtype=small)
    hi_pad = np.full(num_rows << wbits, -1, dtype=small)
    lo_pad[pair_flat] = lo
    hi_pad[pair_flat] = hi
    atom_pad = np.zeros(num_rows << wbits, dtype=np.int64)
    atom_pad[pair_flat] = atom
    offset_cols = np.zeros((3, num_rows << wbits), dtype=np.float64)
    offset_cols[:, pair_flat] = offset.T
    lo3 = lo_pad.reshape(num_rows, 1, 1 << wbits)
    hi3 = hi_pad.reshape(num_rows, 1, 1 << wbits)
    k_axis = np.arange(1 << zbits, dtype=small).reshape(1, 1 << zbits, 1)
    # Block boundaries (in rows) holding about EDGE_BLOCK edges each.
    edges_before_row = np.concatenate([[0], np.cumsum(np.bincount(row, run_len, num_rows))])
    cuts = np.searchsorted(edges_before_row, np.arange(0, total, EDGE_BLOCK), side="right") - 1
    cuts = np.unique(np.concatenate([cuts, [num_rows]]))
    sender = np.empty(total, dtype=np.int64)
    receiver = np.empty(total, dtype=np.int64)
    vectors = np.empty((total, 3), dtype=np.float64)
    step = np.asarray(step, dtype=np.float64)
    wmask, zmask = (1 << wbits) - 1, (1 << zbits) - 1
    col_a = np.empty(min(total, 2 * EDGE_BLOCK + 1 + nz * (1 << wbits)))
    col_b = np.empty_like(col_a)
    for b0, b1 in zip(cuts[:-1].tolist(), cuts[1:].tolist()):
        e0, e1 = int(edges_before_row[b0]), int(edges_before_row[b1])
        if e0 == e1:
            continue
        n = e1 - e0
        mask = (k_axis >= lo3[b0:b1]) & (k_axis <= hi3[b0:b1])
        # C order of (row, k, slot) is the (probe, sender, translation) edge order.
        flat = np.flatnonzero(mask)
        slot_e = flat & wmask
        flat >>= wbits  # now row * 2**zbits + k
        kk = flat & zmask
        flat >>= zbits  # now the row within the block
        recv = receiver[e0:e1]
        np.multiply(flat, nz, out=recv)
        recv += kk
        recv += b0 * nz - receiver_base
        flat += b0
        flat <<= wbits
        flat |= slot_e  # now the index into the padded (row, slot) tables
        np.take(atom_pad, flat, out=sender[e0:e1])
        kf = kk.astype(np.float64)
        # Column by column: numpy is slow on (E, 3) arrays with a length-3 inner loop.
        for c in range(3):
            a, b = col_a[:n], col_b[:n]
            np.take(offset_cols[c], flat, out=a)
            np.multiply(kf, step[c], out=b)
            np.add(a, b, out=vectors[e0:e1, c])
    return Edges(sender=sender, receiver=receiver, vectors=vectors)
