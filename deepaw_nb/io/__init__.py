"""File input and output: structures, CHGCAR / cube densities, DeePAW databases, atomic writes.

Densities are always ``(nx, ny, nz)`` arrays in e/Å³ with ``[i, j, k]`` at fractional point
``(i/nx, j/ny, k/nz)``; structures are :class:`ase.Atoms` in Å.  Every writer goes through
:func:`atomic_write` (temp file, fsync, rename; no overwrite unless ``overwrite=True``).
"""

from __future__ import annotations

import os

from ase import Atoms

from deepaw_nb.io.ase_db import read_ase_db_density
from deepaw_nb.io.atomic import atomic_write, check_output_path
from deepaw_nb.io.chgcar_read import read_chgcar
from deepaw_nb.io.chgcar_write import write_chgcar
from deepaw_nb.io.cube import write_cube
from deepaw_nb.io.paths import safe_output_path

__all__ = [
    "atomic_write",
    "check_output_path",
    "read_ase_db_density",
    "read_chgcar",
    "read_structure",
    "safe_output_path",
    "write_chgcar",
    "write_cube",
]


def read_structure(path: str | os.PathLike[str], index: int | str | None = None) -> Atoms:
    """Read one structure from a file; same as :func:`deepaw_nb.structure.as_atoms` for paths."""
    from deepaw_nb.structure import as_atoms  # late import: structure.py imports this package

    return as_atoms(path, index=index)
