"""Which grid points of a grid row lie within the cutoff of an atom image.

A *row* is the line of grid points ``x(k) = origin + k * step`` for ``k = 0 .. nz-1``
(Å), i.e. fixed grid indices ``(i, j)`` and running ``k`` along the third lattice vector.
The points of a row within a ball of radius ``cutoff`` around an atom image form one
contiguous run ``lo <= k <= hi``, the integer solutions of a quadratic inequality.
Solving that quadratic per (row, image) pair is what makes the grid graph cheap: the
number of pairs is about ``(run length)`` times smaller than the number of edges.

No library offers this line/ball run computation, hence the hand-written code.
"""

from __future__ import annotations

import numpy as np

from deepaw_nb.graph.edges import squared_norms

# Candidate culling uses the expanded |o - y|^2 = |o|^2 - 2 o.y + |y|^2 (one matrix
# product), which loses about 1e-13 * |o|^2 Å^2 to cancellation; keep pairs whose
# discriminant is above -_CULL_SLACK * |step|^2 (Å^2 units) so none is ever lost.
_CULL_SLACK = 1e-6


def candidate_pairs(
    origins: np.ndarray, images: np.ndarray, step: np.ndarray, cutoff: float, nz: int
) -> tuple[np.ndarray, np.ndarray]:
    """Row/image pairs whose ball may reach a point of the row (a cheap superset).

    Args:
        origins: ``(R, 3)`` Cartesian position (Å) of grid point ``k = 0`` of each row.
        images: ``(M, 3)`` Cartesian positions (Å) of atom images.
        step: ``(3,)`` Cartesian step (Å) between neighbouring points of a row.
        cutoff: ball radius (Å).
        nz: number of points per row.

    Returns:
        ``(row, image)`` int64 index arrays in row-major (row, then image) order.
    """
    cc = float(step @ step)
    # b = (o - y).step and dd = |o - y|^2 for every pair, via outer operations only.
    b = (origins @ step)[:, None] - (images @ step)[None, :]
    dd = (
        np.einsum("ij,ij->i", origins, origins)[:, None]
        - 2.0 * (origins @ images.T)
        + np.einsum("ij,ij->i", images, images)[None, :]
    )
    disc = b * b - cc * (dd - cutoff * cutoff)
    ok = disc > -_CULL_SLACK * cc
    # The run is centred at k = -b/cc with half width sqrt(disc)/cc; it must meet [0, nz).
    half = np.sqrt(np.maximum(disc, 0.0))
    ok &= (-b + half) > -cc
    ok &= (-b - half) < nz * cc
    rows, imgs = np.nonzero(ok)
    return rows.astype(np.int64), imgs.astype(np.int64)


def _inside(d: np.ndarray, step: np.ndarray, k: np.ndarray, cutoff_sq: float) -> np.ndarray:
    """True where grid point ``k`` of the pair (offset ``d``) is strictly within the cutoff.

    Uses exactly the arithmetic that produces the final edge vectors, ``d + k * step``,
    so the run limits agree bit for bit with the vectors' own squared lengths.
    """
    return squared_norms(d + k[:, None] * step) < cutoff_sq


def exact_runs(
    d: np.ndarray, step: np.ndarray, cutoff: float, nz: int
) -> tuple[np.ndarray, np.ndarray]:
    """Inclusive run ``lo..hi`` of grid points within the cutoff, clipped to ``[0, nz)``.

    Args:
        d: ``(Q, 3)`` row origin minus atom image position (Å), one row per pair.
        step: ``(3,)`` Cartesian step (Å) along the row.
        cutoff: ball radius (Å); membership is ``|d + k * step|^2 < cutoff^2``.
        nz: number of points per row.

    Returns:
        ``(lo, hi)`` int64 arrays; a pair with no point in range has ``lo > hi``.
    """
    cc = float(step @ step)
    r2 = cutoff * cutoff
    b = d @ step
    disc = b * b - cc * (squared_norms(d) - r2)
    half = np.sqrt(np.maximum(disc, 0.0))
    # Strict inequality: integers strictly between the two roots of the quadratic.
    lo = np.floor((-b - half) / cc).astype(np.int64) + 1
    hi = np.ceil((-b + half) / cc).astype(np.int64) - 1
    lo = np.clip(lo, 0, nz)
    hi = np.clip(hi, -1, nz - 1)
    # Rounding in the roots can misplace a limit by one point when a grid point sits
    # within ~1e-12 Å of the sphere; settle each limit with the exact membership test.
    for _ in range(2):
        grow = (lo > 0) & _inside(d, step, (lo - 1).astype(np.float64), r2)
        lo = lo - grow
        shrink = (lo <= hi) & ~_inside(d, step, lo.astype(np.float64), r2)
        lo = lo + shrink
        grow = (hi < nz - 1) & _inside(d, step, (hi + 1).astype(np.float64), r2)
        hi = hi + grow
        shrink = (hi >= lo) & ~_inside(d, step, hi.astype(np.float64), r2)
        hi = hi - shrink
    return lo, hi
