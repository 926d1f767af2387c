"""Reference densities for comparison: CHGCAR files and the GPAW grids in ``data/reference``.

A CHGCAR is read by :meth:`deepaw_nb.result.DensityResult.from_chgcar`.  The shipped GPAW
reference grids (``data/reference/grids/<id>.npz``: ``density`` in e/Å³, ``cell``,
``numbers``, ``positions`` in Å) are wrapped into a ``DensityResult`` here, since the library
has no reader for them yet.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms

from deepaw_nb.errors import InputFileError

__all__ = ["align_reference", "load_reference", "reference_grid_files"]

_NPZ_KEYS = ("density", "cell", "numbers", "positions")


def reference_grid_files() -> dict[str, Path]:
    """``{id: path}`` of the reference grids shipped in ``data/reference/grids`` (may be empty)."""
    import deepaw_nb

    directory = Path(deepaw_nb.__file__).resolve().parents[1] / "data" / "reference" / "grids"
    if not directory.is_dir():
        return {}
    return {p.stem: p for p in sorted(directory.glob("*.npz"))}


def _load_npz(path: Path) -> Any:
    from deepaw_nb.result import DensityResult

    try:
        with np.load(path, allow_pickle=False) as data:
            missing = [key for key in _NPZ_KEYS if key not in data.files]
            if missing:
                raise InputFileError(f"{path.name} is not a deepaw-nb reference grid (no {', '.join(missing)}); give a CHGCAR instead")
            atoms = Atoms(numbers=data["numbers"], positions=data["positions"], cell=data["cell"], pbc=True)
            density = np.asarray(data["density"], dtype=np.float32)
    except InputFileError:
        raise
    except Exception as exc:  # noqa: BLE001 - zip/npy errors come in many types
        raise InputFileError(f"{path.name} cannot be read as a .npz reference grid ({' '.join(str(exc).split())[:100]}); check the file") from None
    return DensityResult(density=density, atoms=atoms, provenance={"source": str(path)})


def load_reference(path: str | os.PathLike[str]) -> Any:
    """A reference :class:`~deepaw_nb.result.DensityResult` from a CHGCAR or a reference ``.npz``."""
    from deepaw_nb.io.paths import require_input_file
    from deepaw_nb.result import DensityResult

    p = require_input_file(path, "reference density file")
    if p.suffix.lower() == ".npz":
        return _load_npz(p)
    return DensityResult.from_chgcar(p)


def align_reference(prediction: Any, reference: Any) -> tuple[Any, str]:
    """The reference on the prediction's grid, and a note on what was done.

    When every reference dimension is a whole multiple of the prediction's (e.g. 48 → 24 or 12)
    the reference is sampled at every k-th point: grid point (i, j, k) of both grids then sits
    at the same fractional position, so the comparison is exact at those points.  Otherwise the
    reference is returned unchanged and ``compare`` explains the mismatch.
    """
    from deepaw_nb.result import DensityResult

    pred_shape, ref_shape = prediction.grid_shape, reference.grid_shape
    if pred_shape == ref_shape:
        return reference, ""
    if all(r % p == 0 for r, p in zip(ref_shape, pred_shape)):
        step = tuple(r // p for r, p in zip(ref_shape, pred_shape))
        sub = reference.density[:: step[0], :: step[1], :: step[2]]
        note = (f"reference grid {' × '.join(map(str, ref_shape))} sampled at every {step} point to match the "
                f"prediction grid {' × '.join(map(str, pred_shape))}")
        return DensityResult(density=np.ascontiguousarray(sub), atoms=reference.atoms, provenance=dict(reference.provenance)), note
    return reference, ""
