"""Several structures as one disjoint graph, the forward pass and the density loss."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from deepaw_nb.model import FNonlocal
from deepaw_nb.train.data import StructureSample


@dataclass
class Batch:
    """Disjoint union of structures: atoms and probes of all structures, renumbered.

    ``probe_owner[p]`` is the structure index of probe ``p``; ``scale[s]`` is structure
    ``s``'s mean uniform-probe density (e/Å³), the per-structure loss normaliser.
    """

    numbers: torch.Tensor
    atom_src: torch.Tensor
    atom_dst: torch.Tensor
    atom_vec: torch.Tensor
    probe_src: torch.Tensor
    probe_dst: torch.Tensor
    probe_vec: torch.Tensor
    density: torch.Tensor
    density_atoms: torch.Tensor
    uniform: torch.Tensor
    probe_owner: torch.Tensor
    scale: torch.Tensor

    @property
    def num_probes(self) -> int:
        return int(self.density.shape[0])

    @property
    def num_structures(self) -> int:
        return int(self.scale.shape[0])


def collate(samples: list[StructureSample]) -> Batch:
    """Concatenate samples, offsetting atom and probe indices."""
    atom_offset = 0
    probe_offset = 0
    parts: dict[str, list[torch.Tensor]] = {k: [] for k in Batch.__dataclass_fields__}
    for index, s in enumerate(samples):
        parts["numbers"].append(s.numbers)
        parts["atom_src"].append(s.atom_src + atom_offset)
        parts["atom_dst"].append(s.atom_dst + atom_offset)
        parts["atom_vec"].append(s.atom_vec)
        parts["probe_src"].append(s.probe_src + atom_offset)
        parts["probe_dst"].append(s.probe_dst + probe_offset)
        parts["probe_vec"].append(s.probe_vec)
        parts["density"].append(s.density)
        parts["density_atoms"].append(s.density_atoms)
        parts["uniform"].append(s.uniform)
        parts["probe_owner"].append(torch.full((s.num_probes,), index, dtype=torch.long))
        parts["scale"].append(torch.tensor([s.scale], dtype=torch.float32))
        atom_offset += s.num_atoms
        probe_offset += s.num_probes
    return Batch(**{k: torch.cat(v) for k, v in parts.items()})


def forward(model: FNonlocal, batch: Batch) -> torch.Tensor:
    """Predicted density (P,) in e/Å³ for every probe of the batch."""
    context = model.atom_context(batch.numbers, batch.atom_src, batch.atom_dst, batch.atom_vec)
    density, _ = model.probe_model(context, batch.probe_src, batch.probe_dst, batch.probe_vec, batch.num_probes)
    return density


def per_structure_mean(values: torch.Tensor, owner: torch.Tensor, count: int) -> torch.Tensor:
    """Mean of ``values`` over the probes of each structure, shape (count,)."""
    sums = values.new_zeros(count).index_add(0, owner, values)
    sizes = values.new_zeros(count).index_add(0, owner, torch.ones_like(values))
    return sums / sizes.clamp(min=1)


def density_loss(pred: torch.Tensor, batch: Batch, kind: str = "l1") -> torch.Tensor:
    """Per-structure normalised error, averaged over structures (dimensionless).

    ``l1``: mean |ρ − ρref| / mean_uniform ρref over each structure's probes (an NMAE-like
    quantity; over the uniform probes alone it estimates the grid NMAE).
    ``mse``: mean (ρ − ρref)² / (mean_uniform ρref)².
    """
    error = pred - batch.density
    if kind == "l1":
        per = per_structure_mean(error.abs(), batch.probe_owner, batch.num_structures) / batch.scale
    elif kind == "mse":
        per = per_structure_mean(error.square(), batch.probe_owner, batch.num_structures) / batch.scale.square()
    else:
        raise ValueError(f"unknown loss {kind!r}; use 'l1' or 'mse'")
    return per.mean()


def uniform_nmae(pred: torch.Tensor, target: torch.Tensor, uniform: torch.Tensor) -> float:
    """Σ|ρ − ρref| / Σ|ρref| over the uniform probes: an estimate of the grid NMAE."""
    mask = uniform if bool(uniform.any()) else torch.ones_like(uniform)
    return float((pred[mask] - target[mask]).abs().sum() / target[mask].abs().sum())
