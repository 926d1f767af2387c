"""The example structures bundled with deepaw-nb (``data/examples`` of a source checkout)."""

from __future__ import annotations

from pathlib import Path

__all__ = ["bundled_examples", "examples_directory"]

_SUFFIXES = (".cif",)


def examples_directory() -> Path:
    """``data/examples`` next to the ``deepaw_nb`` package (it may not exist in a wheel)."""
    import deepaw_nb

    return Path(deepaw_nb.__file__).resolve().parents[1] / "data" / "examples"


def bundled_examples() -> dict[str, Path]:
    """``{name: path}`` of the bundled example structures (CIF), sorted by name; may be empty."""
    directory = examples_directory()
    if not directory.is_dir():
        return {}
    files = sorted(p for p in directory.iterdir() if p.suffix.lower() in _SUFFIXES and p.is_file())
    return {p.stem: p for p in files}
