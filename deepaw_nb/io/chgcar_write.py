"""Writing VASP 5 CHGCAR files (to compare with VASP or to start a run with ICHARG = 1).

We write the file ourselves instead of through ASE's ``VaspChargeDensity.write``: that formats
each value in a Python loop (minutes for 200³ grids), writes through a plain ``open`` (a crash
leaves half a file) and keeps atoms in the given order, which splits species VASP needs grouped.
Values are formatted exactly like VASP (`` 0.12345678901E+01``, negative `` -.12345678901E+01``,
5 per line) by vectorised digit arithmetic, streamed in chunks, and written atomically.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO

import numpy as np
from ase import Atoms

from deepaw_nb.errors import GridError, OutputError, StructureError
from deepaw_nb.io.atomic import atomic_write

__all__ = ["format_vasp_values", "sorted_by_species", "write_chgcar"]

_VALUES_PER_LINE = 5
_CHUNK_VALUES = 500_000  # multiple of 5: bounds the temporary arrays to ~50 MB
_POW10 = 10 ** np.arange(10, -1, -1, dtype=np.int64)  # place values of the 11 mantissa digits


def format_vasp_values(values: np.ndarray) -> bytes:
    """Format numbers as VASP's volumetric data: 18 characters each, 5 per line, ending in a newline.

    Magnitudes below 1e-99 are written as zero (VASP's two-digit exponent cannot hold them).
    Raises :class:`OutputError` for NaN, inf or magnitudes >= 1e99.
    """
    x = np.asarray(values, dtype=np.float64).ravel()
    if x.size == 0:
        return b""
    if not np.all(np.isfinite(x)):
        raise OutputError("Density contains NaN or inf values; fix the prediction before writing a CHGCAR")
    ax = np.abs(x)
    if ax.max() >= 1e99:
        raise OutputError(f"Density value {ax.max():.3g} is too large for the CHGCAR format; check the density units (e/Å³)")
    ax[ax < 1e-99] = 0.0
    nonzero = ax > 0
    exp = np.zeros(x.size, dtype=np.int64)
    exp[nonzero] = np.floor(np.log10(ax[nonzero])).astype(np.int64) + 1
    mant = np.rint(ax * 10.0 ** (11 - exp))  # 11-digit integer mantissa, 0.1 <= m < 1
    high = mant >= 1e11  # log10 / rounding landed one decade low
    exp[high] += 1
    mant[high] = np.rint(ax[high] * 10.0 ** (11 - exp[high]))
    low = nonzero & (mant < 1e10)
    exp[low] -= 1
    mant[low] = np.rint(ax[low] * 10.0 ** (11 - exp[low]))
    mant = np.minimum(mant, 1e11 - 1).astype(np.int64)
    buf = np.empty((x.size, 18), dtype=np.uint8)
    buf[:, 0] = ord(" ")
    buf[:, 1] = np.where(x < 0, ord("-"), ord("0"))
    buf[:, 1][ax == 0] = ord("0")
    buf[:, 2] = ord(".")
    buf[:, 3:14] = (mant[:, None] // _POW10) % 10 + ord("0")
    buf[:, 14] = ord("E")
    buf[:, 15] = np.where(exp < 0, ord("-"), ord("+"))
    aexp = np.abs(exp)
    buf[:, 16] = aexp // 10 + ord("0")
    buf[:, 17] = aexp % 10 + ord("0")
    full = (x.size // _VALUES_PER_LINE) * _VALUES_PER_LINE
    lines = np.empty((full // _VALUES_PER_LINE, 18 * _VALUES_PER_LINE + 1), dtype=np.uint8)
    lines[:, :-1] = buf[:full].reshape(-1, 18 * _VALUES_PER_LINE)
    lines[:, -1] = ord("\n")
    out = lines.tobytes()
    if full < x.size:
        out += buf[full:].tobytes() + b"\n"
    return out


def sorted_by_species(atoms: Atoms) -> Atoms:
    """Copy of ``atoms`` with atoms grouped by element, elements in order of first appearance.

    VASP needs all atoms of one species contiguous (one POTCAR per block); within a species the
    original order is kept (stable sort).  The density does not depend on the atom order.
    """
    symbols = atoms.get_chemical_symbols()
    first_seen: dict[str, int] = {}
    for s in symbols:
        first_seen.setdefault(s, len(first_seen))
    order = np.argsort([first_seen[s] for s in symbols], kind="stable")
    return atoms[order]


def _check_inputs(atoms: Atoms, density: object) -> np.ndarray:
    if not isinstance(atoms, Atoms):
        raise StructureError(f"write_chgcar needs an ase.Atoms, got {type(atoms).__name__}; convert it with deepaw_nb.structure.as_atoms")
    if len(atoms) == 0:
        raise StructureError("Structure has no atoms; a CHGCAR needs at least one atom")
    cell = np.asarray(atoms.cell, dtype=np.float64)
    if not np.all(np.isfinite(cell)) or abs(np.linalg.det(cell)) < 1e-6:
        raise StructureError("Structure has no 3D cell (zero volume); set a full periodic cell before writing a CHGCAR")
    if not np.all(np.isfinite(atoms.positions)):
        raise StructureError("Structure has NaN or inf positions; fix them before writing a CHGCAR")
    try:
        rho = np.asarray(density, dtype=np.float64)
    except (TypeError, ValueError):
        raise GridError(f"Density must be a numeric array, got {type(density).__name__}; pass a (nx, ny, nz) numpy array") from None
    if rho.ndim != 3 or min(rho.shape) < 1:
        raise GridError(f"Density must be a 3D (nx, ny, nz) array, got shape {rho.shape}; reshape it with density.reshape(nx, ny, nz)")
    return rho


def _header(atoms: Atoms, shape: tuple[int, ...], comment: str) -> str:
    symbols = atoms.get_chemical_symbols()
    species = list(dict.fromkeys(symbols))
    counts = [symbols.count(s) for s in species]
    rows = [comment, f"{1.0:19.14f}"]
    rows += ["".join(f" {v:21.14f}" for v in vec) for vec in np.asarray(atoms.cell)]
    rows.append("".join(f"{s:>5s}" for s in species))
    rows.append("".join(f"{n:6d}" for n in counts))
    rows.append("Direct")
    rows += ["".join(f" {v:19.14f}" for v in frac) for frac in atoms.get_scaled_positions(wrap=False)]
    rows.append("")
    rows.append("".join(f"{n:5d}" for n in shape))
    return "\n".join(rows) + "\n"


def _write_values(fh: IO[bytes], values_fortran: np.ndarray) -> None:
    for start in range(0, values_fortran.size, _CHUNK_VALUES):
        fh.write(format_vasp_values(values_fortran[start : start + _CHUNK_VALUES]))


def write_chgcar(
    path: str | os.PathLike[str],
    atoms: Atoms,
    density: np.ndarray,
    *,
    overwrite: bool = False,
    comment: str | None = None,
) -> Path:
    """Write ``density`` (e/Å³, shape (nx, ny, nz), ``[i, j, k]`` at ``(i/nx, j/ny, k/nz)``) as a VASP 5 CHGCAR.

    The file holds ρ·V_cell in Fortran order (x fastest), 5 values per line in VASP's E format,
    after a POSCAR block with atoms grouped by element (first-appearance order, see
    :func:`sorted_by_species`).  No augmentation occupancies are written.  The write is atomic;
    an existing file is replaced only with ``overwrite=True`` (else :class:`OutputError`).
    Readable by VASP (ICHARG = 1), ASE's ``VaspChargeDensity``, pymatgen's ``Chgcar`` and
    :func:`deepaw_nb.io.read_chgcar`.  Returns the path written.
    """
    rho = _check_inputs(atoms, density)
    if not np.all(np.isfinite(rho)):
        raise OutputError("Density contains NaN or inf values; fix the prediction before writing a CHGCAR")
    ordered = sorted_by_species(atoms)
    title = comment if comment is not None else f"{atoms.get_chemical_formula()} density predicted by deepaw-nb"
    title = " ".join(str(title).split()) or "deepaw-nb"
    header = _header(ordered, rho.shape, title)
    values = (rho * abs(float(np.linalg.det(np.asarray(atoms.cell))))).ravel(order="F")
    with atomic_write(path, "wb", overwrite=overwrite) as fh:
        fh.write(header.encode("ascii", errors="replace"))
        _write_values(fh, values)
    return Path(path).expanduser()
