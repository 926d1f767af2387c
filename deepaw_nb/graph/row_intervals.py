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


def candidate_pairs(
    i_rows: np.ndarray,
    j_rows: np.ndarray,
    grid_xy: tuple[int, int],
    image_frac: np.ndarray,
    pad: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Row/image pairs that pass a cheap fractional-coordinate test (a superset).

    A point within ``cutoff`` of an image differs from it by at most ``pad_a = cutoff *
    |b_a|`` in fractional coordinate ``a``.  Every point of row ``(i, j)`` has fractional
    coordinates ``(i/nx, j/ny, *)``, so an image can only reach the row if
    ``|f0 - i/nx| <= pad_0`` and ``|f1 - j/ny| <= pad_1``.  The two tests are separable:
    they are evaluated per i-plane and per j-line, then combined per row.

    Args:
        i_rows, j_rows: ``(R,)`` grid indices of the rows (``i_rows`` non-decreasing).
        grid_xy: ``(nx, ny)``.
        image_frac: ``(M, 3)`` fractional coordinates of the atom images.
        pad: ``(3,)`` fractional padding (see :mod:`.images`).

    Returns:
        ``(row, image)`` int64 index arrays in row-major (row, then image) order.
    """
    nx, ny = grid_xy
    i_lo, i_hi = int(i_rows[0]), int(i_rows[-1])
    plane = np.arange(i_lo, i_hi + 1) / nx
    near_plane = np.abs(image_frac[None, :, 0] - plane[:, None]) <= pad[0]
    j_lo, j_hi = int(j_rows.min()), int(j_rows.max())
    line = np.arange(j_lo, j_hi + 1) / ny
    near_line = np.abs(image_frac[None, :, 1] - line[:, None]) <= pad[1]
    ok = near_plane[i_rows - i_lo] & near_line[j_rows - j_lo]
    rows, imgs = np.nonzero(ok)
    return rows.astype(np.int64), imgs.astype(np.int64)


def _squared_length(d: np.ndarray) -> np.ndarray:
    """``x*x + y*y + z*z`` of a ``(3, Q)`` column array, in the order of ``squared_norms``."""
    return d[0] * d[0] + d[1] * d[1] + d[2] * d[2]


def _inside(d: np.ndarray, step: np.ndarray, k: np.ndarray, cutoff_sq: float) -> np.ndarray:
    """True where grid point ``k`` of the pair (offset columns ``d``) is strictly inside.

    Uses exactly the arithmetic that produces the final edge vectors, component by
    component ``d + k * step``, so run limits agree bit for bit with the vectors' own
    squared lengths (:func:`deepaw_nb.graph.edges.squared_norms`).
    """
    kf = k.astype(np.float64)
    v = np.stack([d[0] + kf * step[0], d[1] + kf * step[1], d[2] + kf * step[2]])
    return _squared_length(v) < cutoff_sq


_NONE = 1 << 40  # sentinel limit that makes a run empty


def _lower_limit(d: np.ndarray, step: np.ndarray, guess: np.ndarray, r2: float) -> np.ndarray:
    """Exact first inside point, given that it is ``guess - 1``, ``guess`` or ``guess + 1``."""
    out = np.full(guess.shape, _NONE, dtype=np.int64)
    for k in (guess + 1, guess, guess - 1):  # the last hit wins: the smallest inside point
        out = np.where(_inside(d, step, k, r2), k, out)
    return out


def _upper_limit(d: np.ndarray, step: np.ndarray, guess: np.ndarray, r2: float) -> np.ndarray:
    """Exact last inside point, given that it is ``guess - 1``, ``guess`` or ``guess + 1``."""
    out = np.full(guess.shape, -_NONE, dtype=np.int64)
    for k in (guess - 1, guess, guess + 1):  # the last hit wins: the largest inside point
        out = np.where(_inside(d, step, k, r2), k, out)
    return out


def exact_runs(
    d: np.ndarray, step: np.ndarray, cutoff: float, nz: int
) -> tuple[np.ndarray, np.ndarray]:
    """Inclusive run ``lo..hi`` of grid points within the cutoff, clipped to ``[0, nz)``.

    Args:
        d: ``(3, Q)`` row origin minus atom image position (Å), one column per pair.
        step: ``(3,)`` Cartesian step (Å) along the row.
        cutoff: ball radius (Å); membership is ``|d + k * step|^2 < cutoff^2``.
        nz: number of points per row.

    Returns:
        ``(lo, hi)`` int64 arrays; a pair with no point in range has ``lo > hi``.
    """
    cc = float(step @ step)
    r2 = cutoff * cutoff
    eps = 64.0 * np.finfo(np.float64).eps
    lo = np.ones(d.shape[1], dtype=np.int64)
    hi = np.zeros(d.shape[1], dtype=np.int64)
    b = d[0] * step[0] + d[1] * step[1] + d[2] * step[2]
    dd = _squared_length(d)
    disc = b * b - cc * (dd - r2)
    scale = b * b + cc * (dd + r2)
    # Pairs whose discriminant is clearly negative never reach the sphere.
    live = np.flatnonzero(disc > -eps * scale)
    b, disc, scale = b[live], disc[live], scale[live]
    half = np.sqrt(np.maximum(disc, 0.0))
    k_minus = (-b - half) / cc
    k_plus = (-b + half) / cc
    # Strict inequality: integers strictly between the two roots of the quadratic.
    lo_l = np.floor(k_minus).astype(np.int64) + 1
    hi_l = np.ceil(k_plus).astype(np.int64) - 1
    # A root within rounding error of an integer leaves that grid point's membership
    # undecided (it lies within ~1e-12 Å of the sphere).  Bound the root error (the
    # square root amplifies the error of a small discriminant) and settle those few
    # limits with the exact membership test used for the final vectors.
    half_err = eps * scale / np.maximum(half, np.sqrt(eps * scale))
    tol = (eps * (np.abs(b) + half) + half_err) / cc + 1e-9
    unsure = (np.abs(k_minus - np.round(k_minus)) < tol) | (
        np.abs(k_plus - np.round(k_plus)) < tol
    )
    if np.any(unsure):
        idx = np.flatnonzero(unsure)
        d_u = d[:, live[idx]]
        lo_l[idx] = _lower_limit(d_u, step, lo_l[idx], r2)
        hi_l[idx] = _upper_limit(d_u, step, hi_l[idx], r2)
    lo[live] = np.clip(lo_l, 0, nz)
    hi[live] = np.clip(hi_l, -1, nz - 1)
    return lo, hi
