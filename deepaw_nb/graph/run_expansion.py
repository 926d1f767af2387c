"""Expand per-(row, image) runs of grid points into edges sorted by probe.

Input: for each (row, atom image) pair of a batch, an inclusive run ``lo..hi`` of grid
indices ``k`` within the cutoff, the sending atom, and the offset ``row origin - image``
(Å).  Pairs are sorted by (row, image), and images are numbered in (atom, translation)
order.  Output: one edge per (pair, k), sorted by probe ``(row, k)``, then image.

How: rows are cut into *units* of at most ``segment`` consecutive points (long rows of
big cells would otherwise meet many more images than any one point does).  The runs of
a block of units are written into a boolean array indexed ``(unit, k, slot)`` (``slot``
= rank of the pair within its unit); ``np.flatnonzero`` of that array lists the edges in
exactly the wanted order, so no sort of edges is needed.  The slot axis is rounded up to
a power of two so the flat index splits with a shift and a mask.  Edges are produced in
blocks of about ``EDGE_BLOCK`` so that every per-edge temporary stays in the CPU cache;
only the output arrays travel to main memory.

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


def _split_rows(row, lo, hi, atom, offset, num_rows: int, nz: int, segment: int):
    """Cut rows into units of ``segment`` points; returns pairs sorted by (unit, image)."""
    nseg = -(-nz // segment)
    if nseg == 1:
        return row, lo, hi, atom, offset, nseg
    seg_lo, seg_hi = lo // segment, hi // segment
    count = seg_hi - seg_lo + 1
    src = np.repeat(np.arange(row.shape[0]), count)
    first = np.cumsum(count) - count
    seg = seg_lo[src] + (np.arange(src.shape[0]) - first[src])
    unit = row[src] * nseg + seg
    # Pairs are sorted by (row, image); a stable sort by unit keeps image order inside
    # each unit.  16-bit keys get numpy's linear-time radix sort.
    key = unit.astype(np.uint16) if num_rows * nseg <= (1 << 16) else unit
    order = np.argsort(key, kind="stable")
    src, seg, unit = src[order], seg[order], unit[order]
    base = seg * segment
    lo_u = np.maximum(lo[src], base) - base
    hi_u = np.minimum(hi[src], base + segment - 1) - base
    return unit, lo_u, hi_u, atom[src], offset[:, src], nseg


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
    segment: int | None = None,
) -> Edges:
    """Turn runs into :class:`Edges`.

    Args:
        row: ``(Q,)`` int64 row of each pair, ``0 <= row < num_rows``, non-decreasing.
        lo, hi: ``(Q,)`` int64 inclusive run limits in ``[0, nz)``; ``lo <= hi``.
        atom: ``(Q,)`` int64 sending atom of each pair.
        offset: ``(3, Q)`` float64 row origin minus image position (Å), as columns.
        num_rows: number of rows in the batch.
        nz: grid points per row.
        step: ``(3,)`` Cartesian step (Å) along a row.
        receiver_base: subtracted from ``row * nz + k`` to give the receiver index.
        segment: unit length in points (default ``nz``: whole rows).

    Returns:
        Edges with ``vectors = offset + k * step`` computed as exactly that float64
        expression (a multiply, then an add), so lengths match :mod:`.row_intervals`.
    """
    run_len = hi - lo + 1
    total = int(run_len.sum())
    if total == 0:
        return empty_edges()
    seg_len = nz if segment is None else max(1, min(int(segment), nz))
    unit, lo, hi, atom, offset, nseg = _split_rows(row, lo, hi, atom, offset, num_rows, nz, seg_len)
    run_len = hi - lo + 1
    num_units = num_rows * nseg
    per_unit = np.bincount(unit, minlength=num_units)
    wbits = _bits(int(per_unit.max()))
    width, wmask = 1 << wbits, (1 << wbits) - 1
    # Padded (unit, slot) tables for the whole batch: `width` entries per unit.
    slot = np.arange(unit.shape[0]) - (np.cumsum(per_unit) - per_unit)[unit]
    pair_flat = (unit << wbits) + slot
    sdt, udt = (np.int16, np.uint16) if seg_len < (1 << 15) else (np.int32, np.uint32)
    lo_pad = np.zeros(num_units << wbits, dtype=sdt)
    len_pad = np.zeros(num_units << wbits, dtype=udt)  # 0 = empty slot
    lo_pad[pair_flat] = lo
    len_pad[pair_flat] = run_len
    atom_pad = np.zeros(num_units << wbits, dtype=np.int64)
    atom_pad[pair_flat] = atom
    # x and y travel together as one complex128 (one 16-byte gather instead of two);
    # complex addition is two float64 additions, so the arithmetic is unchanged.
    offset_xy = np.zeros(num_units << wbits, dtype=np.complex128)
    offset_xy.real[pair_flat] = offset[0]
    offset_xy.imag[pair_flat] = offset[1]
    offset_z = np.zeros(num_units << wbits, dtype=np.float64)
    offset_z[pair_flat] = offset[2]
    # Per-point tables, point q = unit * seg_len + k_local: start of the unit's slots,
    # receiver, and k * step (the same float64 products as ``k[:, None] * step``).
    q = np.arange(num_units * seg_len, dtype=np.int64)
    unit_q, k_q = np.divmod(q, seg_len)
    unit_start = unit_q << wbits
    row_q, seg_q = np.divmod(unit_q, nseg)
    k_q += seg_q * seg_len  # k along the whole row
    receiver_q = row_q * nz + k_q - receiver_base
    k_f = k_q.astype(np.float64)
    step = np.asarray(step, dtype=np.float64)
    k_xy = np.empty(q.shape[0], dtype=np.complex128)
    k_xy.real = k_f * step[0]
    k_xy.imag = k_f * step[1]
    k_z = k_f * step[2]
    k_axis = np.arange(seg_len, dtype=sdt).reshape(1, seg_len, 1)
    lo3 = lo_pad.reshape(num_units, 1, width)
    len3 = len_pad.reshape(num_units, 1, width)
    # Block boundaries (in units) holding about EDGE_BLOCK edges each.
    edges_per_unit = np.bincount(unit, run_len, num_units).astype(np.int64)
    before = np.concatenate([[0], np.cumsum(edges_per_unit)])
    cuts = np.searchsorted(before, np.arange(0, total, EDGE_BLOCK), side="right") - 1
    cuts = np.unique(np.concatenate([cuts, [num_units]]))
    most = int(np.diff(before[cuts]).max())
    buf_c1, buf_c2 = np.empty(most, np.complex128), np.empty(most, np.complex128)
    buf_f1, buf_f2 = np.empty(most), np.empty(most)
    sender = np.empty(total, dtype=np.int64)
    receiver = np.empty(total, dtype=np.int64)
    vectors = np.empty((total, 3), dtype=np.float64)
    vectors_xy = vectors[:, :2].view(np.complex128)[:, 0]
    for u0, u1 in zip(cuts[:-1].tolist(), cuts[1:].tolist()):
        e0, e1 = int(before[u0]), int(before[u1])
        if e0 == e1:
            continue
        n, q0 = e1 - e0, u0 * seg_len
        # k - lo as unsigned is below the run length exactly when lo <= k <= hi.
        mask = (k_axis - lo3[u0:u1]).view(udt) < len3[u0:u1]
        # C order of (unit, k, slot) is the (probe, sender, translation) edge order.
        flat = np.flatnonzero(mask)
        pair = flat & wmask  # slot within the unit
        flat >>= wbits  # now the point within the block, unit * seg_len + k_local
        # Indices are in range by construction; mode="clip" skips the copy numpy makes
        # for out= with the default mode="raise".
        if nseg == 1:  # whole rows: the point index is the probe index
            np.add(flat, q0 - receiver_base, out=receiver[e0:e1])
        else:
            np.take(receiver_q[q0:], flat, out=receiver[e0:e1], mode="clip")
        pair |= np.take(unit_start[q0:], flat, mode="clip")  # index into padded tables
        np.take(atom_pad, pair, out=sender[e0:e1], mode="clip")
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
