"""Structure input for deepaw-nb: anything a user has -> a checked, periodic :class:`ase.Atoms`.

* :func:`as_atoms` accepts file paths (CIF, POSCAR/CONTCAR/``*.vasp``, extended XYZ, CHGCAR
  headers, ASE ``.db``/``.json`` with ``@`` selections), :class:`ase.Atoms`, pymatgen
  ``Structure``/``IStructure`` and ``ase.db`` rows, and always returns a new object.
* :func:`validate_structure` rejects what the density model cannot use (non-periodic, singular
  cell, NaN, overlapping atoms) with one-line :class:`~deepaw_nb.errors.StructureError` messages.
* :func:`describe` summarises a structure for the notebook UI.

Units: Å for lengths, Å³ for volumes, degrees for angles.
"""

from __future__ import annotations

import os
import warnings
from typing import Any

import numpy as np
from ase import Atoms
from scipy.constants import atomic_mass
from ase.db.row import AtomsRow

from deepaw_nb.errors import InputFileError, StructureError
from deepaw_nb.io.structure_files import read_structure_file

__all__ = ["DEFAULT_MIN_DISTANCE", "as_atoms", "describe", "validate_structure"]

#: Smallest allowed interatomic distance in Å (periodic images included).
DEFAULT_MIN_DISTANCE: float = 0.5

_AXES = "abc"
_AMU_PER_A3_IN_G_CM3 = atomic_mass * 1e3 / 1e-24  # 1 amu/Å³ in g/cm³ (≈ 1.6605)


def _from_pymatgen(source: Any) -> Atoms:
    from pymatgen.core import IStructure, Molecule

    if isinstance(source, Molecule):
        raise StructureError(
            "A pymatgen Molecule is not periodic; put it in a box first, e.g. molecule.get_boxed_structure(15, 15, 15)"
        )
    if not isinstance(source, IStructure):
        raise StructureError(f"Cannot use pymatgen {type(source).__name__} as a structure; pass a pymatgen Structure")
    if not source.is_ordered:
        raise StructureError(
            "The pymatgen Structure has partial occupancies (disordered); order it first, e.g. with OrderDisorderedStructureTransformation"
        )
    from pymatgen.io.ase import AseAtomsAdaptor

    atoms = AseAtomsAdaptor.get_atoms(source)
    atoms.pbc = True
    return atoms


def as_atoms(source: Any, index: int | str | None = None) -> Atoms:
    """Return a new :class:`ase.Atoms` for ``source`` (positions and cell in Å).

    ``source`` may be:

    * a path (``str`` or :class:`os.PathLike`) to a CIF, POSCAR/CONTCAR/``*.vasp``, extended
      XYZ, CHGCAR/CHG/AECCAR/PARCHG (structure part) or ASE database (``.db``, ``.json``) file;
      the format is chosen from the file name, else from the content.  A database row is chosen
      with ``"data.db@3"`` or ``"data.db@id=3"`` (row id, as listed by ``ase db``), an ASE query
      (``"data.db@formula=Si2"``) or ``index``; a database with one row needs no selection.
      For multi-frame files ``index`` (or ``"traj.xyz@0"``) picks a frame, default the last.
    * an :class:`ase.Atoms` (copied) or an ``ase.db`` row (:class:`ase.db.row.AtomsRow`);
    * a pymatgen ``Structure`` / ``IStructure`` (must be ordered).

    Raises :class:`InputFileError` for missing, empty, unreadable or unknown files, and
    :class:`StructureError` for inputs that are not a crystal structure.  The result is not
    validated; call :func:`validate_structure` for that.
    """
    if isinstance(source, (bytes, bytearray)):
        source = os.fsdecode(source)
    if isinstance(source, (str, os.PathLike)):
        return read_structure_file(source, index=index)
    if index is not None:
        raise InputFileError(f"index={index!r} only applies to files; pass the {type(source).__name__} without it")
    if isinstance(source, Atoms):
        return source.copy()
    if isinstance(source, AtomsRow):
        try:
            return source.toatoms()
        except Exception as exc:
            raise StructureError(f"The ase.db row cannot be turned into atoms ({' '.join(str(exc).split())[:80]}); check the database") from None
    if type(source).__module__.startswith("pymatgen"):
        return _from_pymatgen(source)
    raise StructureError(
        f"Cannot use a {type(source).__name__} as a structure; pass a file path, an ase.Atoms, a pymatgen Structure or an ase.db row"
    )


