"""Atomic, no-clobber file writing used by every writer in deepaw-nb.

A result file is either absent, the old complete file, or the new complete file — never half
written: data goes to a temporary file in the target directory, is flushed and fsync'ed, and is
then moved into place in one step.  Without ``overwrite=True`` an existing file is never replaced.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from deepaw_nb.errors import OutputError

__all__ = ["atomic_write", "check_output_path"]


def check_output_path(path: str | os.PathLike[str], overwrite: bool = False) -> Path:
    """Check that ``path`` can be written; return it as a :class:`~pathlib.Path`.

    Raises :class:`OutputError` when the parent directory does not exist, the path is a
    directory, or the file exists and ``overwrite`` is false.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise OutputError(f"Expected an output path, got {type(path).__name__}; pass a str or pathlib.Path")
    p = Path(path).expanduser()
    if "\x00" in str(p) or not p.name:
        raise OutputError(f"Output path {str(path)!r} is not a valid file name; pass a path ending in a file name")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise OutputError(f"Directory '{parent}' does not exist; create it first (mkdir -p) or choose another path")
    if p.is_dir():
        raise OutputError(f"'{p}' is a directory; give a file name inside it, e.g. '{p / 'CHGCAR'}'")
    if p.exists() and not overwrite:
        raise OutputError(f"'{p}' exists; pass overwrite=True or choose another path")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"Directory '{parent}' is not writable; choose another directory or fix its permissions")
    return p


def _default_file_mode() -> int:
    """Permission bits a plain ``open(path, 'w')`` would give (0o666 minus the umask)."""
    try:  # Linux exposes the umask without changing it; os.umask() would race with threads.
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o644


def _fsync_directory(directory: Path) -> None:
    """Make the rename durable; best effort (not every platform/filesystem allows it)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _publish(tmp: Path, target: Path, overwrite: bool) -> None:
    """Move the finished temp file onto ``target`` (no-clobber unless ``overwrite``)."""
    if overwrite:
        os.replace(tmp, target)
        return
    # os.link fails atomically if target appeared meanwhile, so we never clobber a file that
    # another process created after our existence check.
    try:
        os.link(tmp, target)
    except FileExistsError:
        raise OutputError(f"'{target}' exists; pass overwrite=True or choose another path") from None
    except OSError:
        # Filesystem without hard links (some network/FUSE mounts): re-check, then rename.
        if target.exists():
            raise OutputError(f"'{target}' exists; pass overwrite=True or choose another path") from None
        os.replace(tmp, target)
        return
    os.unlink(tmp)


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str], mode: str = "w", overwrite: bool = False) -> Iterator[IO[Any]]:
    """Context manager yielding a file object whose contents appear at ``path`` only on success.

    ``mode`` is ``"w"`` (text, UTF-8, ``\\n`` line endings) or ``"wb"`` (binary).  The data is
    written to a temporary file in the same directory, flushed, fsync'ed and moved into place with
    :func:`os.replace` (or a hard link when ``overwrite`` is false).  If the ``with`` block raises,
    the temporary file is removed and any existing file at ``path`` is left untouched.

    Raises :class:`OutputError` if the directory does not exist, ``path`` is a directory, or the
    file exists and ``overwrite`` is false.
    """
    if mode not in ("w", "wb"):
        raise OutputError(f"atomic_write mode must be 'w' or 'wb', not {mode!r}; pass one of those")
    target = check_output_path(path, overwrite=overwrite)
    parent = target.parent if str(target.parent) else Path(".")
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=parent)
    except OSError as exc:
        raise OutputError(f"Cannot create a file in '{parent}' ({exc.strerror}); choose another directory") from None
    tmp = Path(tmp_name)
    try:
        file_mode = target.stat().st_mode & 0o7777 if target.exists() else _default_file_mode()
        os.chmod(tmp, file_mode)
        if mode == "wb":
            fh: IO[Any] = os.fdopen(fd, "wb")
        else:
            fh = os.fdopen(fd, "w", encoding="utf-8", newline="\n")
    except BaseException:
        os.close(fd)
        tmp.unlink(missing_ok=True)
        raise
    try:
        with fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        _publish(tmp, target, overwrite)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise OutputError(f"Writing '{target}' failed ({exc.strerror or exc}); check free disk space and permissions") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_directory(parent)
