"""``ProgressDisplay``: a progress bar with probes done, probes per second and time left."""

from __future__ import annotations

import time
from typing import Any

import ipywidgets as ipw

__all__ = ["ProgressDisplay", "format_seconds"]


def format_seconds(seconds: float | None) -> str:
    """``"42 s"``, ``"3 min 05 s"``, ``"1 h 02 min"``; ``"—"`` for unknown."""
    if seconds is None:
        return "—"
    s = max(0, int(round(seconds)))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {(s % 3600) // 60:02d} min"


class ProgressDisplay(ipw.HBox):
    """Bar (0–100 %) plus a text line; :meth:`update` is a ``progress`` callback for ``predict``.

    Updates are throttled to one every ``interval`` seconds (the last one always shows), so a
    run with thousands of small batches does not flood the browser with messages.
    """

    def __init__(self, interval: float = 0.2, **kwargs: Any) -> None:
        self.interval = float(interval)
        self.bar = ipw.IntProgress(value=0, min=0, max=100, description="", layout=ipw.Layout(width="18em"))
        self.text = ipw.HTML("")
        self._last = 0.0
        #: (done, total, elapsed) of the last report; None before any.
        self.last_report: tuple[int, int, float] | None = None
        super().__init__(children=[self.bar, self.text], **kwargs)
        self.add_class("deepaw-progress")
        self.bar.add_class("deepaw-progress-bar")
        self.text.add_class("deepaw-progress-text")

    @property
    def percent(self) -> int:
        return int(self.bar.value)

    def reset(self, note: str = "") -> None:
        self.bar.value = 0
        self.bar.bar_style = ""
        self.last_report = None
        self._last = 0.0
        self.text.value = note

    def note(self, text: str) -> None:
        """Show a stage note (e.g. "loading the model ...") next to the bar."""
        self.text.value = text

    def update(self, done: int, total: int, elapsed: float) -> None:
        """Progress callback ``(done_probes, total_probes, elapsed_s)`` (see ``deepaw_nb.predict``)."""
        from deepaw_nb.engine import eta_seconds

        self.last_report = (int(done), int(total), float(elapsed))
        now = time.monotonic()
        if done < total and now - self._last < self.interval:
            return
        self._last = now
        percent = int(100 * done // total) if total else 100
        rate = done / elapsed if elapsed > 0 else 0.0
        eta = eta_seconds(done, total, elapsed)
        self.bar.value = percent
        self.text.value = (
            f"<b>{percent} %</b> · {done:,} / {total:,} probes · {rate:,.0f} probes/s · "
            f"elapsed {format_seconds(elapsed)} · ETA {format_seconds(eta) if done < total else '0 s'}"
        )

    def finish(self, text: str, style: str = "success") -> None:
        """Final state: ``style`` is ``"success"`` (bar to 100 %), ``"warning"`` or ``"danger"``."""
        if style == "success":
            self.bar.value = 100
        self.bar.bar_style = style
        self.text.value = text
