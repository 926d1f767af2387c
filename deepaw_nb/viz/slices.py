"""2-D density maps on lattice planes, drawn in true Cartesian in-plane coordinates."""

from __future__ import annotations

import math
from typing import Any, Optional, Sequence

import numpy as np
import plotly.graph_objects as go

from deepaw_nb.errors import DeepawError
from deepaw_nb.viz._inputs import _unpack, as_cell_matrix
from deepaw_nb.viz.planes import SlicePlane, _check_hkl, atoms_near_plane, axis_plane, hkl_plane, sample_plane
from deepaw_nb.viz.structure3d import element_color
from deepaw_nb.viz.units import convert_density_units, normalize_unit, unit_label

__all__ = ["slice_figure"]

_MAX_PIXELS_PER_SIDE = 600
_MIN_PIXELS_PER_SIDE = 100


def _default_spacing(shape: tuple[int, ...], cell: np.ndarray, plane: SlicePlane) -> float:
    """Half the finest grid spacing, kept between extent/600 and extent/100 (Å)."""
    grid_step = min(np.linalg.norm(cell[n]) / shape[n] for n in range(3))
    box = plane.corners_2d()
    extent = float((box.max(axis=0) - box.min(axis=0)).max())
    return float(np.clip(0.5 * grid_step, extent / _MAX_PIXELS_PER_SIDE, extent / _MIN_PIXELS_PER_SIDE))


def _resolve_point(point: Any, point_frame: str, atoms: Any, cell: np.ndarray) -> np.ndarray:
    """Cartesian point (Å) from an atom index or a fractional/Cartesian triple."""
    if isinstance(point, (int, np.integer)) and not isinstance(point, bool):
        if not -len(atoms) <= int(point) < len(atoms):
            raise DeepawError(f"point={point} is not an atom index; the structure has {len(atoms)} atoms")
        return np.asarray(atoms.get_positions()[int(point)], dtype=float)
    p = np.asarray(point, dtype=float)
    if p.shape != (3,) or not np.all(np.isfinite(p)):
        raise DeepawError(f"point={point!r} must be an atom index or three finite coordinates")
    if point_frame == "fractional":
        return p @ cell
    if point_frame == "cartesian":
        return p
    raise DeepawError(f"point_frame={point_frame!r} must be 'fractional' or 'cartesian'")


def _build_plane(cell, atoms, axis, position, hkl, point, point_frame) -> tuple[SlicePlane, str]:
    if hkl is None:
        pos = position
        if point is not None:
            ax = axis_plane(cell, axis, 0.0).hkl.index(1)
            pos = float(np.linalg.solve(cell.T, _resolve_point(point, point_frame, atoms, cell))[ax])
        plane = axis_plane(cell, axis, pos)
        name = "abc"[plane.hkl.index(1)]
        return plane, f"({' '.join(map(str, plane.hkl))}) plane at {name} = {float(pos) % 1.0:.3f}"
    _check_hkl(hkl)
    h = np.array([int(float(x)) for x in hkl], dtype=float)
    if point is None:
        if not np.isfinite(position):
            raise DeepawError(f"position={position} must be a finite number")
        p = (float(position) * h / float(h @ h)) @ cell
        plane = hkl_plane(cell, hkl, p)
        where = f"h·x = {float(position):.3f}"
    else:
        p = _resolve_point(point, point_frame, atoms, cell)
        plane = hkl_plane(cell, hkl, p)
        if isinstance(point, (int, np.integer)):
            where = f"through atom {int(point)} ({atoms.get_chemical_symbols()[int(point)]})"
        else:
            where = "through ({:.3f}, {:.3f}, {:.3f}) Å".format(*p)
    label = "(" + " ".join(str(x) for x in plane.hkl) + ")"
    return plane, f"{label} plane {where}"


