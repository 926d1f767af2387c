"""Bond-charge baseline: charge transfer set by electronegativity differences, on top of free atoms.

A superposition of *neutral* free atoms misses the charge that moves from cations to anions.
A network trained on the residual can learn that transfer, but on compositions it has not
seen it under-transfers (measured: too much charge left on Li, Na and Al, too little on N
and S). This module is a small physical prior that generalises by construction, because it
has only a handful of numbers per element:

* every atom a gets scalars q_a (C channels) from its atom-graph neighbours b within the
  cutoff::

      q_a,0 = Σ_b s_0(r_ab) (χ_a − χ_b)            charge pulled in from less electronegative neighbours
      q_a,c = 0.1 Σ_b s_c(r_ab),  c ≥ 1             coordination (compression of the atom's density)

  with one learned "electronegativity" χ_Z per element and bond weights
  s_c(r) = softplus(Σ_k c_ck φ_k(r)) shared by all elements;
* the density change is δρ(r) = Σ_a Σ_c q_a,c g_{Z_a,c}(|r − R_a|) over the same atom → probe
  edges as the network, with a radial shape g_Z,c(r) = Σ_k w_Z,c,k ψ_k(r) per element.

φ and ψ are Gaussians times a cosine envelope that vanishes at the cutoff. Fitted to
ρ_GPAW − ρ_atoms on the training structures (``deepaw_nb.train.bond_charge_fit``), the
network then learns what is left. Hand-written because no field library provides this
charge-transfer density term.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from deepaw_nb.errors import CheckpointError, InputFileError
from deepaw_nb.model.checkpoint import read_checkpoint

#: Table rows reserved per atomic number (as for the free-atom tables).
_ROWS = 119
#: Coordination channels are scaled by this so that all channels start on a similar scale.
_COORDINATION_SCALE = 0.1


def _enveloped_gaussians(r: torch.Tensor, count: int, cutoff: float, width: float) -> torch.Tensor:
    """(len(r), count) Gaussians centred on a uniform 0..cutoff grid (Å), × a cosine cutoff."""
    centres = torch.linspace(0.0, cutoff, count, dtype=r.dtype, device=r.device)
    envelope = 0.5 * (torch.cos(math.pi * r / cutoff) + 1.0) * (r < cutoff)
    return torch.exp(-(((r[:, None] - centres) / width) ** 2)) * envelope[:, None]


class BondChargeDensity(nn.Module):
    """Charge-transfer and coordination density δρ (e/Å³) added to the free-atom superposition.

    Args:
        cutoff: neighbour radius in Å for both the atom graph and the shapes.
        channels: number of per-atom scalars (1 charge-transfer channel + coordination channels).
        bond_basis: Gaussians in the bond weights s_c(r).
        shape_basis: Gaussians in the radial shapes g_Z,c(r).
        species: atomic numbers the parameters were fitted on.
        electronegativity: optional (119,) starting χ_Z (e.g. Pauling values).
    """

    def __init__(
        self,
        cutoff: float,
        channels: int = 2,
        bond_basis: int = 8,
        shape_basis: int = 16,
        species: tuple[int, ...] = (),
        electronegativity: torch.Tensor | None = None,
    ) -> None:
        super().__init__()
        if channels < 1 or bond_basis < 2 or shape_basis < 2 or cutoff <= 0:
            raise CheckpointError("bond-charge term needs channels ≥ 1, ≥ 2 basis functions and a positive cutoff")
        self.cutoff = float(cutoff)
        self.channels = int(channels)
        self.bond_basis = int(bond_basis)
        self.shape_basis = int(shape_basis)
        self.species = tuple(sorted(int(z) for z in species))
        chi = torch.zeros(_ROWS) if electronegativity is None else torch.as_tensor(electronegativity).float()
        if chi.shape != (_ROWS,):
            raise CheckpointError(f"electronegativity table must have {_ROWS} rows, got {tuple(chi.shape)}")
        self.electronegativity = nn.Parameter(chi.clone())
        self.bond_coefficients = nn.Parameter(torch.zeros(self.channels, self.bond_basis))
        self.shape_weights = nn.Parameter(torch.zeros(_ROWS, self.channels, self.shape_basis))

    def atom_scalars(
        self, atomic_numbers: torch.Tensor, edge_src: torch.Tensor, edge_dst: torch.Tensor, edge_vectors: torch.Tensor
    ) -> torch.Tensor:
        """Per-atom scalars q (N, C) from the atom graph (sender src → receiver dst, vectors in Å)."""
        distance = edge_vectors.float().norm(dim=-1)
        basis = _enveloped_gaussians(distance, self.bond_basis, self.cutoff, 0.5)
        weight = nn.functional.softplus(basis @ self.bond_coefficients.T)  # (E, C)
        chi = self.electronegativity
        transfer = (chi[atomic_numbers[edge_dst]] - chi[atomic_numbers[edge_src]])[:, None] * weight[:, :1]
        per_edge = torch.cat([transfer, _COORDINATION_SCALE * weight[:, 1:]], dim=1)
        return per_edge.new_zeros(len(atomic_numbers), self.channels).index_add_(0, edge_dst, per_edge)

    def forward(
        self,
        atom_scalars: torch.Tensor,
        atomic_numbers: torch.Tensor,
        edge_src: torch.Tensor,
        edge_dst: torch.Tensor,
        edge_vectors: torch.Tensor,
        num_probes: int,
    ) -> torch.Tensor:
        """δρ (P,) in e/Å³ from atom → probe edges (src = atom, dst = probe, vectors probe − atom, Å)."""
        # Σ_c q_a,c g_Z,c(r) = Σ_k (Σ_c q_a,c w_Z,c,k) ψ_k(r): fold the channels per atom (N × K)
        # instead of per edge, so each edge costs one K-long dot product.
        per_atom = torch.einsum("nc,nck->nk", atom_scalars.float(), self.shape_weights[atomic_numbers])
        distance = edge_vectors.float().norm(dim=-1)
        basis = _enveloped_gaussians(distance, self.shape_basis, self.cutoff, self.cutoff / self.shape_basis)
        value = (basis * per_atom[edge_src]).sum(dim=-1)
        return value.new_zeros(num_probes).index_add_(0, edge_dst, value)

    # ---- storage -------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain dict (tensors, numbers) for a ``weights_only`` model file."""
        return {
            "cutoff": self.cutoff,
            "channels": self.channels,
            "bond_basis": self.bond_basis,
            "shape_basis": self.shape_basis,
            "species": list(self.species),
            "state": {k: v.detach().clone() for k, v in self.state_dict().items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "BondChargeDensity":
        """Inverse of :meth:`to_dict`."""
        try:
            module = cls(
                float(data["cutoff"]), int(data["channels"]), int(data["bond_basis"]),
                int(data["shape_basis"]), tuple(int(z) for z in data["species"]),
            )
            module.load_state_dict(data["state"])
        except (KeyError, TypeError, RuntimeError) as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise CheckpointError(f"unreadable bond-charge term ({first}); re-export the model") from None
        return module

    def same_as(self, other: "BondChargeDensity | None") -> bool:
        """True when ``other`` holds identical settings and parameters (ensemble members must share one)."""
        if other is None:
            return False
        mine, theirs = self.to_dict(), other.to_dict()
        if {k: v for k, v in mine.items() if k != "state"} != {k: v for k, v in theirs.items() if k != "state"}:
            return False
        return all(torch.equal(mine["state"][k], theirs["state"][k]) for k in mine["state"])


#: Tag of a stand-alone fitted bond-charge file (``data/recipes/fit_bond_charge.py``).
BOND_CHARGE_FORMAT = "deepaw-nb-bond-charge/1"


def read_bond_charge(path: str | Path, cutoff: float) -> BondChargeDensity:
    """A fitted bond-charge term from its file (loaded with ``weights_only=True``).

    Raises:
        InputFileError: the file is missing, not a bond-charge file, or fitted for another cutoff.
    """
    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"bond-charge file {path} does not exist; run data/recipes/fit_bond_charge.py")
    data = read_checkpoint(path)
    if not isinstance(data, dict) or data.get("format") != BOND_CHARGE_FORMAT:
        raise InputFileError(f"{path} is not a {BOND_CHARGE_FORMAT} file; write it with data/recipes/fit_bond_charge.py")
    term = BondChargeDensity.from_dict(data["bond_charge"])
    if abs(term.cutoff - cutoff) > 1e-9:
        raise InputFileError(f"{path} was fitted for cutoff {term.cutoff} Å, the model uses {cutoff} Å; refit it")
    return term.requires_grad_(False)
