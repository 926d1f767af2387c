"""Browser downloads of modest files as an HTML ``<a download>`` link with base64 data."""

from __future__ import annotations

import base64
import html
from pathlib import Path

from deepaw_nb.errors import OutputError

__all__ = ["MAX_DOWNLOAD_BYTES", "download_link_html"]

#: Larger files should be saved to disk (a data: URL lives in the browser's memory).
MAX_DOWNLOAD_BYTES = 50_000_000


def download_link_html(path: str | Path, name: str | None = None, max_bytes: int = MAX_DOWNLOAD_BYTES) -> str:
    """An ``<a download>`` element that hands the bytes of ``path`` to the browser as ``name``."""
    p = Path(path)
    size = p.stat().st_size
    if size > max_bytes:
        raise OutputError(
            f"{p.name} is {size / 1e6:.1f} MB, too large for a browser download link (limit {max_bytes / 1e6:.0f} MB); "
            "use Save to write it to a directory instead"
        )
    label = name or p.name
    data = base64.b64encode(p.read_bytes()).decode("ascii")
    return (
        f'<a class="deepaw-download" download="{html.escape(label, quote=True)}" '
        f'href="data:application/octet-stream;base64,{data}">⬇ Download {html.escape(label)} ({size / 1e6:.2f} MB)</a>'
    )
