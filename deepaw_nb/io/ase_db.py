"""ASE databases (``.db`` SQLite, ``.json``): picking one row, and DeePAW's training-density rows.

DeePAW's training data are ASE databases whose rows hold the structure plus, in ``row.data``,
the density ``chg`` and the grid ``nx, ny, nz`` (see :func:`read_ase_db_density`).
"""

from __future__ import annotations

import os
import sqlite3
from numbers import Integral
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms

from deepaw_nb.errors import InputFileError
from deepaw_nb.io.paths import one_line, require_input_file

__all__ = ["DbSelection", "open_ase_db", "read_ase_db_density", "select_db_row", "split_db_selection"]

DbSelection = int | str | None
_SQLITE_MAGIC = b"SQLite format 3\x00"


def split_db_selection(source: str) -> tuple[str, str | None]:
    """``"data.db@3"`` -> ``("data.db", "3")``; a name without ``@`` (or an existing file) is unchanged."""
    if "@" in source and not os.path.exists(source):
        path, _, selection = source.rpartition("@")
        if os.sep not in selection:  # "run@1/POSCAR" is a (missing) path, not a selection
            return path, selection.strip() or None
    return source, None


def _db_type(p: Path) -> str:
    with open(p, "rb") as fh:
        head = fh.read(len(_SQLITE_MAGIC))
    if head == _SQLITE_MAGIC:
        # ase.db.connect would create its tables in any SQLite file; check read-only first.
        try:
            con = sqlite3.connect(f"file:{p.resolve()}?mode=ro", uri=True)
            try:
                found = con.execute("SELECT COUNT(*) FROM sqlite_master WHERE name='systems'").fetchone()[0]
            finally:
                con.close()
        except sqlite3.Error as exc:
            raise InputFileError(f"Database '{p.name}' cannot be opened ({one_line(exc, 60)}); copy it again") from None
        if not found:
            raise InputFileError(f"'{p.name}' is an SQLite file but not an ASE database; pass a database written with ase.db")
        return "db"
    if head.lstrip()[:1] == b"{":
        return "json"
    raise InputFileError(f"'{p.name}' is not an ASE database (.db SQLite or .json); pass a file written with ase.db or ase.io.write")


def open_ase_db(path: str | os.PathLike[str]) -> Any:
    """Open an existing ASE database read-only in spirit (never creates or alters the file)."""
    p = require_input_file(path, "ASE database")
    kind = _db_type(p)
    import ase.db

    try:
        return ase.db.connect(str(p), type=kind, create_indices=False, use_lock_file=False)
    except Exception as exc:  # ase raises many types for damaged files
        raise InputFileError(f"Database '{p.name}' cannot be read ({one_line(exc, 80)}); check it was written by ase.db") from None


def _parse_selection(selection: DbSelection) -> int | str | None:
    if selection is None:
        return None
    if isinstance(selection, bool):
        raise InputFileError(f"Database selection must be a row id or a query string, got {selection!r}; pass e.g. 3 or 'id=3'")
    if isinstance(selection, Integral):
        return int(selection)
    if isinstance(selection, str):
        text = selection.strip()
        if text.isdigit():
            return int(text)
        if text.replace(" ", "").startswith("id=") and text.replace(" ", "")[3:].isdigit():
            return int(text.replace(" ", "")[3:])
        if text:
            return text
    raise InputFileError(f"Database selection must be a row id or a query string, got {selection!r}; pass e.g. 3 or 'id=3'")


def select_db_row(db: Any, selection: DbSelection, name: str) -> Any:
    """One row of ``db``: by id (int, ``"3"``, ``"id=3"``), by ASE query string, or the only row."""
    sel = _parse_selection(selection)
    try:
        total = db.count()
        if total == 0:
            raise InputFileError(f"Database '{name}' has no rows; write a structure into it first")
        if sel is None:
            if total > 1:
                raise InputFileError(f"Database '{name}' has {total} rows; select one, e.g. '{name}@id=1' or selection=1")
            return next(iter(db.select()))
        if isinstance(sel, int):
            try:
                return db.get(id=sel)
            except KeyError:
                raise InputFileError(f"Database '{name}' has no row with id={sel}; ids are listed by 'ase db {name}'") from None
        rows = list(db.select(sel, limit=2))
    except InputFileError:
        raise
    except Exception as exc:
        raise InputFileError(f"Database '{name}': selection {selection!r} failed ({one_line(exc, 60)}); use a row id or an ASE query like 'formula=Si2'") from None
    if not rows:
        raise InputFileError(f"Database '{name}' has no row matching {sel!r}; check the query or use a row id")
    if len(rows) > 1:
        raise InputFileError(f"Database '{name}' has several rows matching {sel!r}; narrow the query or use a row id")
    return rows[0]


