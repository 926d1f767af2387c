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


_NONE = 1 << 40  # sentinel limit that makes a run empty


def _lower_limit(d: np.ndarray, step: np.ndarray, guess: np.ndarray, r2: float) -> np.ndarray:
    """Exact first inside point, given that it is ``guess - 1``, ``guess`` or ``guess + 1``."""
    out = np.full(guess.shape, _NONE, dtype=np.int64)
    for k in (guess + 1, guess, guess - 1):  # the last hit wins: the smallest inside point
        out = np.where(_inside(d, step, k.astype(np.float64), r2), k, out)
    return out


def _upper_limit(d: np.ndarray, step: np.ndarray, guess: np.ndarray, r2: float) -> np.ndarray:
    """Exact last inside point, given that it is ``guess - 1``, ``guess`` or ``guess + 1``."""
    out = np.full(guess.shape, -_NONE, dtype=np.int64)
    for k in (guess - 1, guess, guess + 1):  # the last hit wins: the largest inside point
        out = np.where(_inside(d, step, k.astype(np.float64), r2), k, out)
    return out


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
    dd = squared_norms(d)
    disc = b * b - cc * (dd - r2)
    half = np.sqrt(np.maximum(disc, 0.0))
    k_minus = (-b - half) / cc
    k_plus = (-b + half) / cc
    # Strict inequality: integers strictly between the two roots of the quadratic.
    lo = np.floor(k_minus).astype(np.int64) + 1
    hi = np.ceil(k_plus).astype(np.int64) - 1
    # A root within rounding error of an integer leaves that grid point's membership
    # undecided (it lies within ~1e-12 Å of the sphere).  Bound the root error (the
    # square root amplifies the error of a small discriminant) and settle those few
    # limits with the exact membership test used for the final vectors.
    eps = 64.0 * np.finfo(np.float64).eps
    scale = b * b + cc * (dd + r2)
    half_err = eps * scale / np.maximum(half, np.sqrt(eps * scale))
    tol = (eps * (np.abs(b) + half) + half_err) / cc + 1e-9
    unsure = (np.abs(k_minus - np.round(k_minus)) < tol) | (
        np.abs(k_plus - np.round(k_plus)) < tol
    )
    if np.any(unsure):
        idx = np.flatnonzero(unsure)
        lo[idx] = _lower_limit(d[idx], step, lo[idx], r2)
        hi[idx] = _upper_limit(d[idx], step, hi[idx], r2)
    return np.clip(lo, 0, nz), np.clip(hi, -1, nz - 1)
