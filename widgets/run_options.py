"""``RunOptions``: the controls of a prediction (model, grid, batch size, precision, device, kernel).

The widget only collects and checks values; :meth:`RunOptions.predict_kwargs` turns them into
keyword arguments of :func:`deepaw_nb.predict`, whose own checks give the final word.
"""

from __future__ import annotations

import html
from typing import Any

import ipywidgets as ipw
import traitlets

from deepaw_nb.errors import CheckpointError, DeepawError, GridError
from deepaw_widgets._base import StructureTrait

__all__ = ["GRID_MODES", "RunOptions", "parse_batch_size", "parse_grid"]

#: (label, value) of the grid choices.
GRID_MODES = (("spacing (Å)", "spacing"), ("ENCUT (eV, VASP rule)", "encut"), ("explicit nx, ny, nz", "explicit"))
_DESC = {"description_width": "8.5em"}
_WIDE = ipw.Layout(width="30em")


def parse_batch_size(text: Any) -> int | str:
    """``"auto"`` or a positive whole number of probes per batch (``"4096"``, ``"4_096"``)."""
    value = str(text).strip().lower().replace("_", "").replace(",", "")
    if value in ("", "auto"):
        return "auto"
    if value.isdigit() and int(value) > 0:
        return int(value)
    raise DeepawError(f"Batch size {str(text)!r} is not valid; type 'auto' or a positive whole number such as 4096")


def parse_grid(text: str) -> tuple[int, int, int]:
    """Three positive integers from ``"48, 48, 60"``, ``"48x48x60"`` or ``"48 48 60"``."""
    parts = str(text).replace(",", " ").replace("x", " ").replace("×", " ").split()
    if len(parts) != 3 or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise GridError(f"Grid {str(text)!r} is not three positive whole numbers; type e.g. '48, 48, 48'")
    return tuple(int(p) for p in parts)  # type: ignore[return-value]


def _device_options() -> list[str]:
    options = ["auto", "cpu"]
    try:
        import torch

        if torch.cuda.is_available():
            options += ["cuda"] + [f"cuda:{n}" for n in range(torch.cuda.device_count())]
    except Exception:  # noqa: BLE001 - the list is a convenience; typing a device still works
        pass
    return options