def _grid_dim(row: Any, key: str, name: str) -> int:
    data = row.data if row.data is not None else {}
    value = data.get(key) if key in data else row.get(key)
    if value is None:
        raise InputFileError(f"Row id={row.id} of '{name}' has no '{key}' in row.data or its key-value pairs; store nx, ny, nz with the density")
    arr = np.asarray(value)
    if arr.size != 1 or not np.issubdtype(arr.dtype, np.number) or arr.item() != int(arr.item()) or int(arr.item()) < 1:
        raise InputFileError(f"Row id={row.id} of '{name}': {key}={value!r} is not a positive integer; store the grid dimensions as integers")
    return int(arr.item())


def read_ase_db_density(path: str | os.PathLike[str], selection: DbSelection = None) -> tuple[Atoms, np.ndarray]:
    """Structure and density (e/Å³, shape (nx, ny, nz)) from a DeePAW-style ASE database row.

    Format (DeePAW reference code, ``DeePhysic/DeePAW_develop``: ``deepaw/inference.py``,
    ``deepaw/data/chgcar_writer.py``, README "Database Format"): ``row.toatoms()`` is the
    structure; ``row.data["chg"]`` is the density, flattened, and ``row.data["nx"|"ny"|"nz"]``
    the grid.  DeePAW reads it as ``row.data["chg"].reshape(nx, ny, nz)`` (C order, so flat index
    ``(i*ny + j)*nz + k``) and pairs value ``[i, j, k]`` with the probe at fractional point
    ``(i/nx, j/ny, k/nz)`` (``get_grid_centers``).  The values are ρ in e/Å³, not ρ·V: the
    model is trained to reproduce ``chg`` directly, and DeePAW writes its predictions to CHGCAR
    through ASE's ``VaspChargeDensity``, which multiplies by the cell volume on writing (and
    divides on reading, which is how the databases were built from VASP CHGCARs).

    ``selection`` is a row id (``3``, ``"3"``, ``"id=3"``), an ASE query string, or None when the
    database has exactly one row.  ``nx, ny, nz`` may also be key-value pairs of the row.
    ``chg`` may be flat or already shaped (nx, ny, nz).  The returned atoms are periodic
    (DeePAW sets ``pbc=True``).  Raises :class:`InputFileError` for anything missing or
    inconsistent.
    """
    db = open_ase_db(path)
    name = Path(path).name
    row = select_db_row(db, selection, name)
    data = row.data if row.data is not None else {}
    if "chg" not in data:
        keys = ", ".join(sorted(data)) or "none"
        raise InputFileError(f"Row id={row.id} of '{name}' has no 'chg' density in row.data (keys: {keys}); this is not a DeePAW density database")
    nx, ny, nz = (_grid_dim(row, k, name) for k in ("nx", "ny", "nz"))
    try:
        chg = np.array(data["chg"], dtype=np.float64)
    except (TypeError, ValueError):
        raise InputFileError(f"Row id={row.id} of '{name}': 'chg' is not a numeric array; store the density as a float array") from None
    if chg.size != nx * ny * nz:
        raise InputFileError(f"Row id={row.id} of '{name}': 'chg' has {chg.size} values but nx*ny*nz = {nx}x{ny}x{nz} = {nx * ny * nz}; fix the stored grid or density")
    if chg.ndim > 1 and chg.shape != (nx, ny, nz):
        raise InputFileError(f"Row id={row.id} of '{name}': 'chg' has shape {chg.shape}, expected ({nx}, {ny}, {nz}) or flat; store it in C order [i, j, k]")
    if not np.all(np.isfinite(chg)):
        raise InputFileError(f"Row id={row.id} of '{name}': 'chg' contains NaN or inf; the stored density is damaged")
    atoms = row.toatoms()
    atoms.pbc = True
    return atoms, chg.reshape(nx, ny, nz)
