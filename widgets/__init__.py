"""ipywidgets front end of deepaw-nb, imported as ``deepaw_widgets``.

One line gives the whole app in JupyterLab 4 or Notebook 7::

    from deepaw_widgets import PredictionApp; PredictionApp()

The parts work alone as well and share data AiiDAlab-style through two traits, ``structure``
(an ``ase.Atoms``) and ``result`` (a ``deepaw_nb.result.DensityResult``), wired with
``traitlets.link`` / ``traitlets.dlink``::

    loader, panel, viewer = StructureLoader(), PredictionPanel(), IsosurfaceViewer()
    traitlets.dlink((loader, "structure"), (panel, "structure"))
    traitlets.dlink((panel, "result"), (viewer, "result"))

Widgets only compose :mod:`deepaw_nb` calls; errors are shown as one line, never a traceback.
"""

from deepaw_widgets.app import PredictionApp
from deepaw_widgets.compare_panel import ComparePanel
from deepaw_widgets.export_panel import ExportPanel
from deepaw_widgets.isosurface_viewer import IsosurfaceViewer
from deepaw_widgets.prediction_panel import PredictionPanel
from deepaw_widgets.run_options import RunOptions
from deepaw_widgets.slice_viewer import SliceViewer
from deepaw_widgets.structure_loader import StructureLoader
from deepaw_widgets.structure_view import StructureView
from deepaw_widgets.timing_panel import TimingPanel

__all__ = [
    "ComparePanel",
    "ExportPanel",
    "IsosurfaceViewer",
    "PredictionApp",
    "PredictionPanel",
    "RunOptions",
    "SliceViewer",
    "StructureLoader",
    "StructureView",
    "TimingPanel",
]
