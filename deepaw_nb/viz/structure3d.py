"""3-D traces for the crystal structure: atoms (element colours and sizes) and cell edges.

Positions are Cartesian Å.  Colours are the Jmol scheme from ``ase.data.colors`` and the
marker sizes grow with the covalent radius from ``ase.data``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import plotly.graph_objects as go
from ase.data import covalent_radii
from ase.data.colors import jmol_colors

from deepaw_nb.viz._inputs import as_cell_matrix

__all__ = [
    "atom_traces",
    "cell_edges_trace",
    "element_color",
    "marker_size",
    "scene_layout",
    "wrapped_positions",
]

# The 12 edges of the unit cube as pairs of corner indices; corner n has fractional
# coordinates given by the bits of n (bit 0 -> a, bit 1 -> b, bit 2 -> c).
_CUBE_EDGES = [
    (0, 1), (2, 3), (4, 5), (6, 7),  # along a
    (0, 2), (1, 3), (4, 6), (5, 7),  # along b
    (0, 4), (1, 5), (2, 6), (3, 7),  # along c
]


def element_color(number: int) -> str:
    """Jmol colour of atomic number ``number`` as a plotly ``"rgb(r,g,b)"`` string."""
    r, g, b = (int(round(255 * c)) for c in jmol_colors[int(number)])
    return f"rgb({r},{g},{b})"


def marker_size(number: int, scale: float = 1.0) -> float:
    """Marker diameter in screen pixels for atomic number ``number``.

    Plotly 3-D markers have a fixed pixel size, so this is only a visual cue:
    ``scale · (6 + 12 · r_cov)`` with the covalent radius r_cov in Å (H ≈ 10 px, Hf ≈ 27 px).
    """
    return float(scale * (6.0 + 12.0 * covalent_radii[int(number)]))


def wrapped_positions(atoms: Any) -> np.ndarray:
    """Cartesian positions (Å) of ``atoms`` wrapped into the unit cell [0, 1)³."""
    cell = as_cell_matrix(atoms.cell)
    frac = np.linalg.solve(cell.T, np.asarray(atoms.get_positions(), dtype=float).T).T
    frac = frac - np.floor(frac)
    frac[np.isclose(frac, 1.0, atol=1e-10)] = 0.0
    return frac @ cell


def cell_edges_trace(cell: Any, *, color: str = "black", width: float = 3.0, name: str = "cell") -> go.Scatter3d:
    """The 12 edges of the unit cell (rows of ``cell`` = lattice vectors, Å) as one line trace."""
    mat = as_cell_matrix(cell)
    corners = np.array([[(n >> 0) & 1, (n >> 1) & 1, (n >> 2) & 1] for n in range(8)], dtype=float) @ mat
    xs: list[float | None] = []
    ys: list[float | None] = []
    zs: list[float | None] = []
    for start, end in _CUBE_EDGES:
        for p in (corners[start], corners[end]):
            xs.append(float(p[0]))
            ys.append(float(p[1]))
            zs.append(float(p[2]))
        xs.append(None)
        ys.append(None)
        zs.append(None)
    return go.Scatter3d(
        x=xs, y=ys, z=zs, mode="lines", name=name,
        line=dict(color=color, width=width), hoverinfo="skip", showlegend=False,
    )


def atom_traces(atoms: Any, *, size_scale: float = 1.0, wrap: bool = True) -> list[go.Scatter3d]:
    """One marker trace per element (so the legend can toggle elements).

    Hover text shows the element, the atom's index in ``atoms`` and its Cartesian
    position in Å.  With ``wrap=True`` atoms are drawn at their image inside the cell,
    where the density is drawn.
    """
    numbers = np.asarray(atoms.get_atomic_numbers())
    symbols = atoms.get_chemical_symbols()
    pos = wrapped_positions(atoms) if wrap else np.asarray(atoms.get_positions(), dtype=float)
    traces = []
    for z in dict.fromkeys(numbers.tolist()):  # first-appearance order
        idx = np.flatnonzero(numbers == z)
        sym = symbols[idx[0]]
        hover = [
            f"{sym} {i}<br>({pos[i, 0]:.3f}, {pos[i, 1]:.3f}, {pos[i, 2]:.3f}) Å" for i in idx
        ]
        traces.append(
            go.Scatter3d(
                x=pos[idx, 0], y=pos[idx, 1], z=pos[idx, 2],
                mode="markers", name=sym,
                marker=dict(
                    size=marker_size(z, size_scale), color=element_color(z), opacity=1.0,
                    line=dict(color="rgb(40,40,40)", width=1),
                ),
                text=hover, hovertemplate="%{text}<extra></extra>",
            )
        )
    return traces


def scene_layout() -> dict:
    """Scene settings shared by 3-D figures: equal aspect, axes titled in Å."""
    axis = dict(showbackground=False, zeroline=False)
    return dict(
        aspectmode="data",
        xaxis=dict(title="x (Å)", **axis),
        yaxis=dict(title="y (Å)", **axis),
        zaxis=dict(title="z (Å)", **axis),
    )