class RunOptions(ipw.VBox):
    """Model and run settings.  ``structure`` (linked from a loader) drives the grid preview.

    Args:
        model: an already loaded :class:`~deepaw_nb.model.DensityModel` to offer as a choice.
        spacing: default grid spacing in Å.
    """

    structure = StructureTrait()

    def __init__(self, model: Any = None, spacing: float = 0.2, **kwargs: Any) -> None:
        self.given_model = model
        choices = [("bundled default model", "default"), ("my DeePAW checkpoints", "custom")]
        if model is not None:
            choices.insert(0, (f"given model ({getattr(getattr(model, 'info', None), 'name', 'model')})", "given"))
        self.model_choice = ipw.Dropdown(options=choices, value=choices[0][1], description="Model:", style=_DESC, layout=_WIDE)
        self.model_note = ipw.HTML()
        self.f_nonlocal_path = ipw.Text(description="F_nonlocal:", placeholder="path/to/f_nonlocal.pth", style=_DESC, layout=_WIDE)
        self.f_local_path = ipw.Text(description="F_local:", placeholder="optional: path/to/f_local.pth", style=_DESC, layout=_WIDE)
        self.custom_box = ipw.VBox([self.f_nonlocal_path, self.f_local_path])
        self.grid_mode = ipw.Dropdown(options=GRID_MODES, value="spacing", description="Grid:", style=_DESC)
        self.spacing = ipw.BoundedFloatText(value=spacing, min=0.01, max=5.0, step=0.01, description="spacing (Å):", style=_DESC)
        self.encut = ipw.BoundedFloatText(value=500.0, min=50.0, max=5000.0, step=10.0, description="ENCUT (eV):", style=_DESC)
        self.grid_text = ipw.Text(value="48, 48, 48", description="nx, ny, nz:", style=_DESC, layout=ipw.Layout(width="17em"))
        self.grid_value_box = ipw.HBox([self.spacing])
        self.grid_preview = ipw.HTML()
        self.batch_size = ipw.Combobox(value="auto", options=["auto", "256", "1024", "4096", "16384", "65536"],
                                       ensure_option=False, description="Batch size:", style=_DESC)
        self.precision = ipw.Dropdown(options=self._precisions(), value="fp32", description="Precision:", style=_DESC)
        self.device = ipw.Combobox(value="auto", options=_device_options(), ensure_option=False, description="Device:", style=_DESC)
        self.compile = ipw.Checkbox(value=False, description="torch.compile the probe model", indent=False)
        self.kernel = ipw.Dropdown(options=self._kernels(), value="fast", description="Kernel:", style=_DESC)
        self.symmetry = ipw.Checkbox(value=True, description="evaluate symmetry-irreducible points only (exact)", indent=False)
        super().__init__(
            children=[
                ipw.HBox([self.model_choice]), self.model_note, self.custom_box,
                ipw.HBox([self.grid_mode, self.grid_value_box]), self.grid_preview,
                ipw.HBox([self.batch_size, self.precision]), ipw.HBox([self.device, self.compile]),
                ipw.HBox([self.kernel, self.symmetry]),
            ],
            **kwargs,
        )
        self.add_class("deepaw-run-options")
        self.grid_mode.add_class("deepaw-grid-mode")
        self.grid_text.add_class("deepaw-grid-text")
        self.model_choice.observe(self._show_model_fields, "value")
        self.grid_mode.observe(self._show_grid_field, "value")
        for widget in (self.grid_mode, self.spacing, self.encut, self.grid_text):
            widget.observe(self._update_preview, "value")
        self._show_model_fields()
        self._show_grid_field()
        self._update_preview()

    @staticmethod
    def _kernels() -> list[tuple[str, str]]:
        from deepaw_nb.kernels.cueq import cueq_available

        kernels = [("fast (exact, default)", "fast"), ("e3nn (reference)", "e3nn")]
        return kernels + ([("cuEquivariance", "cueq")] if cueq_available() else [])

    @staticmethod
    def _precisions() -> list[str]:
        from deepaw_nb.engine import PRECISIONS

        return list(PRECISIONS)

    # ---- values --------------------------------------------------------------------------
    def grid_kwargs(self) -> dict[str, Any]:
        """``{"spacing": ...}``, ``{"encut": ...}`` or ``{"grid": (nx, ny, nz)}``."""
        mode = self.grid_mode.value
        if mode == "spacing":
            return {"spacing": float(self.spacing.value)}
        if mode == "encut":
            return {"encut": float(self.encut.value)}
        return {"grid": parse_grid(self.grid_text.value)}

    def predict_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for :func:`deepaw_nb.predict` (without structure, model, progress)."""
        return {
            **self.grid_kwargs(),
            "batch_size": parse_batch_size(self.batch_size.value),
            "precision": self.precision.value,
            "device": str(self.device.value).strip() or "auto",
            "compile": bool(self.compile.value),
            "kernel": self.kernel.value,
            "symmetry": bool(self.symmetry.value),
        }

    def model_request(self) -> tuple[str, Any, Any]:
        """``("default", None, None)``, ``("custom", f_nonlocal, f_local or None)`` or ``("given", model, None)``."""
        choice = self.model_choice.value
        if choice == "given":
            return "given", self.given_model, None
        if choice == "custom":
            first = self.f_nonlocal_path.value.strip()
            if not first:
                raise CheckpointError("No F_nonlocal checkpoint path given; type the path of your f_nonlocal .pth file")
            return "custom", first, (self.f_local_path.value.strip() or None)
        return "default", None, None

    # ---- display ---------------------------------------------------------------------------
    def _show_model_fields(self, change: Any = None) -> None:
        from deepaw_nb.model import default_model_path

        custom = self.model_choice.value == "custom"
        self.custom_box.layout.display = None if custom else "none"
        if self.model_choice.value == "default":
            path = default_model_path()
            state = "found" if path.is_file() else "not installed yet: choose 'my DeePAW checkpoints'"
            self.model_note.value = f"<small>default model file: <code>{html.escape(str(path))}</code> ({state})</small>"
        else:
            self.model_note.value = ""

    def _show_grid_field(self, change: Any = None) -> None:
        field = {"spacing": self.spacing, "encut": self.encut, "explicit": self.grid_text}[self.grid_mode.value]
        self.grid_value_box.children = [field]

    @traitlets.observe("structure")
    def _update_preview(self, change: Any = None) -> None:
        from deepaw_nb.grid import resolve_grid_shape

        if self.structure is None:
            self.grid_preview.value = "<small>load a structure to see the grid</small>"
            return
        try:
            nx, ny, nz = resolve_grid_shape(self.structure.cell.array, **self.grid_kwargs())
        except DeepawError as exc:
            self.grid_preview.value = f'<small style="color:#b00020">{html.escape(str(exc))}</small>'
            return
        self.grid_preview.value = f"<small>→ grid {nx} × {ny} × {nz} = {nx * ny * nz:,} points</small>"
