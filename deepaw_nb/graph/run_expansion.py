"""Expand per-(row, image) runs of grid points into edges sorted by probe.

Input: for each (row, atom image) pair of a batch, an inclusive run ``lo..hi`` of grid
indices ``k`` within the cutoff, the sending atom, and the offset ``row origin - image``
(Å).  Pairs are sorted by (row, image), and images are numbered in (atom, translation)
order.  Output: one edge per (pair, k), sorted by probe ``(row, k)``, then image.

How: the runs of a block of rows are written into a boolean array indexed
``(row, k, slot)`` (``slot`` = rank of the pair within its row); ``np.flatnonzero``
of that array lists the edges in exactly the wanted order, so no sort is needed.  The
slot axis is rounded up to a power of two so the flat index splits into
``(row, k, slot)`` with shifts, masks and one division.  Edges are produced in blocks of about
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
    wbits = _bits(int(per_row.max()))
    width, wmask = 1 << wbits, (1 << wbits) - 1
    # Padded (row, slot) tables for the whole batch: `width` entries per row.
    slot = np.arange(row.shape[0]) - first_pair[row]
    pair_flat = (row << wbits) + slot
    sdt, udt = (np.int16, np.uint16) if nz < (1 << 15) else (np.int32, np.uint32)
    lo_pad = np.zeros(num_rows << wbits, dtype=sdt)
    len_pad = np.zeros(num_rows << wbits, dtype=udt)  # 0 = empty slot
    lo_pad[pair_flat] = lo
    len_pad[pair_flat] = run_len
    atom_pad = np.zeros(num_rows << wbits, dtype=np.int64)
    atom_pad[pair_flat] = atom
    # x and y travel together as one complex128 (one 16-byte gather instead of two);
    # complex addition is two float64 additions, so the arithmetic is unchanged.
    offset_xy = np.zeros(num_rows << wbits, dtype=np.complex128)
    offset_xy.real[pair_flat] = offset[:, 0]
    offset_xy.imag[pair_flat] = offset[:, 1]
    offset_z = np.zeros(num_rows << wbits, dtype=np.float64)
    offset_z[pair_flat] = offset[:, 2]
    # Per-probe tables, probe q = row * nz + k: start of the row's slots, and k * step
    # (the same float64 products as ``k[:, None] * step``).
    k = np.arange(nz, dtype=np.float64)
    step = np.asarray(step, dtype=np.float64)
    row_start = np.repeat(np.arange(num_rows, dtype=np.int64) << wbits, nz)
    k_xy = np.tile(k * step[0] + 1j * 0.0, num_rows)
    k_xy.imag = np.tile(k * step[1], num_rows)
    k_z = np.tile(k * step[2], num_rows)
    k_axis = np.arange(nz, dtype=sdt).reshape(1, nz, 1)
    lo3 = lo_pad.reshape(num_rows, 1, width)
    len3 = len_pad.reshape(num_rows, 1, width)
    # Block boundaries (in rows) holding about EDGE_BLOCK edges each.
    edges_before_row = np.concatenate([[0], np.cumsum(np.bincount(row, run_len, num_rows))])
    cuts = np.searchsorted(edges_before_row, np.arange(0, total, EDGE_BLOCK), side="right") - 1
    cuts = np.unique(np.concatenate([cuts, [num_rows]]))
    most = int(np.diff(edges_before_row[cuts]).max())
    buf_c1, buf_c2 = np.empty(most, np.complex128), np.empty(most, np.complex128)
    buf_f1, buf_f2 = np.empty(most), np.empty(most)
    sender = np.empty(total, dtype=np.int64)
    receiver = np.empty(total, dtype=np.int64)
    vectors = np.empty((total, 3), dtype=np.float64)
    vectors_xy = vectors[:, :2].view(np.complex128)[:, 0]
    for b0, b1 in zip(cuts[:-1].tolist(), cuts[1:].tolist()):
        e0, e1 = int(edges_before_row[b0]), int(edges_before_row[b1])
        if e0 == e1:
            continue
        n, q0 = e1 - e0, b0 * nz
        # k - lo as unsigned is below the run length exactly when lo <= k <= hi.
        mask = (k_axis - lo3[b0:b1]).view(udt) < len3[b0:b1]
        # C order of (row, k, slot) is the (probe, sender, translation) edge order.
        flat = np.flatnonzero(mask)
        pair = flat & wmask  # slot within the row
        flat >>= wbits  # now the probe within the block, row * nz + k
        np.add(flat, q0 - receiver_base, out=receiver[e0:e1])
        pair |= np.take(row_start[q0:], flat, mode="clip")  # now the index into the padded tables
        np.take(atom_pad, pair, out=sender[e0:e1], mode="clip")
        # Indices are in range by construction; mode="clip" skips the copy numpy makes for
        # out= with the default mode="raise".
        # Column groups, not (E, 3) broadcasting: numpy is slow on a length-3 inner axis.
        np.add(
            np.take(offset_xy, pair, out=buf_c1[:n], mode="clip"),
            np.take(k_xy[q0:], flat, out=buf_c2[:n], mode="clip"),
            out=vectors_xy[e0:e1],
        )
        np.add(
            np.take(offset_z, pair, out=buf_f1[:n], mode="clip"),
            np.take(k_z[q0:], flat, out=buf_f2[:n], mode="clip"),
            out=vectors[e0:e1, 2],
        )
    return Edges(sender=sender, receiver=receiver, vectors=vectors)
