"""``ExportPanel``: write the density as CHGCAR / cube / npy, or hand it to the browser."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import ipywidgets as ipw
import traitlets

from deepaw_nb.errors import OutputError
from deepaw_widgets._base import MessageLine, ResultTrait
from deepaw_widgets.downloads import download_link_html

__all__ = ["FORMATS", "ExportPanel", "default_filename"]

#: format -> name of the DensityResult writer method
FORMATS = {"CHGCAR": "to_chgcar", "cube": "to_cube", "npy": "to_npy"}
_DESC = {"description_width": "6em"}


def default_filename(result: Any, fmt: str) -> str:
    """``CHGCAR_HfO2_pred``, ``HfO2_pred.cube`` or ``HfO2_pred.npy`` for a result."""
    formula = result.atoms.symbols.formula.reduce()[0].format("metal") if result is not None else "density"
    return {"CHGCAR": f"CHGCAR_{formula}_pred", "cube": f"{formula}_pred.cube", "npy": f"{formula}_pred.npy"}[fmt]


class ExportPanel(ipw.VBox):
    """Save ``result`` with its own writers (atomic; no overwrite unless ticked) or download it.

    The file name is joined onto the directory with :func:`deepaw_nb.io.safe_output_path`, so
    a name cannot leave the chosen directory.  ``save()`` and ``prepare_download()`` return the
    written path (or None, with the reason in ``message``).

    Args:
        directory: initial output directory (default: the current working directory).
    """

    result = ResultTrait()

    def __init__(self, directory: str | os.PathLike[str] = ".", **kwargs: Any) -> None:
        self.format = ipw.Dropdown(options=list(FORMATS), value="CHGCAR", description="Format:", style=_DESC)
        self.directory = ipw.Text(value=str(directory), description="Directory:", style=_DESC, layout=ipw.Layout(width="32em"))
        self.filename = ipw.Text(value=default_filename(None, "CHGCAR"), description="File name:", style=_DESC,
                                 layout=ipw.Layout(width="32em"))
        self.overwrite = ipw.Checkbox(value=False, description="overwrite an existing file", indent=False)
        self.save_button = ipw.Button(description="Save", icon="save", button_style="primary")
        self.download_button = ipw.Button(description="Prepare download", icon="download")
        self.download_link = ipw.HTML()
        self.message = MessageLine()
        self._scratch = tempfile.TemporaryDirectory(prefix="deepaw-download-")
        super().__init__(
            children=[
                self.format, self.directory, self.filename, self.overwrite,
                ipw.HBox([self.save_button, self.download_button]), self.message, self.download_link,
            ],
            **kwargs,
        )
        self.add_class("deepaw-export-panel")
        self.format.observe(lambda _: self._suggest_name(), "value")
        self.save_button.on_click(lambda _: self.save())
        self.download_button.on_click(lambda _: self.prepare_download())
        self._update_state()

    @traitlets.observe("result")
    def _on_result(self, change: dict) -> None:
        self.download_link.value = ""
        self._suggest_name()
        self._update_state()

    def _suggest_name(self) -> None:
        self.filename.value = default_filename(self.result, self.format.value)

    def _update_state(self) -> None:
        ready = self.result is not None
        self.save_button.disabled = self.download_button.disabled = not ready
        if not ready:
            self.message.show("Run a prediction first; then save or download it here.")
        elif not self.result.complete:
            self.message.show("This result is incomplete (stopped); only complete predictions can be written", "warning")
        else:
            self.message.clear()

    def _write(self, directory: str | os.PathLike[str], overwrite: bool) -> Path:
        from deepaw_nb.io import safe_output_path

        target = safe_output_path(directory, self.filename.value.strip())
        if target.exists() and not overwrite:
            raise OutputError(f"'{target}' exists; tick 'overwrite an existing file' or choose another name")
        return getattr(self.result, FORMATS[self.format.value])(target, overwrite=overwrite)

    def save(self) -> Path | None:
        """Write the file to ``directory/filename``; returns the path, or None (see ``message``)."""
        if self.result is None:
            self.message.show("Nothing to save yet: run a prediction first", "error")
            return None
        path = self.message.guard(self._write, Path(self.directory.value.strip() or ".").expanduser(), self.overwrite.value)
        if path is not None:
            self.message.show(f"Saved {path} ({path.stat().st_size / 1e6:.2f} MB)", "success")
        return path

    def prepare_download(self) -> Path | None:
        """Write the file to a private scratch directory and show a download link for it."""
        self.download_link.value = ""
        if self.result is None:
            self.message.show("Nothing to download yet: run a prediction first", "error")
            return None
        path = self.message.guard(self._write, self._scratch.name, True)
        if path is None:
            return None
        link = self.message.guard(download_link_html, path, path.name)
        if link is not None:
            self.download_link.value = link
            self.message.show("Download link ready (click it to save the file in your browser)", "success")
        return path