def _check_cell(cell: np.ndarray) -> float:
    lengths = np.linalg.norm(cell, axis=1)
    for axis, length in zip(_AXES, lengths):
        if length < 1e-6:
            raise StructureError(
                f"Lattice vector {axis} has zero length; give a full 3D cell (for a molecule or slab add vacuum, e.g. atoms.center(vacuum=8.0))"
            )
    volume = abs(float(np.linalg.det(cell)))
    if volume < 1e-6 * float(np.prod(lengths)) or volume < 1e-3:
        raise StructureError(
            f"Cell volume is {volume:.3g} Å³: the lattice vectors are (nearly) coplanar; fix the cell so that a, b, c span 3D space"
        )
    return volume


def _closest_pair(atoms: Atoms, cutoff: float) -> tuple[int, int, float, int] | None:
    """(i, j, distance, number of pairs) for the closest pair under ``cutoff`` Å, or None."""
    from ase.neighborlist import primitive_neighbor_list

    # ASE's binned neighbour search: linear in N, includes periodic images (and an atom's own
    # images, i == j with a lattice shift); self_interaction=False drops only the zero-shift self pair.
    i, j, d = primitive_neighbor_list(
        "ijd", atoms.pbc, np.asarray(atoms.cell), atoms.positions, cutoff, self_interaction=False
    )
    if d.size == 0:
        return None
    k = int(np.argmin(d))
    pairs = int(np.count_nonzero(i <= j))  # every pair is listed twice (i, j) and (j, i)
    return int(i[k]), int(j[k]), float(d[k]), max(pairs, 1)


def validate_structure(atoms: Atoms, min_distance: float = DEFAULT_MIN_DISTANCE) -> None:
    """Raise :class:`StructureError` unless ``atoms`` is a usable 3D crystal.

    Checks: at least one atom; finite positions and cell; periodic along a, b and c; a cell with
    non-zero volume (Å³); no two atoms (periodic images included) closer than ``min_distance``
    Å.  The neighbour search is ASE's binned ``primitive_neighbor_list`` (linear in the number of
    atoms), fast for thousands of atoms.
    """
    if not isinstance(atoms, Atoms):
        raise StructureError(f"Expected an ase.Atoms, got {type(atoms).__name__}; convert it with deepaw_nb.structure.as_atoms")
    if len(atoms) == 0:
        raise StructureError("Structure has no atoms; load a structure file with atoms in it")
    cell = np.asarray(atoms.cell, dtype=np.float64)
    if not np.all(np.isfinite(cell)):
        raise StructureError("Cell contains NaN or inf; fix the lattice vectors")
    bad = np.flatnonzero(~np.all(np.isfinite(atoms.positions), axis=1))
    if bad.size:
        raise StructureError(f"Atom {int(bad[0])} has a NaN or inf position ({bad.size} atoms affected); fix the coordinates")
    if not all(atoms.pbc):
        missing = ", ".join(ax for ax, p in zip(_AXES, atoms.pbc) if not p)
        raise StructureError(
            f"Structure is not periodic along {missing}; set atoms.pbc = True with a full cell (for a molecule or slab add vacuum, e.g. atoms.center(vacuum=8.0))"
        )
    _check_cell(cell)
    if isinstance(min_distance, bool) or not isinstance(min_distance, (int, float)) or not np.isfinite(min_distance) or min_distance < 0:
        raise StructureError(f"min_distance must be a non-negative number of Å, got {min_distance!r}; pass e.g. 0.5")
    if min_distance == 0:
        return
    found = _closest_pair(atoms, float(min_distance))
    if found is None:
        return
    i, j, d, pairs = found
    symbols = atoms.get_chemical_symbols()
    if i == j:
        raise StructureError(
            f"Atom {i} ({symbols[i]}) is {d:.3f} Å from its own periodic image (minimum {min_distance:g} Å); the cell is too small, check the lattice vectors and scale factor"
        )
    more = f"; {pairs} pairs are too close" if pairs > 1 else ""
    raise StructureError(
        f"Atoms {min(i, j)} ({symbols[min(i, j)]}) and {max(i, j)} ({symbols[max(i, j)]}) are {d:.3f} Å apart, periodic images included "
        f"(minimum {min_distance:g} Å{more}); remove duplicate atoms or fix the positions or cell"
    )


