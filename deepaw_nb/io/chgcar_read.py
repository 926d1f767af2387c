"""Reading VASP CHGCAR / CHG / AECCAR / PARCHG files: structure and total density in e/Å³.

We parse the file ourselves instead of using ASE's ``VaspChargeDensity`` or pymatgen's
``Chgcar``: they read values line by line in Python (slow for 200³+ grids), read every spin
block and augmentation section we do not need, and fail with tracebacks on truncated or
corrupted files.  Here the header is read line by line, then exactly nx·ny·nz values are parsed
in large chunks at C speed, and nothing after them (augmentation occupancies, magnetisation
blocks) is read.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

import numpy as np
from ase import Atoms
from ase.data import atomic_numbers

from deepaw_nb.errors import GridError, InputFileError
from deepaw_nb.grid.memory import DEFAULT_MEMORY_FRACTION, available_memory_bytes
from deepaw_nb.io.numbers import BadNumber, parse_numbers
from deepaw_nb.io.paths import one_line, require_input_file

__all__ = ["read_chgcar", "read_chgcar_structure"]

_CHUNK_BYTES = 1 << 24  # 16 MiB of text per parse step


class _Lines:
    """Line reader over a binary file that knows the line number for error messages."""

    def __init__(self, fh: BinaryIO, name: str) -> None:
        self.fh, self.name, self.number = fh, name, 0
        self.complete = True

    def next(self, what: str) -> str:
        raw = self.fh.readline(4096)
        self.number += 1
        self.complete = raw.endswith(b"\n")
        if not raw:
            raise InputFileError(f"CHGCAR '{self.name}' ends at line {self.number} while reading {what}; the file is truncated, copy it again")
        return raw.decode("ascii", errors="replace").strip()

    def floats(self, what: str, count: int) -> list[float]:
        text = self.next(what)
        try:
            values = [float(t) for t in text.split()[:count]]
        except ValueError:
            values = []
        if len(values) != count:
            if not self.complete:
                raise InputFileError(f"CHGCAR '{self.name}' ends in line {self.number} while reading {what}; the file is truncated, copy it again")
            raise InputFileError(
                f"CHGCAR '{self.name}' line {self.number}: expected {count} numbers for {what}, got {one_line(text, 60)!r}; the header is damaged or this is not a CHGCAR"
            )
        return values


def _symbol(token: str) -> str | None:
    """'Si', 'Fe_pv', 'Hf_sv/3a2b' -> element symbol, or None when it is not one."""
    base = token.split("/")[0].split("_")[0]
    return base if base in atomic_numbers and base != "X" else None


def _species_for(counts: list[int], symbols: Sequence[str] | None, comment: str, name: str) -> list[str]:
    """One symbol per atom from per-type (or per-atom) symbols; VASP 4 falls back to the title line."""
    natoms = sum(counts)
    if symbols is None:
        guess = [_symbol(t) for t in comment.split()]
        if len(guess) == len(counts) and all(guess):
            symbols = guess  # type: ignore[assignment]
        else:
            raise InputFileError(
                f"CHGCAR '{name}' has no element line (VASP 4 format); pass species=[...] with one symbol per type in POSCAR order, e.g. species=['Si', 'O']"
            )
    symbols = [str(s) for s in symbols]
    bad = [s for s in symbols if _symbol(s) is None]
    if bad:
        raise InputFileError(f"CHGCAR '{name}': {bad[0]!r} is not an element symbol; pass species like ['Si', 'O']")
    symbols = [_symbol(s) for s in symbols]  # type: ignore[misc]
    if len(symbols) == len(counts):
        return [s for s, n in zip(symbols, counts) for _ in range(n)]  # type: ignore[misc]
    if len(symbols) == natoms:
        return list(symbols)  # type: ignore[arg-type]
    raise InputFileError(
        f"CHGCAR '{name}' has {len(counts)} atom types ({natoms} atoms) but {len(symbols)} species were given; pass one symbol per type"
    )


def _scale_factors(text: str, lattice: np.ndarray, name: str) -> np.ndarray:
    """Per-axis factors from POSCAR line 2: one scale, a negative target volume (Å³), or three scales."""
    tokens = text.split()
    try:
        three = [float(t) for t in tokens[:3]]
        if len(three) == 3 and all(x > 0 for x in three):
            return np.array(three)
    except ValueError:
        pass
    try:
        scale = float(tokens[0])
        if scale == 0 or not np.isfinite(scale):
            raise ValueError
    except (ValueError, IndexError):
        raise InputFileError(f"CHGCAR '{name}' line 2: {one_line(text, 40)!r} is not a scale factor; this is not a CHGCAR or the header is damaged") from None
    if scale < 0:  # negative scale = target cell volume in Å³
        det = abs(np.linalg.det(lattice))
        if det < 1e-12:
            raise InputFileError(f"CHGCAR '{name}' has a zero-volume cell; the lattice vectors are damaged")
        scale = (-scale / det) ** (1.0 / 3.0)
    return np.full(3, scale)


def _read_header(lines: _Lines, species: Sequence[str] | None) -> tuple[Atoms, tuple[int, int, int]]:
    name = lines.name
    comment = lines.next("the title line")
    scale_text = lines.next("the scale factor")
    lattice = np.array([lines.floats(f"lattice vector {v}", 3) for v in "abc"])
    factor = _scale_factors(scale_text, lattice, name)
    lattice = lattice * factor[None, :]
    tokens = lines.next("the element or count line").split()
    if tokens and all(t.isdigit() for t in tokens):
        file_symbols = None  # VASP 4: no element line
    else:
        file_symbols = tokens
        tokens = lines.next("the atom counts").split()
    try:
        counts = [int(t) for t in tokens]
        if not counts or min(counts) < 0 or sum(counts) == 0:
            raise ValueError
    except ValueError:
        raise InputFileError(f"CHGCAR '{name}' line {lines.number}: {one_line(' '.join(tokens), 60)!r} are not atom counts; the header is damaged") from None
    if species is None and file_symbols is not None:
        if len(file_symbols) != len(counts):
            raise InputFileError(f"CHGCAR '{name}': {len(file_symbols)} element symbols but {len(counts)} atom counts; fix the element line or pass species=[...]")
        species = file_symbols
    symbols = _species_for(counts, species, comment, name)
    mode = lines.next("the coordinate mode")
    if mode[:1] in "sS":
        mode = lines.next("the coordinate mode")
    cartesian = mode[:1] in "cCkK"
    positions = np.array([lines.floats(f"the position of atom {i + 1}", 3) for i in range(len(symbols))])
    if cartesian:
        atoms = Atoms(symbols=symbols, positions=positions * factor[None, :], cell=lattice, pbc=True)
    else:
        atoms = Atoms(symbols=symbols, scaled_positions=positions, cell=lattice, pbc=True)
    atoms.info["comment"] = comment
    return atoms, _read_dims(lines)


def _read_dims(lines: _Lines) -> tuple[int, int, int]:
    text = ""
    while not text:
        text = lines.next("the grid dimensions")
    try:
        dims = tuple(int(t) for t in text.split())
        if len(dims) != 3:
            raise ValueError
    except ValueError:
        raise InputFileError(
            f"CHGCAR '{lines.name}' line {lines.number}: expected the grid dimensions 'nx ny nz', got {one_line(text, 60)!r}; the file is damaged or has no density"
        ) from None
    if min(dims) < 1:
        raise InputFileError(f"CHGCAR '{lines.name}' declares grid {dims}; every dimension must be >= 1, the file is damaged")
    return dims  # type: ignore[return-value]


def _read_values(fh: BinaryIO, count: int, name: str, shape: tuple[int, int, int]) -> np.ndarray:
    """Exactly ``count`` numbers from the current position, chunk by chunk."""
    start = fh.tell()
    left_bytes = os.fstat(fh.fileno()).st_size - start
    if count * 2 > left_bytes + 1:  # every value needs at least a digit and a separator
        raise InputFileError(
            f"CHGCAR '{name}' declares a {shape[0]}x{shape[1]}x{shape[2]} grid ({count} values) but only {left_bytes} bytes follow; "
            f"it ends after at most {left_bytes // 2 + 1} of {count} values (truncated or damaged), copy it again"
        )
    budget = DEFAULT_MEMORY_FRACTION * available_memory_bytes()
    if count * 16 > budget:  # parsed float64 values plus the C-ordered copy
        raise GridError(
            f"CHGCAR '{name}' has a {shape[0]}x{shape[1]}x{shape[2]} grid needing {count * 16 / 1e9:.3g} GB to load, "
            f"more than {DEFAULT_MEMORY_FRACTION:.0%} of available memory ({budget / 1e9:.3g} GB); load it on a machine with more memory"
        )
    out = np.empty(count, dtype=np.float64)
    filled, carry = 0, b""
    while filled < count:
        block = fh.read(_CHUNK_BYTES)
        data = carry + block
        if block:
            cut = max(data.rfind(b"\n"), data.rfind(b" "))
            if cut < 0:
                if len(data) > 4 * _CHUNK_BYTES:
                    raise InputFileError(f"CHGCAR '{name}' has a density block without separators after value {filled}; the file is corrupted, copy it again")
                carry = data
                continue
            data, carry = data[: cut + 1], data[cut + 1 :]
        else:
            carry = b""
        try:
            values = parse_numbers(data, limit=count - filled)
        except BadNumber as bad:
            token = one_line(bad.token.decode("ascii", errors="backslashreplace"), 30)
            raise InputFileError(
                f"CHGCAR '{name}': density value {filled + bad.index + 1} of {count} is {token!r}, not a number; the file is corrupted, copy it again or re-run VASP"
            ) from None
        out[filled : filled + values.size] = values
        filled += values.size
        if not block:
            break
    if filled < count:
        raise InputFileError(f"CHGCAR '{name}' ends after {filled} of {count} density values; the file is truncated, copy it again or re-run VASP")
    if not np.all(np.isfinite(out)):
        bad_index = int(np.flatnonzero(~np.isfinite(out))[0])
        raise InputFileError(f"CHGCAR '{name}': density value {bad_index + 1} is {out[bad_index]}; the VASP run diverged or the file is corrupted")
    return out


def read_chgcar_structure(path: str | os.PathLike[str], species: Sequence[str] | None = None) -> Atoms:
    """Only the structure (POSCAR part) of a CHGCAR-like file, as periodic :class:`ase.Atoms` (Å)."""
    p = require_input_file(path, "CHGCAR")
    with open(p, "rb") as fh:
        atoms, _ = _read_header(_Lines(fh, p.name), species)
    return atoms


def read_chgcar(path: str | os.PathLike[str], species: Sequence[str] | None = None) -> tuple[Atoms, np.ndarray]:
    """Read a CHGCAR (or CHG, AECCAR0/1/2, PARCHG): structure and total density in e/Å³.

    Returns ``(atoms, density)`` with ``density.shape == (nx, ny, nz)``, float64, where
    ``density[i, j, k]`` is the density at fractional point ``(i/nx, j/ny, k/nz)``.  The file
    stores ρ·V_cell in Fortran order (x fastest); we divide by the cell volume (Å³).  Only the
    first (total) density block is read: augmentation occupancies and spin / magnetisation
    blocks are ignored.

    VASP 5 files name the elements; for VASP 4 files (no element line) the title line is tried,
    else pass ``species`` (one symbol per atom type in file order, e.g. ``["Si", "O"]``).
    ``species`` also overrides the element line.  Raises :class:`InputFileError` for missing,
    empty, truncated or corrupted files, and :class:`GridError` when the grid would take more
    than 25 % of the available memory (16 bytes per point while loading).
    """
    p = require_input_file(path, "CHGCAR")
    with open(p, "rb") as fh:
        lines = _Lines(fh, p.name)
        atoms, shape = _read_header(lines, species)
        flat = _read_values(fh, shape[0] * shape[1] * shape[2], p.name, shape)
    volume = abs(atoms.get_volume())
    if volume < 1e-8:
        raise InputFileError(f"CHGCAR '{p.name}' has a zero-volume cell; the lattice vectors are damaged")
    density = flat.reshape(shape[2], shape[1], shape[0]).transpose(2, 1, 0)  # Fortran -> [i, j, k]
    density = np.ascontiguousarray(density)
    density /= volume
    return atoms, density


def looks_like_chgcar(path: Path) -> bool:
    """True when the file is a POSCAR header followed by a grid line (cheap content check)."""
    try:
        with open(path, "rb") as fh:
            _read_header(_Lines(fh, path.name), None)
        return True
    except (InputFileError, OSError, ValueError):
        return False
