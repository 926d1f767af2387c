"""``DensityResult``: a predicted (or reference) density on a grid, with timings and provenance."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms

from deepaw_nb.engine.timing import format_timings
from deepaw_nb.errors import GridError, OutputError

#: Largest lattice-vector difference (Å) tolerated between a prediction and its reference.
CELL_TOLERANCE = 1e-3


@dataclass(frozen=True)
class Comparison:
    """Accuracy of a density against a reference on the same grid.

    Attributes:
        nmae: Σ|ρ − ρref| / Σ|ρref| over the grid (dimensionless; DeePAW's headline metric).
        mae: mean |ρ − ρref| in e/Å³.
        rmse: root-mean-square error in e/Å³.
        max_error: max |ρ − ρref| in e/Å³.
        electrons: ∫ρ dV of the density (e); reference_electrons: the same for the reference.
    """

    nmae: float
    mae: float
    rmse: float
    max_error: float
    electrons: float
    reference_electrons: float

    @property
    def electron_count_difference(self) -> float:
        """∫ρ dV − ∫ρref dV in electrons."""
        return self.electrons - self.reference_electrons

    def as_dict(self) -> dict[str, float]:
        return {
            "nmae": self.nmae,
            "mae": self.mae,
            "rmse": self.rmse,
            "max_error": self.max_error,
            "electrons": self.electrons,
            "reference_electrons": self.reference_electrons,
            "electron_count_difference": self.electron_count_difference,
        }

    def __str__(self) -> str:
        return (
            f"NMAE {100 * self.nmae:.3f} %, MAE {self.mae:.3e} e/Å³, max {self.max_error:.3e} e/Å³, "
            f"electrons {self.electrons:.4f} vs {self.reference_electrons:.4f} "
            f"({self.electron_count_difference:+.4f})"
        )


@dataclass
class DensityResult:
    """Electron density ρ (e/Å³) on the grid (i/nx, j/ny, k/nz) of a periodic cell.

    Attributes:
        density: float32 array (nx, ny, nz) in e/Å³; NaN where a cancelled run did not reach.
        atoms: the structure (Å).
        timings: seconds per pipeline stage, in pipeline order.
        provenance: model name and sha256, precision, batch size, device, versions, ...
        filled_probes: how many grid points hold values (the others are NaN).
        wall_time: seconds from start to end of the prediction.
        overlapped_stages: stages that ran in a helper thread concurrently with others.
    """

    density: np.ndarray
    atoms: Atoms
    timings: dict[str, float] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)
    filled_probes: int | None = None
    wall_time: float = 0.0
    overlapped_stages: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        self.density = np.asarray(self.density)
        if self.density.ndim != 3 or min(self.density.shape) < 1:
            raise GridError(f"a density must be a 3-D (nx, ny, nz) array, got shape {self.density.shape}")
        if self.filled_probes is None:
            self.filled_probes = self.density.size

    # ---- shape and bookkeeping -------------------------------------------------------------
    @property
    def grid_shape(self) -> tuple[int, int, int]:
        return tuple(int(n) for n in self.density.shape)  # type: ignore[return-value]

    @property
    def num_points(self) -> int:
        return int(self.density.size)

    @property
    def complete(self) -> bool:
        """True when every grid point holds a value."""
        return self.filled_probes == self.num_points

    @property
    def filled_fraction(self) -> float:
        """Share of grid points with values (1.0 unless the run was cancelled)."""
        return self.filled_probes / self.num_points

    @property
    def volume(self) -> float:
        """Cell volume in Å³."""
        return float(abs(self.atoms.cell.volume))

    @property
    def voxel_volume(self) -> float:
        """Volume of one grid cell in Å³."""
        return self.volume / self.num_points

    # ---- data access -------------------------------------------------------------------
    def to_numpy(self) -> np.ndarray:
        """A copy of the density, (nx, ny, nz) float32 in e/Å³."""
        return np.array(self.density, copy=True)

    def electron_count(self) -> float:
        """∫ρ dV over the cell (electrons), by the grid sum ρ·ΔV (exact for a band-limited ρ)."""
        self._require_complete("count electrons")
        return float(np.sum(self.density, dtype=np.float64) * self.voxel_volume)

    def _require_complete(self, action: str) -> None:
        if not self.complete:
            raise GridError(
                f"cannot {action}: the prediction is incomplete ({100 * self.filled_fraction:.1f} % of the grid); "
                "run it to the end first"
            )

    # ---- writing ---------------------------------------------------------------------------
    def _timed_write(self, writer: Any, path: str | Path, overwrite: bool) -> Path:
        self._require_complete("write a file")
        start = time.perf_counter()
        written = writer(path, self.atoms, self.density, overwrite=overwrite)
        self.timings["writing"] = self.timings.get("writing", 0.0) + time.perf_counter() - start
        return Path(written)

    def to_chgcar(self, path: str | Path, overwrite: bool = False) -> Path:
        """Write a VASP 5 CHGCAR (values ρ·V_cell, atomic write); returns the path."""
        from deepaw_nb.io import write_chgcar

        return self._timed_write(write_chgcar, path, overwrite)

    def to_cube(self, path: str | Path, overwrite: bool = False) -> Path:
        """Write a Gaussian cube file (bohr, e/bohr³; atomic write); returns the path."""
        from deepaw_nb.io import write_cube

        return self._timed_write(write_cube, path, overwrite)

    def to_npy(self, path: str | Path, overwrite: bool = False) -> Path:
        """Save the density array (e/Å³) as a .npy file (atomic write)."""
        from deepaw_nb.io.atomic import atomic_write

        self._require_complete("write a file")
        with atomic_write(path, mode="wb", overwrite=overwrite) as handle:
            np.save(handle, self.density)
        return Path(path)

    # ---- references and comparison -----------------------------------------------------------
    @classmethod
    def from_chgcar(cls, path: str | Path) -> "DensityResult":
        """A reference density read from a CHGCAR (e/Å³)."""
        from deepaw_nb.io import read_chgcar

        atoms, density = read_chgcar(path)
        return cls(density=density.astype(np.float32, copy=False), atoms=atoms, provenance={"source": str(path)})

    def _coerce_reference(self, reference: Any) -> "DensityResult":
        if isinstance(reference, DensityResult):
            return reference
        if isinstance(reference, (str, Path)):
            return DensityResult.from_chgcar(reference)
        if isinstance(reference, tuple) and len(reference) == 2:
            atoms, density = reference
            return DensityResult(density=np.asarray(density), atoms=atoms)
        if isinstance(reference, np.ndarray):
            return DensityResult(density=reference, atoms=self.atoms)
        raise OutputError(
            f"cannot compare with a {type(reference).__name__}; pass a DensityResult, a CHGCAR path, "
            "an (atoms, density) tuple or an array"
        )

    def compare(self, reference: Any) -> Comparison:
        """NMAE, MAE, RMSE, max error and electron counts against a reference on the same grid."""
        ref = self._coerce_reference(reference)
        self._require_complete("compare")
        ref._require_complete("compare")
        if ref.grid_shape != self.grid_shape:
            raise GridError(
                f"reference grid {ref.grid_shape} differs from the prediction's {self.grid_shape}; "
                f"predict with grid={ref.grid_shape}"
            )
        gap = float(np.abs(np.asarray(ref.atoms.cell) - np.asarray(self.atoms.cell)).max())
        if gap > CELL_TOLERANCE:
            raise GridError(
                f"reference cell differs from the prediction's by {gap:.3g} Å; compare densities of the same structure"
            )
        pred = self.density.astype(np.float64)
        diff = pred - ref.density.astype(np.float64)
        return Comparison(
            nmae=float(np.abs(diff).sum() / np.abs(ref.density).sum(dtype=np.float64)),
            mae=float(np.abs(diff).mean()),
            rmse=float(np.sqrt(np.mean(diff**2))),
            max_error=float(np.abs(diff).max()),
            electrons=self.electron_count(),
            reference_electrons=ref.electron_count(),
        )

    def difference(self, reference: Any) -> "DensityResult":
        """ρ − ρref as a new result (for error isosurfaces and slices)."""
        ref = self._coerce_reference(reference)
        self.compare(ref)  # same checks
        return DensityResult(
            density=(self.density.astype(np.float32) - ref.density.astype(np.float32)),
            atoms=self.atoms,
            provenance={"difference_of": [self.provenance.get("model", {}).get("name", "prediction"), "reference"]},
        )

    # ---- display ---------------------------------------------------------------------------
    def timing_table(self) -> str:
        """Plain-text stage timings (seconds and shares)."""
        return format_timings(self.timings, self.wall_time, set(self.overlapped_stages))

    def __repr__(self) -> str:
        state = "complete" if self.complete else f"{100 * self.filled_fraction:.1f} % filled"
        return (
            f"DensityResult({self.atoms.get_chemical_formula()}, grid {self.grid_shape}, {state}, "
            f"wall {self.wall_time:.2f} s)"
        )
