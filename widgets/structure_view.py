"""A 3-D view of the current structure: nglview when it is installed, plotly otherwise."""

from __future__ import annotations

import importlib.util
from typing import Any

import ipywidgets as ipw
import plotly.graph_objects as go
import traitlets

from deepaw_widgets._base import MessageLine, StructureTrait

__all__ = ["StructureView", "nglview_available"]

BACKENDS = ("auto", "nglview", "plotly")


def nglview_available() -> bool:
    """Whether the optional ``nglview`` package can be imported."""
    return importlib.util.find_spec("nglview") is not None


def plotly_structure_figure(atoms: Any) -> go.Figure:
    """Atoms (one trace per element) and cell edges, composed from :mod:`deepaw_nb.viz`."""
    from deepaw_nb.viz import atom_traces, cell_edges_trace
    from deepaw_nb.viz.structure3d import scene_layout

    fig = go.Figure(data=[*atom_traces(atoms), cell_edges_trace(atoms.cell)])
    fig.update_layout(scene=scene_layout(), height=360, margin=dict(l=0, r=0, t=10, b=0),
                      legend=dict(itemsizing="constant"))
    return fig


class StructureView(ipw.VBox):
    """Shows ``structure`` in 3-D; ``backend`` is ``"auto"`` (nglview if importable), ``"nglview"`` or ``"plotly"``."""

    structure = StructureTrait()

    def __init__(self, backend: str = "auto", **kwargs: Any) -> None:
        if backend not in BACKENDS:
            raise ValueError(f"backend={backend!r}; use one of {BACKENDS}")
        self.backend = "nglview" if backend == "nglview" or (backend == "auto" and nglview_available()) else "plotly"
        self.message = MessageLine()
        self.view: ipw.DOMWidget | None = None
        super().__init__(children=[self.message], **kwargs)
        self.add_class("deepaw-structure-view")

    @traitlets.observe("structure")
    def _on_structure(self, change: dict) -> None:
        atoms = change["new"]
        old, self.view = self.view, None
        if atoms is not None:
            self.view = self.message.guard(self._build, atoms)
            if self.view is not None:
                self.message.clear()
        self.children = [self.message] + ([self.view] if self.view is not None else [])
        if old is not None:
            old.close()

    def _build(self, atoms: Any) -> ipw.DOMWidget:
        if self.backend == "nglview":
            import nglview

            view = nglview.show_ase(atoms)
            view.add_unitcell()
            view.layout = ipw.Layout(width="100%", height="360px")
            return view
        return go.FigureWidget(plotly_structure_figure(atoms))
