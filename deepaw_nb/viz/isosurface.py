"""Isosurfaces of a periodic density as plotly ``Mesh3d`` traces.

The surface is extracted with scikit-image's marching cubes on the periodically
wrapped grid: the first plane along each axis is appended after the last one, so a
surface that crosses a cell face closes there instead of leaving a gap one grid
spacing wide.  Vertices come out in grid-index coordinates, are turned into fractional
coordinates and then mapped through the lattice matrix, so skewed (triclinic) cells
are drawn correctly.  Only the triangle mesh is sent to the browser, never the grid.
"""

from __future__ import annotations

import math
from typing import Any, Optional

import numpy as np
import plotly.graph_objects as go
from skimage.measure import marching_cubes

from deepaw_nb.errors import DeepawError
from deepaw_nb.viz._inputs import _unpack, as_cell_matrix
from deepaw_nb.viz.structure3d import atom_traces, cell_edges_trace, scene_layout
from deepaw_nb.viz.units import convert_density_units, normalize_unit, unit_label

__all__ = [
    "choose_stride",
    "default_isovalue",
    "isosurface_figure",
    "isosurface_mesh",
    "mesh_trace_data",
]

POSITIVE_COLOR = "rgb(235,195,30)"   # yellow, as in VESTA
NEGATIVE_COLOR = "rgb(30,160,225)"   # cyan-blue
# Smooth (per-vertex) normals: flat shading makes overlapping transparent triangles
# flicker in WebGL.  facenormalsepsilon=0 keeps the tiny slivers marching cubes makes.
_LIGHTING = dict(
    ambient=0.45, diffuse=0.75, specular=0.25, roughness=0.55, fresnel=0.15,
    facenormalsepsilon=0.0, vertexnormalsepsilon=1e-12,
)
_LIGHT_POSITION = dict(x=3e4, y=6e4, z=1e5)


