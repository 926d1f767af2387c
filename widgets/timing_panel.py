"""``TimingPanel``: where the time of a prediction went (figure and table of ``result.timings``)."""

from __future__ import annotations

import html
from typing import Any

import ipywidgets as ipw
import plotly.graph_objects as go
import traitlets

from deepaw_widgets._base import MessageLine, ResultTrait

__all__ = ["TimingPanel", "timing_table_html"]


def timing_table_html(result: Any) -> str:
    """HTML table of stage, seconds and share of ``result.timings`` plus run facts."""
    timings = dict(result.timings)
    total = sum(timings.values()) or 1.0
    overlapped = set(getattr(result, "overlapped_stages", ()))
    rows = "".join(
        f"<tr><td>{html.escape(name)}{' <i>(overlapped)</i>' if name in overlapped else ''}</td>"
        f"<td style='text-align:right'>{seconds:.3f}</td><td style='text-align:right'>{100 * seconds / total:.1f} %</td></tr>"
        for name, seconds in timings.items()
    )
    prov = result.provenance or {}
    facts = [f"wall time {result.wall_time:.2f} s", f"grid {' × '.join(map(str, result.grid_shape))}"]
    if prov.get("device"):
        facts.append(f"device {html.escape(str(prov.get('device_name') or prov['device']))}")
    if prov.get("precision"):
        facts.append(f"precision {html.escape(str(prov['precision']))}")
    if prov.get("batch_sizes_used"):
        facts.append(f"batch sizes {', '.join(map(str, prov['batch_sizes_used']))}")
    probe_seconds = timings.get("probe model", 0.0)
    symmetry = prov.get("symmetry") if isinstance(prov.get("symmetry"), dict) else {}
    evaluated = int(symmetry.get("evaluations") or result.filled_probes)
    if evaluated < result.num_points:
        facts.append(f"{evaluated:,} of {result.num_points:,} points evaluated (symmetry)")
    if probe_seconds > 0:
        facts.append(f"{evaluated / probe_seconds:,.0f} probes/s in the probe model")
    return (
        "<table class='deepaw-timing-table' style='font-size:12px;line-height:1.25;border-collapse:collapse'><thead><tr><th style='text-align:left'>stage</th><th>seconds</th><th>share</th></tr></thead>"
        f"<tbody>{rows}</tbody></table><div style='font-size:12px;line-height:1.3'>{' · '.join(facts)}</div>"
    )


class TimingPanel(ipw.VBox):
    """Bar chart (:func:`deepaw_nb.viz.timing_figure`) and table of the stage times of ``result``.

    Args:
        figure_width: fixed figure width in px (default: plotly's automatic size).
    """

    result = ResultTrait()

    def __init__(self, figure_width: int | None = None, **kwargs: Any) -> None:
        self.figure_width = figure_width
        self.message = MessageLine()
        self.table = ipw.HTML()
        self.figure: go.FigureWidget | None = None
        self._figure_box = ipw.VBox(layout=ipw.Layout(width="100%"))
        super().__init__(children=[self.message, self._figure_box, self.table], **kwargs)
        self.add_class("deepaw-timing-panel")
        self.message.show("Run a prediction to see where the time goes.")

    @traitlets.observe("result")
    def _on_result(self, change: dict) -> None:
        result = change["new"]
        old, self.figure = self.figure, None
        self.table.value = ""
        if result is None:
            self._figure_box.children = []
            self.message.show("Run a prediction to see where the time goes.")
        else:
            self.message.clear()
            self.figure = self.message.guard(self._build, result)
            self._figure_box.children = [self.figure] if self.figure is not None else []
        if old is not None:
            old.close()

    def _build(self, result: Any) -> go.FigureWidget:
        from deepaw_nb.viz import timing_figure

        self.table.value = timing_table_html(result)
        fig = timing_figure(result.timings)
        if self.figure_width:
            fig.update_layout(width=self.figure_width)
        return go.FigureWidget(fig)
