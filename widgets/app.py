"""``PredictionApp``: the whole workflow in one widget — structure, prediction, views, export, comparison."""

from __future__ import annotations

import os
from typing import Any

import ipywidgets as ipw
import traitlets
from ase import Atoms

from deepaw_widgets._base import ResultTrait, StructureTrait
from deepaw_widgets.compare_panel import ComparePanel
from deepaw_widgets.examples import bundled_examples
from deepaw_widgets.export_panel import ExportPanel
from deepaw_widgets.isosurface_viewer import IsosurfaceViewer
from deepaw_widgets.prediction_panel import PredictionPanel
from deepaw_widgets.slice_viewer import SliceViewer
from deepaw_widgets.structure_loader import StructureLoader
from deepaw_widgets.timing_panel import TimingPanel

__all__ = ["PredictionApp"]

DEFAULT_EXAMPLE = "HfO2_monoclinic"
RESULT_TABS = ("Isosurface", "Slices", "Export", "Compare")


def _section(title: str, body: ipw.Widget, column: bool = False) -> ipw.VBox:
    """A titled block; ``column=True`` for one of two side-by-side columns (wraps when narrow)."""
    layout = ipw.Layout(flex="1 1 34em", min_width="0", padding="0 8px 0 0") if column else ipw.Layout(width="100%")
    return ipw.VBox([ipw.HTML(f"<h4 style='margin:6px 0'>{title}</h4>"), body], layout=layout)


class PredictionApp(ipw.VBox):
    """Structure → prediction → isosurface / slices / export / comparison, wired by traitlets.

    One line shows it in JupyterLab or Notebook 7::

        from deepaw_widgets import PredictionApp; PredictionApp()

    The app's ``structure`` and ``result`` traits are linked to its parts, so
    ``app.result = some_density_result`` shows an existing result, and ``app.structure``
    is the loaded ``ase.Atoms``.  ``app.run(wait=True)`` runs a prediction from Python.

    Args:
        structure: example name, path or ``ase.Atoms`` to start with (default: the bundled
            HfO2 example when it is installed).
        model: an already loaded model to offer in the model list (default: bundled model).
        spacing: default grid spacing in Å.
        viewer: structure view backend ("auto", "nglview" or "plotly").
        output_dir: initial directory of the export panel.
    """

    structure = StructureTrait()
    result = ResultTrait()

    def __init__(self, structure: str | os.PathLike[str] | Atoms | None = None, model: Any = None, spacing: float = 0.2,
                 viewer: str = "auto", output_dir: str | os.PathLike[str] = ".", **kwargs: Any) -> None:
        if structure is None and DEFAULT_EXAMPLE in bundled_examples():
            structure = DEFAULT_EXAMPLE
        self.loader = StructureLoader(viewer=viewer)
        self.prediction = PredictionPanel(model=model, spacing=spacing)
        self.timings = TimingPanel(figure_width=480)
        self.isosurface = IsosurfaceViewer()
        self.slices = SliceViewer()
        self.export = ExportPanel(directory=output_dir)
        self.compare = ComparePanel()
        self.results = ipw.Tab(children=[self.isosurface, self.slices, self.export, self.compare], titles=RESULT_TABS)
        row = ipw.HBox([_section("2 · Predict", self.prediction, column=True), _section("Where the time went", self.timings, column=True)],
                       layout=ipw.Layout(flex_flow="row wrap", width="100%"))
        super().__init__(
            children=[
                ipw.HTML("<h3 style='margin:4px 0'>deepaw-nb · electron density prediction</h3>"),
                _section("1 · Structure", self.loader), row, _section("3 · Results", self.results),
            ],
            layout=ipw.Layout(width="100%"),
            **kwargs,
        )
        self.add_class("deepaw-app")
        traitlets.link((self, "structure"), (self.loader, "structure"))
        traitlets.dlink((self.loader, "structure"), (self.prediction, "structure"))
        traitlets.link((self, "result"), (self.prediction, "result"))
        for part in (self.timings, self.isosurface, self.slices, self.export, self.compare):
            traitlets.dlink((self.prediction, "result"), (part, "result"))
        if isinstance(structure, Atoms):
            self.loader.set_structure(structure)
        elif structure is not None and str(structure) in self.loader.examples:
            self.loader.example_select.value = str(structure)
        elif structure is not None:
            self.loader.load_path(structure)

    def run(self, wait: bool = False) -> bool:
        """Start a prediction with the current settings (see :meth:`PredictionPanel.run`)."""
        return self.prediction.run(wait=wait)

    def stop(self) -> None:
        """Stop the running prediction after its current batch."""
        self.prediction.stop()

    def wait(self, timeout: float | None = None) -> Any:
        """Block until the current prediction ends; returns ``result``."""
        return self.prediction.wait(timeout)