def _outside_fade(corners: np.ndarray, x0: float, x1: float, y0: float, y1: float) -> go.Scatter:
    """White, mostly opaque polygons covering the box [x0, x1]×[y0, y1] outside the cell.

    ``corners`` is the counter-clockwise parallelogram inscribed in the box (each corner on
    the box boundary).  For each cell edge the region between it and the box boundary is
    the edge's end points plus the box corners met walking counter-clockwise between them.
    """
    w, h = x1 - x0, y1 - y0
    tol = 1e-9 * max(w, h)
    box = [(x0, y0, 0.0), (x1, y0, w), (x1, y1, w + h), (x0, y1, 2 * w + h)]

    def perimeter(p):
        x, y = p
        if abs(y - y0) <= tol:
            return x - x0
        if abs(x - x1) <= tol:
            return w + (y - y0)
        if abs(y - y1) <= tol:
            return w + h + (x1 - x)
        return (2 * w + h + (y1 - y)) % (2 * (w + h))

    xs: list = []
    ys: list = []
    total = 2 * (w + h)
    for n in range(len(corners)):
        p, q = corners[n], corners[(n + 1) % len(corners)]
        start, span = perimeter(p), (perimeter(q) - perimeter(p)) % total
        between = sorted(((bp - start) % total, bx, by) for bx, by, bp in box)
        poly = [tuple(p)] + [(bx, by) for d, bx, by in between if tol < d < span - tol] + [tuple(q)]
        if len(poly) > 2:
            xs += [pt[0] for pt in poly] + [None]
            ys += [pt[1] for pt in poly] + [None]
    return go.Scatter(x=xs, y=ys, mode="lines", fill="toself", fillcolor="rgba(255,255,255,0.8)",
                      line=dict(width=0), hoverinfo="skip", hoveron="points", showlegend=False,
                      name="outside cell")