def _spacegroup(atoms: Atoms, symprec: float) -> tuple[str | None, int | None]:
    try:
        import spglib

        cell = (np.asarray(atoms.cell), atoms.get_scaled_positions(wrap=True), atoms.numbers)
        with warnings.catch_warnings():  # spglib 2.x warns about its own error-handling switch
            warnings.simplefilter("ignore")
            data = spglib.get_symmetry_dataset(cell, symprec=symprec)
        if data is None:
            return None, None
        symbol = getattr(data, "international", None)
        number = getattr(data, "number", None)
        return (str(symbol) if symbol else None), (int(number) if number else None)
    except Exception:  # spglib is a nicety here: never fail a description over it
        return None, None


def describe(atoms: Atoms, symprec: float = 1e-3) -> dict[str, Any]:
    """Summary of a structure for display: never raises for a valid :class:`ase.Atoms`.

    Keys: ``formula`` (e.g. ``"Hf4O8"``), ``reduced_formula`` (``"HfO2"``), ``natoms``,
    ``elements`` (sorted), ``composition`` ({symbol: count}), ``cell_lengths`` (a, b, c in Å),
    ``cell_angles`` (α, β, γ in °), ``volume`` (Å³, None without a 3D cell), ``density``
    (g/cm³ or None), ``pbc``, ``spacegroup`` (e.g. ``"P2_1/c"``) and ``spacegroup_number``
    from spglib with tolerance ``symprec`` Å (both None when spglib fails or the structure is
    not 3D periodic).
    """
    if not isinstance(atoms, Atoms):
        raise StructureError(f"Expected an ase.Atoms, got {type(atoms).__name__}; convert it with deepaw_nb.structure.as_atoms")
    cell = np.asarray(atoms.cell, dtype=np.float64)
    formula = atoms.symbols.formula
    composition = {str(k): int(v) for k, v in formula.count().items()}
    volume = abs(float(np.linalg.det(cell))) if np.all(np.isfinite(cell)) else 0.0
    has_volume = volume > 1e-6
    info: dict[str, Any] = {
        "formula": formula.format("metal") if len(atoms) else "",
        "reduced_formula": formula.reduce()[0].format("metal") if len(atoms) else "",
        "natoms": len(atoms),
        "elements": sorted(composition),
        "composition": composition,
        "cell_lengths": tuple(float(x) for x in atoms.cell.cellpar()[:3]),
        "cell_angles": tuple(float(x) for x in atoms.cell.cellpar()[3:]),
        "volume": volume if has_volume else None,
        "density": float(atoms.get_masses().sum() / volume * _AMU_PER_A3_IN_G_CM3) if has_volume and len(atoms) else None,
        "pbc": tuple(bool(p) for p in atoms.pbc),
        "spacegroup": None,
        "spacegroup_number": None,
    }
    if len(atoms) and has_volume and all(atoms.pbc) and np.all(np.isfinite(atoms.positions)):
        info["spacegroup"], info["spacegroup_number"] = _spacegroup(atoms, symprec)
    return info
