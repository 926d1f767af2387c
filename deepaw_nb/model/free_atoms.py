"""Superposition of spherical free-atom densities: the baseline a residual model adds back.

ρ_atoms(r) = Σ_a f_{Z_a}(|r − R_a − T|) over atoms a and lattice images T, in e/Å³, with one
radial table f_Z per element sampled on a uniform radius grid (Å) and interpolated linearly.
The tables are truncated at the model cutoff so the sum runs over exactly the atom → probe
edges the network already uses: no extra neighbour search per probe.

Why hand-written: no field library evaluates tabulated radial densities on an arbitrary,
periodic probe set in torch; the operation is a gather, a lerp and an ``index_add``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from ase.data import atomic_numbers, chemical_symbols
from torch import nn

from deepaw_nb.errors import CheckpointError, InputFileError

#: Largest atomic number a table row is reserved for.
_MAX_Z = 118


class FreeAtomDensity(nn.Module):
    """Sum of tabulated spherical atomic densities at probe points (e/Å³).

    Args:
        radii: (R,) uniform radius grid in Å starting at 0.
        tables: atomic number -> (R,) density f_Z(r) in e/Å³ on ``radii``.
        cutoff: radius in Å beyond which every f_Z is taken as zero (≤ the last radius).
        source: one line saying where the tables come from (recorded in provenance).
    """

    def __init__(
        self, radii: np.ndarray | torch.Tensor, tables: Mapping[int, Any], cutoff: float, source: str = ""
    ) -> None:
        super().__init__()
        r = torch.as_tensor(np.asarray(radii, dtype=np.float64))
        if r.ndim != 1 or len(r) < 2 or float(r[0]) != 0.0:
            raise CheckpointError("free-atom radius grid must be 1-D, start at 0 Å and have ≥ 2 points")
        step = float(r[1] - r[0])
        if step <= 0 or not torch.allclose(r, torch.arange(len(r), dtype=torch.float64) * step, atol=1e-6 * step):
            raise CheckpointError("free-atom radius grid must be uniform and increasing")
        if not 0 < cutoff <= float(r[-1]) + 1e-9:
            raise CheckpointError(f"free-atom cutoff {cutoff} Å is outside the table range 0–{float(r[-1])} Å")
        table = torch.zeros(_MAX_Z + 1, len(r), dtype=torch.float32)
        for z, values in tables.items():
            row = torch.as_tensor(np.asarray(values, dtype=np.float32))
            if row.shape != r.shape or not torch.isfinite(row).all():
                raise CheckpointError(f"free-atom table of Z={z} has shape {tuple(row.shape)}, expected {tuple(r.shape)}")
            table[int(z)] = row
        self.register_buffer("table", table)
        self.step = step
        self.cutoff = float(cutoff)
        self.species = tuple(sorted(int(z) for z in tables))
        self.source = source

    def forward(
        self, edge_species: torch.Tensor, edge_vectors: torch.Tensor, edge_dst: torch.Tensor, num_probes: int
    ) -> torch.Tensor:
        """ρ_atoms (P,) in e/Å³ from atom → probe edges.

        Args:
            edge_species: (E,) atomic number of each edge's atom.
            edge_vectors: (E, 3) probe − atom image, Å.
            edge_dst: (E,) probe index of each edge.
            num_probes: P.
        """
        distance = edge_vectors.float().norm(dim=-1)
        x = distance / self.step
        index = x.floor().long().clamp(0, self.table.shape[1] - 2)
        weight = (x - index).clamp(0.0, 1.0)
        flat = self.table.view(-1)
        at = edge_species.long() * self.table.shape[1] + index  # row-major position of f_Z(r_index)
        lower, upper = flat[at], flat[at + 1]
        value = torch.where(distance < self.cutoff, lower + weight * (upper - lower), torch.zeros_like(distance))
        return value.new_zeros(num_probes).index_add_(0, edge_dst, value)

    def check_species(self, numbers: list[int] | tuple[int, ...]) -> list[int]:
        """Atomic numbers in ``numbers`` that have no table (empty when all are covered)."""
        return sorted({int(z) for z in numbers} - set(self.species))

    # ---- storage -------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain dict (tensors, floats, strings) for a ``weights_only`` model file."""
        count = self.table.shape[1]
        return {
            "radii": torch.arange(count, dtype=torch.float64) * self.step,
            "tables": {chemical_symbols[z]: self.table[z].clone() for z in self.species},
            "cutoff": self.cutoff,
            "source": self.source,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "FreeAtomDensity":
        """Inverse of :meth:`to_dict`; element keys may be symbols or atomic numbers."""
        try:
            tables = {_as_number(k): v for k, v in data["tables"].items()}
            return cls(data["radii"], tables, float(data["cutoff"]), str(data.get("source", "")))
        except (KeyError, TypeError, AttributeError) as exc:
            raise CheckpointError(f"incomplete free-atom density tables (missing {exc}); re-export the model") from None

    @classmethod
    def from_npz(cls, path: str | Path, cutoff: float) -> "FreeAtomDensity":
        """Tables from a ``.npz`` with ``radii`` (Å) and one array per element symbol (e/Å³)."""
        path = Path(path)
        if not path.is_file():
            raise InputFileError(f"free-atom table file {path} does not exist; run data/recipes/free_atom_densities.py")
        with np.load(path) as z:
            tables = {_as_number(k): z[k] for k in z.files if k not in ("radii", "source")}
            source = str(z["source"]) if "source" in z.files else path.name
            return cls(z["radii"], tables, cutoff, source)


def _as_number(key: Any) -> int:
    if isinstance(key, str) and not key.isdigit():
        if key not in atomic_numbers:
            raise CheckpointError(f"free-atom table for unknown element {key!r}")
        return atomic_numbers[key]
    return int(key)