def choose_stride(shape: tuple[int, ...], max_points: int) -> int:
    """Smallest integer stride s such that the sub-sampled grid has ≤ ``max_points`` points.

    The sub-sampled grid keeps every s-th point along each axis, i.e. it has
    ``prod(ceil(n / s))`` points.
    """
    if int(max_points) < 8:
        raise DeepawError(f"max_points={max_points} is too small; use at least 8 (default 1_000_000)")
    stride = 1
    while math.prod(-(-n // stride) for n in shape) > max_points:
        stride += 1
    return stride


def default_isovalue(density: np.ndarray) -> float:
    """Isovalue magnitude (same unit as ``density``) used when none is given.

    Rule: if the data has both signs (a difference map: the most negative value is at
    least 1 % of the largest magnitude), the 99th percentile of |ρ|; otherwise the
    90th percentile of ρ, i.e. the surface encloses the densest 10 % of the cell.
    A value that would draw nothing (flat data) falls back to the mid-point of the range.
    """
    d = np.asarray(density, dtype=float)
    dmin, dmax = float(d.min()), float(d.max())
    amax = max(abs(dmin), abs(dmax))
    if amax == 0.0 or dmin == dmax:
        raise DeepawError(
            f"density is constant ({dmax:g}); there is no isosurface to draw — use slice_figure"
        )
    signed = dmin < 0.0 and -dmin >= 0.01 * amax
    if signed:
        iso = float(np.quantile(np.abs(d), 0.99))
        if not 0.0 < iso < amax:
            iso = 0.5 * amax
    else:
        iso = float(np.quantile(d, 0.9))
        if not (max(dmin, 0.0) < iso < dmax):
            iso = 0.5 * (max(dmin, 0.0) + dmax)
    return iso


def isosurface_mesh(
    density: np.ndarray, cell: Any, isovalue: float, stride: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """Triangle mesh of the surface ρ = ``isovalue`` in a periodic cell.

    Parameters
    ----------
    density:
        (nx, ny, nz) periodic grid; ``[i, j, k]`` sits at fractional (i/nx, j/ny, k/nz).
    cell:
        3×3 lattice (rows a, b, c in Å), an ``ase.cell.Cell`` or an ``ase.Atoms``.
    isovalue:
        The level, in the unit of ``density`` (signed: pass ``-0.01`` for a negative lobe).
    stride:
        Keep every ``stride``-th grid point along each axis before meshing (1 = all).

    Returns
    -------
    vertices:
        (n_vertices, 3) float array of Cartesian positions in Å, inside the cell.
    faces:
        (n_faces, 3) int array of vertex indices.

    Both arrays are empty when ``isovalue`` lies outside the data range, so a slider
    can sweep past the extremes.  This function does no other checking, so it is cheap
    to call repeatedly; update a figure with ``trace.update(**mesh_trace_data(v, f))``.
    """
    mat = as_cell_matrix(cell)
    d = np.asarray(density)
    s = max(int(stride), 1)
    sub = d[::s, ::s, ::s] if s > 1 else d
    padded = np.pad(sub, [(0, 1)] * 3, mode="wrap")
    level = float(isovalue)
    if not float(padded.min()) < level < float(padded.max()):
        return np.zeros((0, 3)), np.zeros((0, 3), dtype=np.int64)
    verts, faces, _, _ = marching_cubes(padded, level=level, allow_degenerate=False)
    frac = np.empty_like(verts, dtype=float)
    for ax in range(3):
        n, m = d.shape[ax], sub.shape[ax]
        if n % s == 0:
            frac[:, ax] = verts[:, ax] * (s / n)
        else:  # the last interval (back to the wrapped plane) is shorter than s
            knots = np.append(np.arange(m) * s, n) / n
            frac[:, ax] = np.interp(verts[:, ax], np.arange(m + 1), knots)
    return frac @ mat, faces.astype(np.int64, copy=False)


def mesh_trace_data(vertices: np.ndarray, faces: np.ndarray) -> dict:
    """``x, y, z, i, j, k`` keyword arguments of a ``go.Mesh3d`` for a mesh."""
    return dict(
        x=vertices[:, 0], y=vertices[:, 1], z=vertices[:, 2],
        i=faces[:, 0], j=faces[:, 1], k=faces[:, 2],
    )


def _mesh_trace(vertices, faces, *, color, opacity, name, hover) -> go.Mesh3d:
    return go.Mesh3d(
        **mesh_trace_data(vertices, faces),
        color=color, opacity=opacity, name=name, showlegend=True,
        flatshading=False, lighting=_LIGHTING, lightposition=_LIGHT_POSITION,
        hovertemplate=hover + "<extra></extra>",
    )


def _check_isovalue(iso: float, dmin: float, dmax: float, show_negative: bool, label: str, factor: float):
    """Raise a DeepawError naming the valid range when ±iso draws nothing."""
    pos_ok = dmin < iso < dmax
    neg_ok = show_negative and dmin < -iso < dmax
    if pos_ok or neg_ok:
        return pos_ok, neg_ok
    high = max(dmax, -dmin if show_negative else dmax)
    low = max(dmin, 0.0) if dmax > 0 else max(-dmax, 0.0)
    raise DeepawError(
        f"isovalue {iso * factor:.4g} {label} is outside the data range "
        f"({dmin * factor:.4g} to {dmax * factor:.4g} {label}); pick a magnitude between "
        f"{low * factor:.4g} and {high * factor:.4g}"
    )


def isosurface_figure(
    result: Any = None,
    *,
    density: Optional[np.ndarray] = None,
    atoms: Any = None,
    isovalue: Optional[float] = None,
    unit: str = "e/A3",
    opacity: float = 0.6,
    show_negative: bool = True,
    show_atoms: bool = True,
    show_cell: bool = True,
    max_points: int = 1_000_000,
) -> go.Figure:
    """3-D isosurface of a crystal density with its atoms and unit cell.

    Parameters
    ----------
    result:
        Object with ``.density`` ((nx, ny, nz) array, e/Å³, periodic) and ``.atoms``
        (``ase.Atoms``); or pass ``density=`` and ``atoms=`` (keywords win).
    isovalue:
        Positive magnitude in ``unit``.  The positive surface is drawn at +isovalue and,
        when ``show_negative`` and the data goes below −isovalue, the negative one at
        −isovalue.  Default: :func:`default_isovalue` (90th percentile of ρ, or the 99th
        percentile of |ρ| for signed data).
    unit:
        ``"e/A3"`` (default) or ``"e/bohr3"`` (VESTA's unit) for the isovalue and labels.
    opacity:
        0–1, applied to both surfaces.
    max_points:
        Grids with more points are sub-sampled with the smallest stride that fits (see
        :func:`choose_stride`); the stride is shown in the title and stored in
        ``fig.layout.meta["stride"]``.

    Returns
    -------
    A ``go.Figure`` with traces in this order: positive surface, negative surface (if
    any), one marker trace per element, cell edges.  ``fig.layout.meta`` holds the
    isovalue, unit, stride, grid shape and the trace index of each surface.
    """
    rho, atoms = _unpack(result, density, atoms)
    unit = normalize_unit(unit)
    label = unit_label(unit)
    if not 0.0 <= float(opacity) <= 1.0:
        raise DeepawError(f"opacity={opacity} must be between 0 and 1")
    cell = as_cell_matrix(atoms.cell)
    stride = choose_stride(rho.shape, max_points)
    sub = rho[::stride, ::stride, ::stride]
    dmin, dmax = float(sub.min()), float(sub.max())
    to_unit = convert_density_units(1.0, "e/A3", unit)

    if isovalue is None:
        iso = default_isovalue(sub)
    else:
        if not np.isfinite(isovalue) or isovalue <= 0:
            raise DeepawError(
                f"isovalue={isovalue} must be a positive magnitude; the negative surface is drawn at −isovalue"
            )
        iso = convert_density_units(float(isovalue), unit, "e/A3")
    pos_ok, neg_ok = _check_isovalue(iso, dmin, dmax, show_negative, label, to_unit)

    fig = go.Figure()
    meta: dict = {
        "isovalue": iso * to_unit, "unit": unit, "isovalue_e_per_A3": iso,
        "stride": stride, "grid_shape": list(rho.shape), "sampled_shape": list(sub.shape),
    }
    if pos_ok:
        v, f = isosurface_mesh(rho, cell, iso, stride)
        fig.add_trace(_mesh_trace(v, f, color=POSITIVE_COLOR, opacity=opacity,
                                  name=f"+{iso * to_unit:.3g} {label}",
                                  hover=f"ρ = +{iso * to_unit:.3g} {label}"))
        meta["positive_trace"] = len(fig.data) - 1
    if neg_ok:
        v, f = isosurface_mesh(-rho, cell, iso, stride)
        fig.add_trace(_mesh_trace(v, f, color=NEGATIVE_COLOR, opacity=opacity,
                                  name=f"−{iso * to_unit:.3g} {label}",
                                  hover=f"ρ = −{iso * to_unit:.3g} {label}"))
        meta["negative_trace"] = len(fig.data) - 1
    if show_atoms and len(atoms):
        fig.add_traces(atom_traces(atoms))
    if show_cell:
        fig.add_trace(cell_edges_trace(cell))

    sign = "±" if (pos_ok and neg_ok) else ("+" if pos_ok else "−")
    title = f"Isosurface {sign}{iso * to_unit:.3g} {label}"
    if stride > 1:
        title += f" (every {_ordinal(stride)} grid point of {rho.shape[0]}×{rho.shape[1]}×{rho.shape[2]})"
    fig.update_layout(
        title=title, meta=meta, scene=scene_layout(),
        legend=dict(itemsizing="constant"), margin=dict(l=0, r=0, t=40, b=0),
    )
    return fig


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"