def slice_figure(
    result: Any = None,
    *,
    density: Optional[np.ndarray] = None,
    atoms: Any = None,
    axis: str = "c",
    position: float = 0.5,
    hkl: Optional[Sequence[int]] = None,
    point: Any = None,
    point_frame: str = "fractional",
    unit: str = "e/A3",
    resolution: Optional[float] = None,
    show_atoms: bool = True,
    atom_distance: float = 0.5,
) -> go.Figure:
    """Heat map of the density on a crystal plane.

    Plane choice
    ------------
    * ``hkl=None`` (default): the plane spanned by the two other lattice vectors at
      fractional coordinate ``position`` along ``axis`` ("a", "b" or "c"); ``axis="c",
      position=0.5`` is z_frac = 0.5.  If ``point`` is given, the plane passes through it
      instead.  The position is wrapped into [0, 1) and the map is *interpolated* between
      grid planes (periodic trilinear interpolation), not snapped to the nearest one.
    * ``hkl=(h, k, l)``: the (hkl) plane through ``point`` — an atom index, or three
      coordinates that are fractional (``point_frame="fractional"``, default) or Cartesian
      Å (``point_frame="cartesian"``) — or, without ``point``, the plane
      h·x + k·y + l·z = ``position`` in fractional coordinates.  One repeat unit of the
      plane is shown (its two shortest in-plane lattice vectors), centred on the point.

    The map is drawn in true Cartesian in-plane coordinates (Å) with equal axis scales,
    so a skewed cell gives a parallelogram (outlined); the periodic continuation that fills
    the rest of the rectangular plot is faded.

    Parameters
    ----------
    unit:
        ``"e/A3"`` or ``"e/bohr3"``: unit of the colour bar.
    resolution:
        Sample spacing in Å.  Default: half the finest grid spacing, limited to
        100–600 samples across the plane.
    show_atoms, atom_distance:
        Mark atoms (all periodic images) within ``atom_distance`` Å of the plane with their
        element symbol.

    Colours: a diverging scale centred on 0 if the density has both signs (its most
    negative value is ≥ 1 % of its largest magnitude, e.g. a difference map), else Viridis.
    ``fig.layout.meta`` records the plane geometry, spacing, unit and the atoms marked.
    """
    rho, atoms = _unpack(result, density, atoms)
    unit = normalize_unit(unit)
    label = unit_label(unit)
    cell = as_cell_matrix(atoms.cell)
    plane, plane_name = _build_plane(cell, atoms, axis, position, hkl, point, point_frame)
    if resolution is None:
        spacing = _default_spacing(rho.shape, cell, plane)
    else:
        if not np.isfinite(resolution) or resolution <= 0:
            raise DeepawError(f"resolution={resolution} must be a positive sample spacing in Å")
        spacing = float(resolution)
        box = plane.corners_2d()
        extent = float((box.max(axis=0) - box.min(axis=0)).max())
        if extent / spacing > 4000:
            raise DeepawError(
                f"resolution={resolution} Å gives {math.ceil(extent / spacing)} samples per side; use ≥ {extent / 4000:.3g} Å"
            )
    s, t, values, _ = sample_plane(rho, cell, plane, spacing)
    values = convert_density_units(values, "e/A3", unit)

    dmin, dmax = float(rho.min()), float(rho.max())
    signed = dmin < 0.0 and -dmin >= 0.01 * max(abs(dmin), abs(dmax))
    heat = dict(colorscale="RdBu_r", zmid=0.0) if signed else dict(colorscale="Viridis")
    fig = go.Figure(
        go.Heatmap(
            x=s, y=t, z=values, zsmooth="best", name="density",
            colorbar=dict(title=dict(text=f"ρ ({label})")),
            hovertemplate=f"s=%{{x:.2f}} Å, t=%{{y:.2f}} Å<br>ρ=%{{z:.4g}} {label}<extra></extra>",
            **heat,
        )
    )
    outline = plane.corners_2d()
    fig.add_trace(_outside_fade(outline[:4], s[0], s[-1], t[0], t[-1]))
    fig.add_trace(go.Scatter(x=outline[:, 0], y=outline[:, 1], mode="lines", name="cell",
                             line=dict(color="black", width=1.5), hoverinfo="skip", showlegend=False))

    marked = atoms_near_plane(atoms, plane, atom_distance) if show_atoms else []
    if marked:
        fig.add_trace(go.Scatter(
            x=[m["s"] for m in marked], y=[m["t"] for m in marked], mode="markers+text",
            text=[m["symbol"] for m in marked], textposition="top center", name="atoms",
            textfont=dict(color="black", size=13),
            marker=dict(color=[element_color(m["number"]) for m in marked], size=11,
                        line=dict(color="black", width=1)),
            customdata=[[m["index"], m["distance"]] for m in marked],
            hovertemplate="%{text} %{customdata[0]}<br>%{customdata[1]:.2f} Å from plane<extra></extra>",
            showlegend=False, cliponaxis=False,
        ))

    u1 = plane.edge_indices[0]
    margin = 0.03 * max(s[-1] - s[0], t[-1] - t[0])
    dir1 = "[" + " ".join(map(str, u1)) + "]"
    fig.update_layout(
        title=f"ρ on the {plane_name}",
        xaxis=dict(title=f"along {dir1} (Å)", constrain="domain", showgrid=False, zeroline=False,
                   range=[s[0] - margin, s[-1] + margin]),
        yaxis=dict(title=f"in plane, ⊥ {dir1} (Å)", scaleanchor="x", scaleratio=1,
                   constrain="domain", showgrid=False, zeroline=False, range=[t[0] - margin, t[-1] + margin]),
        plot_bgcolor="white",
        meta=dict(
            plane=plane_name, hkl=list(plane.hkl), unit=unit, spacing=spacing,
            origin=plane.origin.tolist(), edge1=plane.edge1.tolist(), edge2=plane.edge2.tolist(),
            e1=plane.e1.tolist(), e2=plane.e2.tolist(),
            atoms=[m["index"] for m in marked],
        ),
    )
    return fig
