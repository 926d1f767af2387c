"""``IsosurfaceViewer``: a plotly ``FigureWidget`` isosurface with a live isovalue slider.

A new result builds the figure once with :func:`deepaw_nb.viz.isosurface_figure`.  Moving the
(debounced) isovalue slider then only recomputes the two triangle meshes with
:func:`deepaw_nb.viz.isosurface_mesh` and writes them into the existing ``Mesh3d`` traces
(:func:`deepaw_nb.viz.mesh_trace_data`), so the camera, atoms and cell stay as they are.
"""

from __future__ import annotations

import math
import threading
from typing import Any

import ipywidgets as ipw
import numpy as np
import plotly.graph_objects as go
import traitlets

from deepaw_nb.errors import DeepawError
from deepaw_widgets._base import Debouncer, MessageLine, ResultTrait

__all__ = ["IsosurfaceViewer"]

UNITS = (("e/Å³", "e/A3"), ("e/bohr³", "e/bohr3"))
_LABELS = {value: label for label, value in UNITS}
_DECADES = 4  # slider range: from max|ρ|·10⁻⁴ to max|ρ|
_NEAR_MAX = 0.95  # a default isovalue above this share of max|ρ| draws (almost) nothing
_STEP = 0.01  # slider step in log10 units (2.3 % per step)


def _snap(value: float, low_exp: float, high_exp: float, step: float = _STEP) -> float:
    """``value`` moved to the nearest position of a log slider (positions low_exp + k·step, ≤ high_exp)."""
    exponent = math.log10(value) if value > 0 else low_exp
    k = round((exponent - low_exp) / step)
    return float(10 ** min(max(low_exp + k * step, low_exp), high_exp))


