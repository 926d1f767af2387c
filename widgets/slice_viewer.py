"""``SliceViewer``: a 2-D map of the density on a lattice plane or an (hkl) plane."""

from __future__ import annotations

from typing import Any

import ipywidgets as ipw
import plotly.graph_objects as go
import traitlets

from deepaw_widgets._base import Debouncer, MessageLine, ResultTrait

__all__ = ["SliceViewer", "parse_hkl"]

UNITS = (("e/Å³", "e/A3"), ("e/bohr³", "e/bohr3"))


def parse_hkl(text: str) -> tuple[int, int, int]:
    """Miller indices from ``"1 1 0"``, ``"1,1,0"``, ``"(1 -1 0)"`` or ``"110"``."""
    from deepaw_nb.errors import DeepawError

    cleaned = str(text).strip().strip("()[]").replace(",", " ")
    parts = cleaned.split()
    if len(parts) == 1 and len(parts[0]) == 3 and parts[0].isdigit():
        parts = list(parts[0])
    try:
        values = tuple(int(p) for p in parts)
    except ValueError:
        values = ()
    if len(values) != 3 or values == (0, 0, 0):
        raise DeepawError(f"Miller indices {str(text)!r} are not three integers (not all zero); type e.g. '1 1 0'")
    return values  # type: ignore[return-value]


class SliceViewer(ipw.VBox):
    """Density of ``result`` on a plane, drawn with :func:`deepaw_nb.viz.slice_figure`.

    Plane: ``mode`` "lattice" (``axis`` a/b/c at fractional ``position``) or "hkl" (Miller
    indices in ``hkl``; ``position`` is then h·x + k·y + l·z in fractional coordinates).
    Changes are debounced like the isosurface slider (``debounce.flush()`` applies at once).
    """

    result = ResultTrait()

    def __init__(self, debounce: float = 0.2, title: str | None = None, **kwargs: Any) -> None:
        self.title = title
        self.mode = ipw.ToggleButtons(options=(("lattice plane", "lattice"), ("(hkl) plane", "hkl")), value="lattice",
                                      style={"button_width": "8em"})
        self.axis = ipw.ToggleButtons(options=("a", "b", "c"), value="c", description="normal to", style={"button_width": "3em"})
        self.hkl = ipw.Text(value="1 1 0", description="(h k l)", layout=ipw.Layout(width="14em"))
        self.position = ipw.FloatSlider(value=0.5, min=0.0, max=1.0, step=0.01, description="position", readout_format=".2f",
                                        continuous_update=True, layout=ipw.Layout(width="24em"))
        self.unit = ipw.ToggleButtons(options=UNITS, value="e/A3", style={"button_width": "6em"})
        self.message = MessageLine()
        self.figure: go.FigureWidget | None = None
        self.debounce = Debouncer(self.redraw, debounce)
        self._plane_box = ipw.HBox([self.axis])
        self._figure_box = ipw.VBox(layout=ipw.Layout(width="100%"))
        super().__init__(
            children=[ipw.HBox([self.mode, self.unit]), ipw.HBox([self._plane_box, self.position]), self.message, self._figure_box],
            **kwargs,
        )
        self.add_class("deepaw-slice-viewer")
        self.mode.observe(self._on_mode, "value")
        for widget in (self.axis, self.hkl, self.position, self.unit):
            widget.observe(lambda _: self.debounce.trigger(), "value")
        self.message.show("Run a prediction to see a slice.")

    def _on_mode(self, change: dict) -> None:
        self._plane_box.children = [self.hkl if change["new"] == "hkl" else self.axis]
        self.position.max = 1.0 if change["new"] == "lattice" else 3.0
        self.debounce.trigger()

    def plane_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for :func:`deepaw_nb.viz.slice_figure` that select the plane."""
        if self.mode.value == "hkl":
            return {"hkl": parse_hkl(self.hkl.value), "position": float(self.position.value)}
        return {"axis": self.axis.value, "position": float(self.position.value)}

    @traitlets.observe("result")
    def _on_result(self, change: dict) -> None:
        self.redraw()

    def redraw(self) -> None:
        """Draw the current plane now (replaces the figure)."""
        old, self.figure = self.figure, None
        result = self.result
        if result is None:
            self.message.show("Run a prediction to see a slice.")
        elif not result.complete:
            self.message.show(f"Slices need the whole grid; this result is {100 * result.filled_fraction:.1f} % complete", "warning")
        else:
            self.message.clear()
            self.figure = self.message.guard(self._build, result)
        self._figure_box.children = [self.figure] if self.figure is not None else []
        if old is not None:
            old.close()

    def _build(self, result: Any) -> go.FigureWidget:
        from deepaw_nb.viz import slice_figure

        fig = slice_figure(result, unit=self.unit.value, **self.plane_kwargs())
        if self.title:
            fig.update_layout(title=f"{self.title}: {fig.layout.title.text}")
        fig.update_layout(height=520)
        return go.FigureWidget(fig)
