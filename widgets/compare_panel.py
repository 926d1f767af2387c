"""``ComparePanel``: accuracy of a prediction against a reference density (e.g. DFT)."""

from __future__ import annotations

import os
from typing import Any

import ipywidgets as ipw
import traitlets

from deepaw_widgets._base import MessageLine, ResultTrait
from deepaw_widgets.reference import align_reference, load_reference, reference_grid_files
from deepaw_widgets.slice_viewer import SliceViewer
from deepaw_widgets.uploads import UploadDirectory, upload_entries

__all__ = ["ComparePanel", "comparison_table_html"]

_NONE = "— shipped reference grids —"


def comparison_table_html(comparison: Any) -> str:
    """HTML table of a :class:`deepaw_nb.result.Comparison`."""
    rows = [
        ("NMAE", f"{100 * comparison.nmae:.3f} %"),
        ("MAE", f"{comparison.mae:.4e} e/Å³"),
        ("RMSE", f"{comparison.rmse:.4e} e/Å³"),
        ("max |error|", f"{comparison.max_error:.4e} e/Å³"),
        ("electrons (prediction)", f"{comparison.electrons:.4f}"),
        ("electrons (reference)", f"{comparison.reference_electrons:.4f}"),
        ("difference", f"{comparison.electron_count_difference:+.4f}"),
    ]
    body = "".join(f"<tr><td>{name}</td><td style='text-align:right'>{value}</td></tr>" for name, value in rows)
    return f"<table class='deepaw-compare-table'><tbody>{body}</tbody></table>"


class ComparePanel(ipw.VBox):
    """Load a reference (CHGCAR path, upload, or a shipped ``.npz`` grid) and compare ``result`` with it.

    Shows NMAE, MAE, RMSE, max error and electron counts (``Result.compare``) and a slice of
    ``result.difference(reference)``.  ``comparison`` holds the last
    :class:`~deepaw_nb.result.Comparison`; ``error_slice`` is the :class:`SliceViewer` of ρ − ρref.
    """

    result = ResultTrait()
    reference = ResultTrait()

    def __init__(self, **kwargs: Any) -> None:
        self.shipped = reference_grid_files()
        self.path_text = ipw.Text(placeholder="path/to/CHGCAR (or a data/reference .npz grid)", description="Reference:",
                                  layout=ipw.Layout(width="32em"))
        self.load_button = ipw.Button(description="Load", icon="folder-open", layout=ipw.Layout(width="7em"))
        self.upload = ipw.FileUpload(multiple=False, description="Upload CHGCAR")
        self.shipped_select = ipw.Dropdown(options=[_NONE, *self.shipped], value=_NONE, layout=ipw.Layout(width="20em"))
        self.message = MessageLine()
        self.table = ipw.HTML()
        self.error_slice = SliceViewer(title="ρ − ρ_ref")
        self.comparison: Any = None
        self.uploads = UploadDirectory(prefix="deepaw-reference-")
        sources = [ipw.HBox([self.path_text, self.load_button]), ipw.HBox([self.upload] + ([self.shipped_select] if self.shipped else []))]
        super().__init__(children=[*sources, self.message, self.table, self.error_slice], **kwargs)
        self.add_class("deepaw-compare-panel")
        self.load_button.on_click(lambda _: self.load(self.path_text.value))
        self.upload.observe(self._on_upload, "value")
        self.shipped_select.observe(self._on_shipped, "value")
        self.message.show("Load a reference density (same structure; the grid must match or be a multiple).")

    def load(self, path: str | os.PathLike[str]) -> bool:
        """Read a reference density file; True if it became ``reference``."""
        if not str(path).strip():
            self.message.show("Type the path of a reference CHGCAR first", "warning")
            return False
        reference = self.message.guard(load_reference, str(path).strip())
        if reference is None:
            return False
        self.reference = reference
        return True

    def _on_upload(self, change: dict) -> None:
        entries = upload_entries(change["new"])
        if entries:
            saved = self.message.guard(self.uploads.save, entries[-1])
            if saved is not None:
                self.load(saved)

    def _on_shipped(self, change: dict) -> None:
        if change["new"] != _NONE:
            self.load(self.shipped[change["new"]])

    @traitlets.observe("result", "reference")
    def _on_change(self, change: dict) -> None:
        self.compare()

    def compare(self) -> Any:
        """Compare ``result`` with ``reference`` now; returns the Comparison (or None, see ``message``)."""
        self.comparison = None
        self.table.value = ""
        if self.reference is None or self.result is None:
            if self.reference is not None:
                self.message.show("Reference loaded; run a prediction of the same structure to compare", "info")
            self.error_slice.result = None
            return None
        reference, note = align_reference(self.result, self.reference)
        comparison = self.message.guard(self.result.compare, reference)
        if comparison is None:
            self.error_slice.result = None
            return None
        self.comparison = comparison
        self.table.value = comparison_table_html(comparison)
        self.message.show(f"NMAE {100 * comparison.nmae:.3f} %" + (f" ({note})" if note else ""), "success")
        self.error_slice.result = self.message.guard(self.result.difference, reference)
        return comparison
