"""A 3-D view of the current structure: nglview when it is installed, plotly otherwise."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
from pathlib import Path
from typing import Any

import ipywidgets as ipw
import plotly.graph_objects as go
import traitlets

from deepaw_widgets._base import MessageLine, StructureTrait

__all__ = ["StructureView", "nglview_available"]

BACKENDS = ("auto", "nglview", "plotly")


def _labextension_version(name: str) -> str | None:
    """Version of an installed JupyterLab extension (first hit on the Jupyter data path)."""
    from jupyter_core.paths import jupyter_path

    for base in jupyter_path("labextensions"):
        package = Path(base) / name / "package.json"
        if package.is_file():
            try:
                return str(json.loads(package.read_text())["version"])
            except (OSError, ValueError, KeyError):
                return None
    return None


def nglview_available() -> bool:
    """Whether ``nglview`` imports and its browser part matches (major.minor) its Python part.

    Some nglview releases ship a JupyterLab extension of another version than the Python
    widget expects (4.0.1 ships 3.1.5), which shows only a JavaScript error; the app then uses
    the plotly view.
    """
    if importlib.util.find_spec("nglview") is None:
        return False
    # Compare versions before importing: importing a mismatched nglview already puts a broken
    # widget into the cell output.
    try:
        wanted = importlib.metadata.version("nglview")
    except importlib.metadata.PackageNotFoundError:
        return False
    installed = _labextension_version("nglview-js-widgets")
    if installed is None or installed.split(".")[:2] != wanted.split(".")[:2]:
        return False
    try:
        import nglview  # noqa: F401
    except Exception:  # noqa: BLE001 - e.g. nglview 3.1 needs pkg_resources (setuptools < 81)
        return False
    return True


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