class IsosurfaceViewer(ipw.VBox):
    """Isosurface of ``result.density`` with isovalue, opacity, ± and unit controls.

    ``figure`` is the :class:`plotly.graph_objects.FigureWidget`; ``positive_trace`` and
    ``negative_trace`` are the indices of its two surface traces.  ``debounce`` delays slider
    updates (``debounce.flush()`` applies a pending one at once; ``debounce.delay = 0`` makes
    them synchronous).
    """

    result = ResultTrait()

    def __init__(self, debounce: float = 0.2, max_points: int = 1_000_000, **kwargs: Any) -> None:
        self.max_points = int(max_points)
        self.isovalue = self._new_slider(0.1, -4.0, 0.0, "isovalue")
        self.opacity = ipw.FloatSlider(value=0.6, min=0.05, max=1.0, step=0.05, description="opacity", layout=ipw.Layout(width="18em"))
        self.negative = ipw.ToggleButton(value=True, description="±", tooltip="also draw the surface at −isovalue (difference maps)",
                                         layout=ipw.Layout(width="3.5em"))
        self.unit = ipw.ToggleButtons(options=UNITS, value="e/A3", style={"button_width": "6em"})
        self.info = ipw.HTML()
        self.message = MessageLine()
        self.figure: go.FigureWidget | None = None
        self.positive_trace: int | None = None
        self.negative_trace: int | None = None
        self.debounce = Debouncer(self._apply_isovalue, debounce)
        self._rho: np.ndarray | None = None
        self._cell: np.ndarray | None = None
        self._stride = 1
        self._lock = threading.RLock()
        self._figure_box = ipw.VBox(layout=ipw.Layout(width="100%"))
        self._controls = ipw.HBox([self.isovalue, self.negative, self.opacity, self.unit])
        super().__init__(children=[self._controls, self.info, self.message, self._figure_box], **kwargs)
        self.add_class("deepaw-isosurface-viewer")
        self.opacity.observe(self._on_opacity, "value")
        self.negative.observe(lambda _: self._apply_isovalue(), "value")
        self.unit.observe(self._on_unit, "value")
        self.message.show("Run a prediction to see an isosurface.")

    # ---- public helpers --------------------------------------------------------------------
    def isovalue_e_per_A3(self) -> float:
        """The slider's isovalue converted to e/Å³."""
        from deepaw_nb.viz import convert_density_units

        return float(convert_density_units(float(self.isovalue.value), self.unit.value, "e/A3"))

    def set_isovalue(self, value: float, unit: str | None = None) -> None:
        """Move the slider to ``value`` (in ``unit``, default the shown unit) and apply it now."""
        from deepaw_nb.viz import convert_density_units

        if unit is not None:
            value = float(convert_density_units(value, unit, self.unit.value))
        self.isovalue.value = value
        self.debounce.cancel()
        self._apply_isovalue()

    # ---- building ---------------------------------------------------------------------------
    @traitlets.observe("result")
    def _on_result(self, change: dict) -> None:
        self._rebuild(keep_isovalue=False)

    def _rebuild(self, keep_isovalue: bool) -> None:
        with self._lock:
            old, self.figure = self.figure, None
            self.positive_trace = self.negative_trace = None
            self._rho = None
            result = self.result
            if result is None:
                self.info.value = ""
                self.message.show("Run a prediction to see an isosurface.")
            elif not result.complete:
                self.info.value = ""
                self.message.show(f"The isosurface needs the whole grid; this result is {100 * result.filled_fraction:.1f} % complete", "warning")
            else:
                self.message.clear()
                self.figure = self.message.guard(self._build, result, keep_isovalue)
            self._figure_box.children = [self.figure] if self.figure is not None else []
            if old is not None:
                old.close()

    def _build(self, result: Any, keep_isovalue: bool) -> go.FigureWidget:
        from deepaw_nb.viz import convert_density_units, isosurface_figure

        unit = self.unit.value
        rho = np.asarray(result.density)
        top = float(convert_density_units(float(np.abs(rho).max()), "e/A3", unit))
        low_exp, high_exp = math.log10(top) - _DECADES, math.log10(top)

        def figure(iso: float) -> go.Figure:
            # Snap to a slider position, so the slider shows exactly the drawn isovalue.
            return isosurface_figure(result, isovalue=_snap(iso, low_exp, high_exp), unit=unit, opacity=self.opacity.value,
                                     show_negative=self.negative.value, max_points=self.max_points)

        try:
            fig = figure(float(self.isovalue.value) if keep_isovalue else self._default_isovalue(result, unit))
        except DeepawError:  # the kept isovalue may not fit new data: use the default
            if not keep_isovalue:
                raise
            fig = figure(self._default_isovalue(result, unit))
        meta = dict(fig.layout.meta)
        self._add_missing_surface(fig, meta)
        self._rho = rho
        self._cell = np.asarray(result.atoms.cell.array, dtype=float)
        self._stride = int(meta["stride"])
        self._replace_slider(float(meta["isovalue"]), low_exp, high_exp, f"iso ({_LABELS[unit]})")
        lo, hi = (float(convert_density_units(float(x), "e/A3", unit)) for x in (rho.min(), rho.max()))
        self.info.value = (f"<small>data range {lo:.4g} … {hi:.4g} {_LABELS[unit]}"
                           + (f"; surfaces from every {self._stride}. grid point" if self._stride > 1 else "") + "</small>")
        widget = go.FigureWidget(fig)
        widget.layout.height = 520
        return widget

    def _default_isovalue(self, result: Any, unit: str) -> float:
        """The library's default isovalue (in ``unit``), kept clearly below max |ρ|.

        On small grids many points can share the maximum, and a percentile then lands on it:
        the surface would be (nearly) empty.  Half the maximum is used instead in that case.
        """
        from deepaw_nb.viz import choose_stride, convert_density_units, default_isovalue

        stride = choose_stride(result.density.shape, self.max_points)
        sub = np.asarray(result.density[::stride, ::stride, ::stride], dtype=float)
        top = float(np.abs(sub).max())
        iso = default_isovalue(sub)
        if iso >= _NEAR_MAX * top:
            iso = 0.5 * top
        return float(convert_density_units(iso, "e/A3", unit))

    def _new_slider(self, value: float, low_exp: float, high_exp: float, description: str) -> ipw.FloatLogSlider:
        slider = ipw.FloatLogSlider(value=value, base=10, min=low_exp, max=high_exp, step=_STEP, description=description,
                                    readout_format=".3g", continuous_update=True, layout=ipw.Layout(width="26em"))
        slider.add_class("deepaw-isovalue")
        slider.observe(self._on_isovalue, "value")
        return slider

    def _replace_slider(self, value: float, low_exp: float, high_exp: float, description: str) -> None:
        """Swap in a new slider with this range and value (no mesh update).

        A fresh widget is created instead of changing ``min``/``max``/``value`` of the old
        one: a browser slider that applies a new range before the new value clamps the old
        value and sends it back, which would move the isosurface to the end of the range.
        """
        old, self.isovalue = self.isovalue, self._new_slider(value, low_exp, high_exp, description)
        self._controls.children = [self.isovalue, *self._controls.children[1:]]
        old.unobserve(self._on_isovalue, "value")
        old.close()

    def _add_missing_surface(self, fig: go.Figure, meta: dict) -> None:
        """Make sure both surface traces exist (empty if needed), so the slider can fill them later."""
        from deepaw_nb.viz.isosurface import NEGATIVE_COLOR, POSITIVE_COLOR

        template = fig.data[meta.get("positive_trace", meta.get("negative_trace"))]
        for key, color, sign in (("positive_trace", POSITIVE_COLOR, "+"), ("negative_trace", NEGATIVE_COLOR, "−")):
            if key not in meta:
                empty = go.Mesh3d(template)
                empty.update(x=[], y=[], z=[], i=[], j=[], k=[], color=color, name=f"{sign}{meta['isovalue']:.3g} (no surface)",
                             visible=key == "positive_trace")  # an empty negative surface stays out of the legend
                fig.add_trace(empty)
                meta[key] = len(fig.data) - 1
        self.positive_trace, self.negative_trace = int(meta["positive_trace"]), int(meta["negative_trace"])

    # ---- live updates -------------------------------------------------------------------------
    def _on_isovalue(self, change: dict) -> None:
        # A browser slider reports its (step-rounded) position once when it is drawn; a change
        # smaller than half a step is that echo, not a user's move.
        old, new = change["old"], change["new"]
        if old > 0 and new > 0 and abs(math.log10(new / old)) < 0.5 * float(change["owner"].step):
            return
        if self.figure is not None:
            self.debounce.trigger()

    def _apply_isovalue(self) -> None:
        """Recompute both meshes at the slider's isovalue and write them into the traces in place."""
        from deepaw_nb.viz import isosurface_mesh, mesh_trace_data

        with self._lock:
            if self.figure is None or self._rho is None:
                return
            iso = self.isovalue_e_per_A3()
            label = f"{self.isovalue.value:.3g} {_LABELS[self.unit.value]}"
            positive = isosurface_mesh(self._rho, self._cell, iso, self._stride)
            negative = isosurface_mesh(-self._rho, self._cell, iso, self._stride) if self.negative.value else None
            with self.figure.batch_update():
                pos = self.figure.data[self.positive_trace]
                pos.update(**mesh_trace_data(*positive), name=f"+{label}" + ("" if len(positive[1]) else " (no surface)"),
                           hovertemplate=f"ρ = +{label}<extra></extra>")
                neg = self.figure.data[self.negative_trace]
                if negative is not None:
                    neg.update(**mesh_trace_data(*negative), name=f"−{label}", visible=len(negative[1]) > 0,
                               hovertemplate=f"ρ = −{label}<extra></extra>")
                else:
                    neg.visible = False
                shown_negative = negative is not None and len(negative[1]) > 0
                sign = "±" if shown_negative and len(positive[1]) else ("−" if shown_negative else "+")
                self.figure.layout.title.text = f"Isosurface {sign}{label}"
            if not len(positive[1]) and not (negative is not None and len(negative[1])):
                self.message.show(f"No surface at {label}: it lies outside the data range", "warning")
            else:
                self.message.clear()

    def _on_opacity(self, change: dict) -> None:
        if self.figure is not None:
            with self.figure.batch_update():
                for index in (self.positive_trace, self.negative_trace):
                    self.figure.data[index].opacity = change["new"]

    def _on_unit(self, change: dict) -> None:
        from deepaw_nb.viz import convert_density_units

        if self.figure is None:
            return
        factor = float(convert_density_units(1.0, change["old"], change["new"]))
        shift = math.log10(factor)
        self._replace_slider(float(self.isovalue.value) * factor, self.isovalue.min + shift, self.isovalue.max + shift,
                             self.isovalue.description)
        self._rebuild(keep_isovalue=True)
