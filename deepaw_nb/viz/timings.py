"""Figures about run time: pipeline stage breakdown and precision speed/accuracy trade-off."""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from deepaw_nb.errors import DeepawError

__all__ = ["precision_comparison_figure", "timing_figure"]


def _seconds(name: str, value: Any) -> float:
    try:
        sec = float(value)
    except (TypeError, ValueError):
        raise DeepawError(f"time of stage {name!r} is {value!r}; give seconds as a number") from None
    if not math.isfinite(sec) or sec < 0:
        raise DeepawError(f"time of stage {name!r} is {value!r}; stage times must be finite seconds ≥ 0")
    return sec


def timing_figure(timings: Mapping[str, float], title: str = "Prediction time by stage") -> go.Figure:
    """Horizontal bar chart of pipeline stage times.

    Parameters
    ----------
    timings:
        Stage name → wall time in seconds, in pipeline order (the mapping's order is
        kept, first stage at the top).  Stages that took 0 s are still listed.
    title:
        Figure title; the total time is appended (``"… — total 12.3 s"``).

    Each bar is labelled with its time and its percentage of the total.
    ``fig.layout.meta`` holds ``stages``, ``seconds``, ``percent`` and ``total_s``.
    """
    if not isinstance(timings, Mapping) or not timings:
        raise DeepawError("timings must be a non-empty mapping {stage name: seconds}")
    names = [str(k) for k in timings]
    secs = [_seconds(k, v) for k, v in timings.items()]
    total = sum(secs)
    pct = [100.0 * s / total if total > 0 else 0.0 for s in secs]
    labels = [f"{_fmt_s(s)}  ({p:.1f} %)" for s, p in zip(secs, pct)]
    fig = go.Figure(
        go.Bar(
            x=secs, y=names, orientation="h", text=labels, textposition="outside",
            cliponaxis=False, marker_color="rgb(70,120,190)", customdata=pct,
            hovertemplate="%{y}: %{x:.4g} s (%{customdata:.1f} %)<extra></extra>",
        )
    )
    fig.update_layout(
        title=f"{title} — total {_fmt_s(total)}",
        xaxis=dict(title="time (s)", range=[0, (max(secs) or 1.0) * 1.35]),
        yaxis=dict(categoryorder="array", categoryarray=names, autorange="reversed"),
        height=max(250, 60 + 32 * len(names)), margin=dict(l=10, r=30, t=50, b=40),
        meta=dict(stages=names, seconds=secs, percent=pct, total_s=total),
    )
    return fig


def _fmt_s(sec: float) -> str:
    if sec == 0:
        return "0 s"
    if sec < 1e-3:
        return f"{sec * 1e6:.3g} µs"
    if sec < 1:
        return f"{sec * 1e3:.3g} ms"
    return f"{sec:.3g} s"


_COLUMNS = [  # key, header, format
    ("precision", "precision", "{}"),
    ("seconds", "time (s)", "{:.3g}"),
    ("probes_per_s", "probes / s", "{:.3g}"),
    ("nmae", "NMAE", "{:.3g}"),
    ("mae", "MAE (e/Å³)", "{:.3g}"),
    ("max_error", "max |error| (e/Å³)", "{:.3g}"),
    ("electron_count_diff", "ΔN (electrons)", "{:+.3g}"),
]


def _cell(row: Mapping[str, Any], key: str, fmt: str) -> str:
    val = row.get(key)
    if val is None:
        return "—"
    try:
        return fmt.format(val)
    except (TypeError, ValueError):
        return str(val)


def _short(value: Any) -> str:
    return "—" if value is None else f"{value:.3g}"


def precision_comparison_figure(rows: Sequence[Mapping[str, Any]], title: str = "Precision: speed vs accuracy") -> go.Figure:
    """Table plus bar charts comparing runs at different numeric precisions.

    Parameters
    ----------
    rows:
        One mapping per run with ``precision`` (e.g. ``"bf16"``) and any of ``seconds``
        (wall time, s), ``probes_per_s``, ``nmae`` (normalised mean absolute error,
        dimensionless), ``mae`` and ``max_error`` (e/Å³), ``electron_count_diff``
        (electrons).  Missing values show as "—".

    Layout: the table on top; below, speed (probes/s if every row has it, else time in
    s) on the left and NMAE on the right (log scale when the non-zero NMAEs span more
    than a factor 10; exact zeros are then marked "0").
    """
    if isinstance(rows, Mapping) or not isinstance(rows, Sequence) or not rows:
        raise DeepawError("rows must be a non-empty list of dicts with at least a 'precision' key")
    for n, row in enumerate(rows):
        if not isinstance(row, Mapping) or "precision" not in row:
            raise DeepawError(f"row {n} has no 'precision' key; give e.g. {{'precision': 'bf16', 'seconds': 12.3}}")
    names = [str(r["precision"]) for r in rows]

    fig = make_subplots(
        rows=2, cols=2, vertical_spacing=0.12, horizontal_spacing=0.14, row_heights=[0.4, 0.6],
        specs=[[{"type": "table", "colspan": 2}, None], [{"type": "xy"}, {"type": "xy"}]],
    )
    fig.add_trace(go.Table(
        header=dict(values=[h for _, h, _ in _COLUMNS], fill_color="rgb(225,230,240)", align="left"),
        cells=dict(values=[[_cell(r, k, f) for r in rows] for k, _, f in _COLUMNS], align="left"),
    ), row=1, col=1)

    if all(r.get("probes_per_s") is not None for r in rows):
        speed, speed_title = [float(r["probes_per_s"]) for r in rows], "probes / s (higher is faster)"
    else:
        speed = [float(r["seconds"]) if r.get("seconds") is not None else None for r in rows]
        speed_title = "time (s, lower is faster)"
    fig.add_trace(go.Bar(x=names, y=speed, name="speed", marker_color="rgb(70,120,190)",
                         text=[_short(v) for v in speed], textposition="auto",
                         showlegend=False), row=2, col=1)
    nmae = [float(r["nmae"]) if r.get("nmae") is not None else None for r in rows]
    positive = [v for v in nmae if v is not None and v > 0]
    # Log scale when the errors span more than a decade (fp32 vs bf16 easily spans 4);
    # exact zeros (the reference run) cannot sit on a log axis and get a "0" note instead.
    log_error = bool(positive) and max(positive) > 10 * min(positive)
    shown = [None if (log_error and v is not None and v <= 0) else v for v in nmae]
    fig.add_trace(go.Bar(x=names, y=shown, name="NMAE", marker_color="rgb(200,90,60)",
                         text=[_short(v) for v in nmae], textposition="auto",
                         showlegend=False), row=2, col=2)
    if log_error:
        for name, v in zip(names, nmae):
            if v is not None and v <= 0:
                fig.add_annotation(x=name, y=0.02, xref="x2", yref="y2 domain", text="0",
                                   showarrow=False, yanchor="bottom")
    fig.update_yaxes(title_text=speed_title, row=2, col=1)
    fig.update_yaxes(title_text="NMAE" + (" (log scale)" if log_error else ""),
                     type="log" if log_error else "linear", exponentformat="power", row=2, col=2)
    fig.update_xaxes(title_text="precision", row=2, col=1)
    fig.update_xaxes(title_text="precision", row=2, col=2)
    fig.update_layout(title=title, height=620, meta=dict(precisions=names))
    return fig
