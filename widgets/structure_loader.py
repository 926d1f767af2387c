"""``StructureLoader``: pick a structure from the bundled examples, a path, or an upload."""

from __future__ import annotations

import html
import os
from pathlib import Path
from typing import Any

import ipywidgets as ipw
import traitlets
from ase import Atoms

from deepaw_widgets._base import MessageLine, StructureTrait
from deepaw_widgets.examples import bundled_examples
from deepaw_widgets.structure_view import StructureView
from deepaw_widgets.uploads import UploadDirectory, upload_entries

__all__ = ["StructureLoader", "structure_summary_html"]

_NONE = "— choose an example —"


def _row(*children: ipw.Widget) -> ipw.HBox:
    return ipw.HBox(list(children), layout=ipw.Layout(align_items="center", margin="2px 0", overflow="visible"))


def structure_summary_html(info: dict[str, Any]) -> str:
    """A short HTML summary of :func:`deepaw_nb.structure.describe` output."""
    a, b, c = info["cell_lengths"]
    alpha, beta, gamma = info["cell_angles"]
    group = info.get("spacegroup")
    sg = f"{html.escape(group)} (No. {info['spacegroup_number']})" if group else "not determined"
    volume = f"{info['volume']:.2f} Å³" if info.get("volume") else "—"
    rho = f", {info['density']:.3f} g/cm³" if info.get("density") else ""
    return (
        f"<b>{html.escape(info['formula'])}</b> ({html.escape(info['reduced_formula'])}), "
        f"{info['natoms']} atoms, space group {sg}<br>"
        f"a = {a:.4f}, b = {b:.4f}, c = {c:.4f} Å; α = {alpha:.2f}°, β = {beta:.2f}°, γ = {gamma:.2f}°; "
        f"V = {volume}{rho}"
    )


class StructureLoader(ipw.VBox):
    """Load a structure into the ``structure`` trait (an :class:`ase.Atoms`).

    Sources: the bundled examples, a file path (CIF, POSCAR/CONTCAR/.vasp, extended XYZ,
    CHGCAR, ASE db ``file.db@id``), or a browser upload.  Uploaded bytes are written only
    inside a private temporary directory (:class:`~deepaw_widgets.uploads.UploadDirectory`).
    Every structure is checked with :func:`deepaw_nb.structure.validate_structure`; problems
    appear as one line in :attr:`message`.

    Args:
        initial: an example name, a path or an ``ase.Atoms`` to load at once.
        viewer: 3-D view backend: ``"auto"`` (nglview if installed), ``"nglview"``, ``"plotly"``.
    """

    structure = StructureTrait()
    #: Where the current structure came from (example name, path or upload name).
    source = traitlets.Unicode("")

    def __init__(self, initial: str | os.PathLike[str] | Atoms | None = None, viewer: str = "auto", **kwargs: Any) -> None:
        self.examples = bundled_examples()
        self.uploads = UploadDirectory()
        self.example_select = ipw.Dropdown(options=[_NONE, *self.examples], value=_NONE, description="Example:")
        self.path_text = ipw.Text(placeholder="path/to/POSCAR, structure.cif, data.db@3", description="File path:",
                                  layout=ipw.Layout(width="28em"))
        self.load_button = ipw.Button(description="Load", icon="folder-open", layout=ipw.Layout(width="7em"))
        self.upload = ipw.FileUpload(multiple=False, description="Upload")
        self.summary = ipw.HTML()
        self.message = MessageLine()
        self.view = StructureView(backend=viewer)
        super().__init__(
            children=[
                _row(self.example_select, self.upload),
                _row(self.path_text, self.load_button),
                self.message,
                self.summary,
                self.view,
            ],
            **kwargs,
        )
        self.add_class("deepaw-structure-loader")
        traitlets.dlink((self, "structure"), (self.view, "structure"))
        self.example_select.observe(self._on_example, "value")
        self.load_button.on_click(lambda _: self.load_path(self.path_text.value))
        self.upload.observe(self._on_upload, "value")
        if isinstance(initial, Atoms):
            self.set_structure(initial, "given structure")
        elif initial is not None and str(initial) in self.examples:
            self.example_select.value = str(initial)
        elif initial is not None:
            self.load_path(initial)

    # ---- sources ---------------------------------------------------------------------------
    def load_path(self, path: str | os.PathLike[str]) -> bool:
        """Read and check a structure file; returns True when it became the current structure."""
        text = str(path).strip()
        if not text:
            self.message.show("Type a file path first, e.g. data/examples/Si_diamond.cif", "warning")
            return False
        return self._load(Path(text).expanduser(), text)

    def load_example(self, name: str) -> bool:
        """Load one of the bundled examples by name (see :attr:`examples`)."""
        if name not in self.examples:
            known = ", ".join(self.examples) or "none are installed"
            self.message.show(f"No bundled example called {name!r}; choose one of: {known}", "error")
            return False
        return self._load(self.examples[name], f"example {name}")

    def load_upload(self, entry: dict[str, Any]) -> bool:
        """Save one upload (``{"name": ..., "content": bytes}``) in the private directory and load it."""
        saved = self.message.guard(self.uploads.save, entry)
        return False if saved is None else self._load(saved, f"upload {saved.name}")

    def set_structure(self, atoms: Atoms, source: str = "given structure") -> bool:
        """Check an :class:`ase.Atoms` and make it the current structure."""
        from deepaw_nb.structure import as_atoms

        return self._accept(self.message.guard(as_atoms, atoms), source)

    # ---- internals -------------------------------------------------------------------------
    def _load(self, path: Path, source: str) -> bool:
        from deepaw_nb.structure import as_atoms

        self.message.show(f"Reading {path.name} ...")
        return self._accept(self.message.guard(as_atoms, path), source)

    def _accept(self, atoms: Atoms | None, source: str) -> bool:
        from deepaw_nb.structure import describe, validate_structure

        if atoms is None:
            return False
        try:
            validate_structure(atoms)
        except Exception as exc:  # noqa: BLE001 - shown as one line
            self.message.show_error(exc)
            return False
        info = describe(atoms)
        self.summary.value = structure_summary_html(info)
        self.source = source
        self.structure = atoms
        self.message.show(f"Loaded {info['formula']} from {source}", "success")
        return True

    def _on_example(self, change: dict) -> None:
        if change["new"] != _NONE:
            self.load_example(change["new"])

    def _on_upload(self, change: dict) -> None:
        entries = upload_entries(change["new"])
        if entries:
            self.load_upload(entries[-1])

