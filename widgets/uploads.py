"""Saving uploaded files inside a private temporary directory, and nowhere else.

A browser upload carries a file name chosen by whoever made the file.  Only its last path
component is kept, and the join goes through :func:`deepaw_nb.io.safe_output_path`, so a name
such as ``../../evil`` or ``/etc/passwd`` can never place bytes outside the directory.  The
directory is created with mode 0700 and removed when its owner is garbage collected.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import weakref
from pathlib import Path
from typing import Any

from deepaw_nb.errors import InputFileError, OutputError
from deepaw_nb.io import atomic_write, safe_output_path

__all__ = ["UploadDirectory", "plain_upload_name", "upload_entries"]

_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]+")
_MAX_NAME = 100


def plain_upload_name(name: object, default: str = "upload") -> str:
    """The last component of an uploaded file name, reduced to safe characters.

    ``"../evil.cif"`` -> ``"evil.cif"``; ``"C:\\x\\POSCAR"`` -> ``"POSCAR"``; empty, ``"."``,
    ``".."`` or hidden-only names become ``default``.  Characters other than letters, digits,
    ``._+-`` become ``_`` (format detection only needs the suffix and names like ``CHGCAR``).
    """
    text = str(name or "").replace("\\", "/").split("/")[-1]
    text = _UNSAFE.sub("_", text).lstrip(".")[-_MAX_NAME:]
    return text if text.strip("._") else default


def upload_entries(value: Any) -> list[dict[str, Any]]:
    """The files of a ``FileUpload.value`` (ipywidgets 8: a tuple of dicts) as a list."""
    if isinstance(value, dict):  # ipywidgets 7 used {name: {...}}
        return [{"name": key, **entry} for key, entry in value.items()]
    return [dict(entry) for entry in (value or ())]


class UploadDirectory:
    """A private temporary directory that uploaded bytes are written into.

    Args:
        prefix: prefix of the directory name (under the system temp directory).
        max_bytes: refuse uploads larger than this (the bytes are already in memory, but a
            huge file should not also be copied to disk).
    """

    def __init__(self, prefix: str = "deepaw-upload-", max_bytes: int = 2_000_000_000) -> None:
        self.path = Path(tempfile.mkdtemp(prefix=prefix)).resolve()
        self.max_bytes = int(max_bytes)
        self._finalizer = weakref.finalize(self, shutil.rmtree, str(self.path), True)

    def save(self, entry: dict[str, Any]) -> Path:
        """Write one upload (a dict with ``name`` and ``content``) and return its path.

        The file lands directly inside :attr:`path` under :func:`plain_upload_name` of the
        uploaded name; an earlier upload of the same name is replaced.
        """
        content = entry.get("content")
        if content is None:
            raise InputFileError("The upload has no content; choose the file again")
        data = content.tobytes() if isinstance(content, memoryview) else bytes(content)
        if not data:
            raise InputFileError(f"The uploaded file {plain_upload_name(entry.get('name'))!r} is empty (0 bytes); upload a non-empty file")
        if len(data) > self.max_bytes:
            raise InputFileError(f"The uploaded file is {len(data) / 1e6:.0f} MB, above the {self.max_bytes / 1e6:.0f} MB limit; give its path instead")
        name = plain_upload_name(entry.get("name"))
        target = safe_output_path(self.path, name)
        if target.parent != self.path:  # cannot happen after plain_upload_name; belt and braces
            raise OutputError(f"Upload name {name!r} does not stay in the upload directory; rename the file")
        with atomic_write(target, mode="wb", overwrite=True) as handle:
            handle.write(data)
        return target

    def cleanup(self) -> None:
        """Delete the directory and everything in it now."""
        self._finalizer()
