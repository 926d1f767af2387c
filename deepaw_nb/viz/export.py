"""Writing figures to disk: self-contained HTML always, PNG/SVG/PDF when Chromium exists.

Static images are rendered by kaleido 1.x, which drives a Chrome/Chromium browser.  We
never download one: :func:`static_export_available` only looks for a browser that is
already there (``BROWSER_PATH``, ``chromium``/``google-chrome`` on ``PATH``, the usual
install locations, or one previously fetched with ``plotly_get_chrome``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional, Union

from deepaw_nb.errors import DeepawError, OutputError
from deepaw_nb.io.atomic import atomic_write, check_output_path

__all__ = ["export_figure", "find_browser", "static_export_available"]

_STATIC = {"png", "svg", "pdf", "jpeg", "webp"}
_ALIASES = {"htm": "html", "jpg": "jpeg"}
_FIX = "install chromium (apt-get install chromium) or set BROWSER_PATH, or export to .html"


def find_browser() -> Optional[str]:
    """Path of a Chrome/Chromium executable kaleido can use, or None.  Never downloads."""
    try:
        from choreographer.browsers.chromium import Chromium
    except ImportError:
        return None
    try:
        path = Chromium.find_browser(skip_local=False)
    except Exception:  # a broken BROWSER_PATH or odd platform: treat as absent
        return None
    if path and os.path.isfile(path) and os.access(path, os.X_OK):
        return str(path)
    return None


def static_export_available() -> tuple[bool, str]:
    """Whether PNG/SVG/PDF export can work here, and why not if it cannot."""
    try:
        import kaleido  # noqa: F401
    except ImportError:
        return False, "kaleido is not installed (pip install 'kaleido>=1')"
    browser = find_browser()
    if browser is None:
        return False, "no Chrome/Chromium browser found for kaleido"
    return True, browser


def _resolve_format(path: Path, fmt: Optional[str]) -> str:
    if fmt is None:
        if not path.suffix:
            raise OutputError(f"cannot tell the format of {str(path)!r}; add a suffix such as .html or .png, or pass format=")
        fmt = path.suffix[1:]
    fmt = _ALIASES.get(fmt.lower().lstrip("."), fmt.lower().lstrip("."))
    if fmt != "html" and fmt not in _STATIC:
        raise OutputError(f"cannot export to format {fmt!r}; use html, png, svg, pdf, jpeg or webp")
    return fmt


def _render(fig, fmt: str, width: Optional[int], height: Optional[int], scale: Optional[float]) -> bytes:
    if fmt == "html":
        html = fig.to_html(
            include_plotlyjs=True, full_html=True,
            default_width=f"{width}px" if width else "100%",
            default_height=f"{height}px" if height else "100%",
        )
        return html.encode("utf-8")
    ok, why = static_export_available()
    if not ok:
        raise OutputError(f"cannot write {fmt.upper()}: {why}; {_FIX}")
    import plotly.io as pio

    try:
        return pio.to_image(fig, format=fmt, width=width, height=height, scale=scale)
    except Exception as exc:  # kaleido/browser failures arrive as many exception types
        first = next((ln.strip() for ln in str(exc).splitlines() if ln.strip()), type(exc).__name__)
        raise OutputError(f"cannot write {fmt.upper()}: {first[:200]}; {_FIX}") from None


def export_figure(
    fig,
    path: Union[str, os.PathLike],
    *,
    format: Optional[str] = None,
    overwrite: bool = False,
    width: Optional[int] = None,
    height: Optional[int] = None,
    scale: Optional[float] = None,
) -> Path:
    """Write a plotly figure to ``path`` atomically and return the path.

    Parameters
    ----------
    fig:
        A ``plotly.graph_objects.Figure``.
    path:
        Destination file; its directory must exist.
    format:
        ``"html"``, ``"png"``, ``"svg"``, ``"pdf"``, ``"jpeg"`` or ``"webp"``; default from
        the file suffix.  HTML embeds plotly.js, so the file works offline.  The others
        need kaleido and a Chrome/Chromium browser (see :func:`static_export_available`).
    overwrite:
        Replace an existing file.  Without it an existing file raises OutputError.
    width, height:
        Size in CSS pixels (static: image size before ``scale``; HTML: default plot size).
    scale:
        Static formats only: multiply the resolution (e.g. 2 for a sharp PNG).

    The figure is first written to a hidden temporary file in the same directory and then
    moved into place, so a crash never leaves a half-written file.
    """
    if not (hasattr(fig, "to_html") and hasattr(fig, "to_dict")):
        raise DeepawError(f"fig must be a plotly Figure, got {type(fig).__name__}")
    dest = Path(os.fspath(path)).expanduser()
    fmt = _resolve_format(dest, format)
    for name, val in (("width", width), ("height", height), ("scale", scale)):
        if val is not None and not (isinstance(val, (int, float)) and val > 0):
            raise OutputError(f"{name}={val!r} must be a positive number")
    check_output_path(dest, overwrite=overwrite)  # refuse early, before rendering
    data = _render(fig, fmt, width, height, scale)  # before touching the disk
    with atomic_write(dest, mode="wb", overwrite=overwrite) as handle:
        handle.write(data)
    return dest
