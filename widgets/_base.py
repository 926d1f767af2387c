"""Pieces every deepaw widget shares: the two shared traits, a one-line message area, debouncing.

The widget layer follows the AiiDAlab convention: widgets exchange data through plain
(non-synced) traitlets, one ``structure`` trait holding an :class:`ase.Atoms` and one
``result`` trait holding a :class:`deepaw_nb.result.DensityResult`, wired together with
``traitlets.link`` / ``traitlets.dlink``.  Errors never reach the user as a traceback: a
:class:`~deepaw_nb.errors.DeepawError` is shown as its own one-line message, anything else as
one line naming the exception type.
"""

from __future__ import annotations

import html
import logging
import threading
from collections.abc import Callable
from typing import Any

import ipywidgets as ipw
import traitlets
from ase import Atoms

from deepaw_nb.errors import DeepawError

__all__ = [
    "Debouncer",
    "MessageLine",
    "ResultTrait",
    "StructureTrait",
    "error_message",
]

LOG = logging.getLogger("deepaw_widgets")


def StructureTrait() -> traitlets.Instance:
    """The shared ``structure`` trait: an :class:`ase.Atoms` or None."""
    return traitlets.Instance(Atoms, allow_none=True)


def ResultTrait() -> traitlets.Instance:
    """The shared ``result`` trait: a :class:`~deepaw_nb.result.DensityResult` or None."""
    return traitlets.Instance("deepaw_nb.result.DensityResult", allow_none=True)


def error_message(exc: BaseException) -> str:
    """One line for the user: a DeepawError's own message, else the exception type and text."""
    text = " ".join(str(exc).split())
    if isinstance(exc, DeepawError):
        return text or type(exc).__name__
    if len(text) > 200:
        text = text[:197] + "..."
    return f"Unexpected {type(exc).__name__}: {text or 'no details'} (please report this)"


_STYLES = {
    "error": ("#b00020", "⚠ "),
    "warning": ("#9a6700", "⚠ "),
    "success": ("#1a7f37", "✓ "),
    "info": ("#444444", ""),
}


class MessageLine(ipw.HTML):
    """A single line of status text: errors in red, successes in green, info in grey.

    ``text`` and ``kind`` hold the plain message for programmatic checks; ``last_error`` the
    last exception shown (for debugging, never displayed as a traceback).
    """

    text = traitlets.Unicode("")
    kind = traitlets.Unicode("info")

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.last_error: BaseException | None = None
        self.add_class("deepaw-message")

    def show(self, text: str, kind: str = "info") -> None:
        """Show ``text`` (plain text, escaped) styled as ``kind`` (error/warning/success/info)."""
        color, mark = _STYLES.get(kind, _STYLES["info"])
        self.text, self.kind = text, kind
        self.value = f'<span style="color:{color}">{mark}{html.escape(text)}</span>' if text else ""

    def show_error(self, exc: BaseException) -> None:
        """Show an exception as one line (see :func:`error_message`)."""
        self.last_error = exc
        if not isinstance(exc, DeepawError):
            LOG.debug("unexpected error in a deepaw widget", exc_info=exc)
        self.show(error_message(exc), "error")

    def clear(self) -> None:
        self.show("", "info")

    def guard(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Call ``func``; on an exception show it here and return None instead of raising."""
        try:
            return func(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - every failure becomes one readable line
            self.show_error(exc)
            return None


class Debouncer:
    """Run ``func`` once, ``delay`` seconds after the last :meth:`trigger` (0 = immediately).

    Slider drags fire many change events; only the last one matters.  The call happens in a
    timer thread (ipywidgets updates from threads are fine in ipykernel 6+).  :meth:`flush`
    runs a pending call now, in the caller's thread, which tests use to avoid sleeping.
    """

    def __init__(self, func: Callable[[], Any], delay: float = 0.15) -> None:
        self.func = func
        self.delay = float(delay)
        self._timer: threading.Timer | None = None
        self._lock = threading.Lock()

    def trigger(self) -> None:
        if self.delay <= 0:
            self.func()
            return
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
            self._timer = threading.Timer(self.delay, self._fire)
            self._timer.daemon = True
            self._timer.start()

    def _fire(self) -> None:
        with self._lock:
            self._timer = None
        self.func()

    @property
    def pending(self) -> bool:
        return self._timer is not None

    def cancel(self) -> None:
        """Drop the pending call, if any."""
        with self._lock:
            timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()

    def flush(self) -> None:
        """Run the pending call now (no-op when nothing is pending)."""
        with self._lock:
            timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()
            self.func()
