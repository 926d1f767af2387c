"""Plotly figures for crystal electron densities (no ipywidgets; usable in scripts).

Figure functions take a result with ``.density`` ((nx, ny, nz) array, e/Å³, periodic,
``[i, j, k]`` at fractional (i/nx, j/ny, k/nz)) and ``.atoms`` (``ase.Atoms``), or the
same as ``density=`` / ``atoms=`` keywords.

* :func:`isosurface_figure` / :func:`isosurface_mesh` — 3-D isosurfaces (marching cubes).
* :func:`slice_figure` — 2-D maps on lattice or (hkl) planes.
* :func:`timing_figure`, :func:`precision_comparison_figure` — run-time reports.
* :func:`export_figure` — HTML (always) or PNG/SVG/PDF (needs Chromium), written atomically.
* :func:`convert_density_units` — e/Å³ ↔ e/bohr³.
"""

from deepaw_nb.viz.export import export_figure, static_export_available
from deepaw_nb.viz.isosurface import (
    choose_stride,
    default_isovalue,
    isosurface_figure,
    isosurface_mesh,
    mesh_trace_data,
)
from deepaw_nb.viz.planes import SlicePlane, atoms_near_plane, axis_plane, hkl_plane, sample_plane
from deepaw_nb.viz.slices import slice_figure
from deepaw_nb.viz.structure3d import atom_traces, cell_edges_trace
from deepaw_nb.viz.timings import precision_comparison_figure, timing_figure
from deepaw_nb.viz.units import convert_density_units

__all__ = [
    "SlicePlane",
    "atom_traces",
    "atoms_near_plane",
    "axis_plane",
    "cell_edges_trace",
    "choose_stride",
    "convert_density_units",
    "default_isovalue",
    "export_figure",
    "hkl_plane",
    "isosurface_figure",
    "isosurface_mesh",
    "mesh_trace_data",
    "precision_comparison_figure",
    "sample_plane",
    "slice_figure",
    "static_export_available",
    "timing_figure",
]
