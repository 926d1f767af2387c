"""Reading a structure from a file: format detection by name and content, clear errors.

Supported: CIF, POSCAR/CONTCAR/``*.vasp``, (extended) XYZ, the structure part of CHGCAR / CHG /
AECCAR / PARCHG, and ASE databases (``.db`` SQLite, ``.json``) with ``file.db@3`` /
``file.db@id=3`` / ``file.db@formula=Si2`` selections.  Parsing is ASE's (and ours for CHGCAR
headers); every failure becomes an :class:`InputFileError` with one line naming the fix.
"""

from __future__ import annotations

import os
from pathlib import Path

from ase import Atoms

from deepaw_nb.errors import InputFileError, StructureError
from deepaw_nb.io.ase_db import open_ase_db, select_db_row, split_db_selection
from deepaw_nb.io.chgcar_read import looks_like_chgcar, read_chgcar_structure
from deepaw_nb.io.paths import one_line, require_input_file

__all__ = ["detect_structure_format", "read_structure_file"]

_CHG_PREFIXES = ("chgcar", "chg", "aeccar", "parchg", "locpot", "elfcar")
_KNOWN = "CIF, POSCAR/CONTCAR/.vasp, .xyz/.extxyz, CHGCAR, ASE .db/.json"


def _sniff(p: Path) -> str | None:
    with open(p, "rb") as fh:
        head = fh.read(4096)
    if head.startswith(b"SQLite format 3\x00") or head.lstrip()[:1] == b"{":
        return "db"
    if b"\x00" in head:
        return None  # some other binary file
    text = head.decode("utf-8", errors="replace")
    if "_cell_length_a" in text or text.lstrip().startswith("data_"):
        return "cif"
    first = text.splitlines()[0].strip() if text.strip() else ""
    if first.isdigit():
        return "extxyz"
    if looks_like_chgcar(p):
        return "chgcar"
    try:  # POSCAR has no signature; see whether it parses as one
        import ase.io

        ase.io.read(str(p), format="vasp")
        return "vasp"
    except Exception:
        pass
    try:
        from ase.io.formats import filetype

        kind = filetype(str(p), guess=False)
    except Exception:
        return None
    return {"vasp": "vasp", "cif": "cif", "extxyz": "extxyz", "xyz": "extxyz", "db": "db", "json": "db"}.get(kind)


def detect_structure_format(path: str | os.PathLike[str]) -> str:
    """One of ``"cif"``, ``"vasp"``, ``"extxyz"``, ``"chgcar"``, ``"db"`` for an existing file.

    The file name decides first (``.cif``, ``POSCAR*``, ``CONTCAR*``, ``.vasp``, ``.xyz``,
    ``CHGCAR*``, ``.db``, ``.json``); otherwise the content.  Raises :class:`InputFileError`.
    """
    p = require_input_file(path, "structure file")
    name, suffix = p.name.lower(), p.suffix.lower()
    if suffix in (".db", ".json"):
        return "db"
    if suffix == ".cif":
        return "cif"
    if suffix in (".xyz", ".extxyz"):
        return "extxyz"
    if name.startswith(_CHG_PREFIXES) or suffix in (".chgcar", ".chg"):
        return "chgcar"
    if suffix in (".vasp", ".poscar", ".contcar") or name.startswith(("poscar", "contcar")):
        return "vasp"
    kind = _sniff(p)
    if kind is None:
        raise InputFileError(f"Cannot tell the format of '{p.name}'; rename it with a known extension ({_KNOWN}) or pass an ase.Atoms")
    return kind


def _check_occupancy(atoms: Atoms, name: str) -> None:
    occupancy = atoms.info.get("occupancy")
    if not occupancy:
        return
    for site in occupancy.values():
        if len(site) > 1 or any(abs(float(v) - 1.0) > 1e-3 for v in site.values()):
            raise StructureError(
                f"'{name}' has partial occupancies (a disordered structure); order it first, e.g. with pymatgen's OrderDisorderedStructureTransformation"
            )


def _frame_index(index: int | str | None, name: str) -> int | None:
    if index is None:
        return None
    try:
        return int(index)
    except (TypeError, ValueError):
        raise InputFileError(f"Frame selection {index!r} for '{name}' is not an integer; pass e.g. index=0 (first) or -1 (last)") from None


def read_structure_file(path: str | os.PathLike[str], index: int | str | None = None) -> Atoms:
    """Read one structure from ``path`` as :class:`ase.Atoms` (positions and cell in Å).

    ``index`` picks one frame of a multi-frame file (0-based, negative from the end; default the
    last frame, as ASE does) or, for an ASE database, the row (id like ``3``/``"id=3"`` or an
    ASE query string; default the only row).  A string path may carry the selection after
    ``@``: ``"data.db@3"``, ``"data.db@id=3"``, ``"traj.xyz@0"``.
    """
    if isinstance(path, str):
        path, at = split_db_selection(path)
        if at is not None:
            if index is not None:
                raise InputFileError(f"Give the selection either as '@{at}' or as index, not both; remove one")
            index = at
    kind = detect_structure_format(path)
    p = Path(path).expanduser()
    if kind == "db":
        row = select_db_row(open_ase_db(p), index, p.name)
        try:
            return row.toatoms()
        except Exception as exc:
            raise InputFileError(f"Row of '{p.name}' cannot be turned into atoms ({one_line(exc, 60)}); the database is damaged") from None
    frame = _frame_index(index, p.name)
    if kind == "chgcar":
        if frame not in (None, 0, -1):
            raise InputFileError(f"'{p.name}' holds a single structure; drop the frame selection")
        try:
            return read_chgcar_structure(p)
        except InputFileError as exc:
            if "VASP 4" not in str(exc):
                raise
            raise InputFileError(
                f"'{p.name}' has no element line (VASP 4 format); add a line with the element symbols after the lattice vectors, or read it with deepaw_nb.io.read_chgcar(path, species=[...])"
            ) from None
    import ase.io

    try:
        atoms = ase.io.read(str(p), index=-1 if frame is None else frame, format=kind)
    except (IndexError, StopIteration):
        if frame is None:
            raise InputFileError(f"Could not read '{p.name}' as {kind}: no structure found in it; check that it is a complete {kind} file") from None
        raise InputFileError(f"'{p.name}' has no frame {frame}; pass an index within the file's frames") from None
    except Exception as exc:  # ASE raises many types for malformed files
        raise InputFileError(f"Could not read '{p.name}' as {kind} ({one_line(exc, 80)}); check that it is a complete {kind} file") from None
    if not isinstance(atoms, Atoms):
        raise InputFileError(f"'{p.name}' did not give a single structure; pass index=0 to pick one frame")
    _check_occupancy(atoms, p.name)
    return atoms
