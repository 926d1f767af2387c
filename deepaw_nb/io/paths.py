"""Checks on user-supplied paths: input files that must be readable, output names that must stay put.

Every check raises a :mod:`deepaw_nb.errors` class with a one-line message naming the problem
and the fix, so a notebook shows a sentence instead of a traceback from deep inside ``open``.
"""

from __future__ import annotations

import os
from pathlib import Path

from deepaw_nb.errors import InputFileError, OutputError

__all__ = ["one_line", "require_input_file", "safe_output_path"]


def one_line(text: object, limit: int = 160) -> str:
    """Squeeze an arbitrary (library) message into one short line for our own error messages."""
    flat = " ".join(str(text).split())
    if len(flat) > limit:
        flat = flat[: limit - 3] + "..."
    return flat or "no details"


def require_input_file(path: str | os.PathLike[str], what: str = "file") -> Path:
    """Return ``path`` as a :class:`~pathlib.Path` after checking it is a readable, non-empty file.

    Raises :class:`InputFileError` for a missing path, a directory, an unreadable file, or a
    0-byte file.  ``what`` names the expected content in the message ("CHGCAR", "structure file").
    """
    if isinstance(path, (bytes, bytearray)):
        path = os.fsdecode(path)
    if not isinstance(path, (str, os.PathLike)):
        raise InputFileError(
            f"Expected a path to a {what}, got {type(path).__name__}; pass a str or pathlib.Path"
        )
    p = Path(path).expanduser()
    if "\x00" in str(p):
        raise InputFileError(f"The {what} path contains a NUL character; pass a plain file name")
    if not p.exists():
        raise InputFileError(f"{what.capitalize()} '{p}' not found; check the path and the working directory")
    if p.is_dir():
        raise InputFileError(f"'{p}' is a directory, not a {what}; pass the path of a file inside it")
    if not os.access(p, os.R_OK):
        raise InputFileError(f"{what.capitalize()} '{p}' is not readable; fix its permissions (chmod u+r)")
    if p.stat().st_size == 0:
        raise InputFileError(f"{what.capitalize()} '{p}' is empty (0 bytes); the copy or the run that wrote it failed, copy it again")
    return p


def safe_output_path(directory: str | os.PathLike[str], filename: str) -> Path:
    """Join an untrusted ``filename`` (an upload, a name typed in a widget) onto ``directory``.

    Refuses, with :class:`OutputError`, names that are empty, contain NUL or backslashes, are
    absolute, or would resolve outside ``directory`` (``../x``, symlinked escapes).  Relative
    sub-paths that stay inside (``runs/CHGCAR``) are allowed.  Returns the joined path; it does
    not create anything.
    """
    if not isinstance(filename, str) or not filename.strip():
        raise OutputError("Output file name is empty; give a plain name such as 'CHGCAR_pred'")
    if "\x00" in filename:
        raise OutputError("Output file name contains a NUL character; give a plain name such as 'CHGCAR_pred'")
    if "\\" in filename:
        raise OutputError(f"Output file name {filename!r} contains a backslash; use a plain name without path separators")
    if os.path.isabs(filename) or filename.startswith("~"):
        raise OutputError(f"Output file name {filename!r} is absolute; give a name relative to the output directory")
    parts = Path(filename).parts
    if any(part == ".." for part in parts) or filename.strip() in {".", ".."}:
        raise OutputError(f"Output file name {filename!r} points outside the output directory; remove '..' from it")
    base = Path(directory).expanduser().resolve()
    target = (base / filename).resolve()
    if target == base or not target.is_relative_to(base):
        raise OutputError(f"Output file name {filename!r} resolves outside '{base}'; give a plain file name")
    return base / filename
