"""Clear outputs, execution counts and widget state of notebooks before they are committed.

Usage::

    python notebooks/strip_outputs.py              # every notebooks/*.ipynb
    python notebooks/strip_outputs.py --check      # exit 1 if any notebook has outputs
    python notebooks/strip_outputs.py a.ipynb b.ipynb
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent
_VOLATILE_METADATA = ("widgets", "execution")


def is_stripped(nb: nbformat.NotebookNode) -> bool:
    """True when no code cell has outputs or an execution count and no widget state is stored."""
    if "widgets" in nb.metadata:
        return False
    return all(
        not cell.get("outputs") and cell.get("execution_count") is None and "execution" not in cell.get("metadata", {})
        for cell in nb.cells
        if cell.cell_type == "code"
    )


def strip(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The notebook with outputs, execution counts and volatile metadata removed (in place)."""
    for key in _VOLATILE_METADATA:
        nb.metadata.pop(key, None)
    for cell in nb.cells:
        for key in _VOLATILE_METADATA:
            cell.metadata.pop(key, None)
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    return nb


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", type=Path, help="notebooks (default: notebooks/*.ipynb)")
    parser.add_argument("--check", action="store_true", help="only report notebooks that still have outputs")
    args = parser.parse_args(argv)
    paths = args.paths or sorted(HERE.glob("*.ipynb"))
    dirty = []
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        if is_stripped(nb):
            continue
        dirty.append(path)
        if not args.check:
            nbformat.write(strip(nb), path)
    for path in dirty:
        print(f"{'has outputs' if args.check else 'stripped'}: {path}")
    return 1 if (args.check and dirty) else 0


if __name__ == "__main__":
    sys.exit(main())
