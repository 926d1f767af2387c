"""Writing Gaussian cube files (VESTA, VMD, Avogadro) through ASE's cube writer.

ASE's :func:`ase.io.cube.write_cube` does the geometry right (positions and voxel vectors in
bohr, origin at the cell corner, X outer / Z inner loop, grid point ``[i, j, k]`` at
``i/nx·a + j/ny·b + k/nz·c``) but writes the data array unchanged, so we convert the density
from e/Å³ to the cube convention e/bohr³ first and write atomically.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.io.cube import write_cube as _ase_write_cube
from ase.units import Bohr

from deepaw_nb.errors import OutputError
from deepaw_nb.io.atomic import atomic_write
from deepaw_nb.io.chgcar_write import _check_inputs

__all__ = ["write_cube"]


def write_cube(
    path: str | os.PathLike[str],
    atoms: Atoms,
    density: np.ndarray,
    *,
    overwrite: bool = False,
    comment: str | None = None,
) -> Path:
    """Write ``density`` (e/Å³, shape (nx, ny, nz)) as a Gaussian cube file in e/bohr³ (bohr geometry).

    Reading it back with :func:`ase.io.cube.read_cube_data` gives ``density * Bohr**3`` and the
    structure in Å.  Values are written with 6 significant digits.  Atomic; an existing file is
    replaced only with ``overwrite=True`` (else :class:`OutputError`).  Returns the path written.
    """
    rho = _check_inputs(atoms, density)
    if not np.all(np.isfinite(rho)):
        raise OutputError("Density contains NaN or inf values; fix the prediction before writing a cube file")
    title = comment if comment is not None else f"{atoms.get_chemical_formula()} density (e/bohr^3) from deepaw-nb"
    title = " ".join(str(title).split()) or "deepaw-nb"
    with atomic_write(path, "w", overwrite=overwrite) as fh:
        _ase_write_cube(fh, atoms, data=rho * Bohr**3, comment=title)
        fh.write("\n")
    return Path(path).expanduser()
