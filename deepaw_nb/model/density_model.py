"""A loaded density model: ``F_nonlocal`` (one network or an ensemble) plus optional
``F_local`` and free-atom baseline, with provenance."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from ase.data import chemical_symbols
from torch import nn

from deepaw_nb.errors import UnsupportedElementError
from deepaw_nb.model.bond_charge import BondChargeDensity
from deepaw_nb.model.config import ModelConfig
from deepaw_nb.model.ensemble import EnsembleContext, ProbeEnsemble, check_combine
from deepaw_nb.model.f_nonlocal import AtomContext, FNonlocal, ProbeModel
from deepaw_nb.model.free_atoms import FreeAtomDensity
from deepaw_nb.model.kan import FLocal


@dataclass(frozen=True)
class ModelInfo:
    """Where a model came from, for provenance records.

    Attributes:
        name: short human name ("deepaw-official", a file stem, or the bundled model's name).
        sha256: hex digests of the files the weights were read from, by role.
        species: atomic numbers the model was trained on; ``None`` means not recorded (a raw
            DeePAW checkpoint), in which case any element of the one-hot input is accepted.
        description: one line for tables and model cards.
    """

    name: str
    sha256: dict[str, str] = field(default_factory=dict)
    species: tuple[int, ...] | None = None
    description: str = ""


class DensityModel(nn.Module):
    """What the engine runs: atoms -> atom context, then probe batches -> density (e/Å³).

    The predicted density is ``F_nonlocal`` + ``F_local`` (when present) + the baseline (when
    present: models trained on a residual): the free-atom superposition ``free_atoms`` plus,
    optionally, the fitted charge-transfer term ``bond_charge``.
    ``F_nonlocal`` may be an ensemble: several networks with one cutoff whose densities are
    combined by their mean or median (see :mod:`deepaw_nb.model.ensemble`); an ensemble has
    no ``F_local``.

    Args:
        f_nonlocal: the network, or the members of an ensemble (in order).
        f_local: optional KAN correction read from the network's representation.
        info: name, file digests, supported species.
        free_atoms: free-atom tables the network's output is added to, if trained on a residual.
        bond_charge: bond-charge term added to the free atoms, if the residual was taken over both.
        combine: ``"mean"`` or ``"median"`` of an ensemble's densities at each probe.
    """

    def __init__(
        self,
        f_nonlocal: FNonlocal | Sequence[FNonlocal],
        f_local: FLocal | None,
        info: ModelInfo,
        free_atoms: FreeAtomDensity | None = None,
        bond_charge: BondChargeDensity | None = None,
        combine: str = "mean",
    ) -> None:
        super().__init__()
        self.combine = check_combine(combine)
        members = [f_nonlocal] if isinstance(f_nonlocal, FNonlocal) else list(f_nonlocal)
        if not members:
            raise ValueError("a density model needs at least one F_nonlocal network")
        cutoffs = sorted({m.config.cutoff for m in members})
        if len(cutoffs) > 1:
            raise ValueError(f"ensemble members must share one cutoff (they share the graphs), got {cutoffs} Å")
        if f_local is not None and len(members) > 1:
            raise ValueError("F_local reads one network's representation; an ensemble cannot have an F_local")
        self.members = nn.ModuleList(members)
        self.f_local = f_local
        self.free_atoms = free_atoms
        self.bond_charge = bond_charge
        self.info = info
        if free_atoms is not None and free_atoms.cutoff > self.cutoff + 1e-9:
            raise ValueError(f"free-atom tables reach {free_atoms.cutoff} Å but the model cutoff is {self.cutoff} Å")
        if bond_charge is not None and (free_atoms is None or abs(bond_charge.cutoff - self.cutoff) > 1e-9):
            raise ValueError(
                f"a bond-charge term needs free-atom tables and the model cutoff {self.cutoff} Å "
                f"(it has {bond_charge.cutoff} Å; it reuses the model's graphs)"
            )

    @property
    def f_nonlocal(self) -> FNonlocal:
        """The network (the first member, for an ensemble)."""
        return self.members[0]  # type: ignore[return-value]

    @property
    def is_ensemble(self) -> bool:
        return len(self.members) > 1

    @property
    def config(self) -> ModelConfig:
        """Architecture of the network (of the first member, for an ensemble: see ``configs``)."""
        return self.f_nonlocal.config

    @property
    def configs(self) -> tuple[ModelConfig, ...]:
        """Architecture of every member, in order (one entry for a single network)."""
        return tuple(m.config for m in self.members)

    @property
    def cutoff(self) -> float:
        """Neighbour cutoff radius in Å."""
        return self.config.cutoff

    @property
    def representation_dim(self) -> int:
        """Length of the probe representation (the members' lengths summed, for an ensemble)."""
        return sum(m.representation_dim for m in self.members)

    @functools.cached_property
    def probe_model(self) -> ProbeModel | ProbeEnsemble:
        """The e3nn probe model, or a :class:`ProbeEnsemble` of the members' probe models.

        Built once; ``cached_property`` stores it in the instance dict, outside ``nn.Module``'s
        registry, so the members' weights are not registered (or saved) twice.
        """
        if not self.is_ensemble:
            return self.f_nonlocal.probe_model
        return ProbeEnsemble([m.probe_model for m in self.members], combine=self.combine)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def check_species(self, atomic_numbers: list[int] | tuple[int, ...]) -> None:
        """Raise :class:`UnsupportedElementError` for elements the model does not know."""
        known = self.info.species
        if self.free_atoms is not None:  # a residual model also needs each element's free-atom table
            tabled = set(self.free_atoms.species)
            if self.bond_charge is not None:  # ... and its fitted bond-charge parameters
                tabled &= set(self.bond_charge.species)
            known = tuple(sorted(tabled if known is None else tabled & set(known)))
        limit = self.config.num_species
        bad = sorted({int(z) for z in atomic_numbers if (known is not None and z not in known) or not 0 < z < limit})
        if bad:
            names = ", ".join(chemical_symbols[z] if 0 < z < len(chemical_symbols) else str(z) for z in bad)
            allowed = (
                ", ".join(chemical_symbols[z] for z in sorted(known)) if known is not None else f"Z 1-{limit - 1}"
            )
            raise UnsupportedElementError(
                f"model '{self.info.name}' was not trained on {names}; it supports {allowed} — "
                "use a structure with these elements or load a model trained on yours"
            )

    def atom_context(
        self,
        atomic_numbers: torch.Tensor,
        edge_src: torch.Tensor,
        edge_dst: torch.Tensor,
        edge_vectors: torch.Tensor,
    ) -> AtomContext | EnsembleContext:
        """Per-structure atom work (atom model + hoisted per-atom probe-layer inputs).

        For an ensemble, an :class:`EnsembleContext` with one entry per member.
        """
        if not self.is_ensemble:
            return self.f_nonlocal.atom_context(atomic_numbers, edge_src, edge_dst, edge_vectors)
        return EnsembleContext(m.atom_context(atomic_numbers, edge_src, edge_dst, edge_vectors) for m in self.members)

    def forward(
        self,
        context: AtomContext | EnsembleContext,
        edge_src: torch.Tensor,
        edge_dst: torch.Tensor,
        edge_vectors: torch.Tensor,
        num_probes: int,
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
        """Non-local density (P,), local correction (P,) or None, and representation (P, D)."""
        density, representation = self.probe_model(context, edge_src, edge_dst, edge_vectors, num_probes)
        correction = self.f_local(representation) if self.f_local is not None else None
        return density, correction, representation

    def atom_scalars(
        self, atomic_numbers: torch.Tensor, edge_src: torch.Tensor, edge_dst: torch.Tensor, edge_vectors: torch.Tensor
    ) -> torch.Tensor | None:
        """Per-atom bond-charge scalars (N, C) from the atom graph, or None without a bond-charge term."""
        if self.bond_charge is None:
            return None
        return self.bond_charge.atom_scalars(atomic_numbers, edge_src, edge_dst, edge_vectors)

    def baseline_density(
        self, atomic_numbers: torch.Tensor, atom_scalars: torch.Tensor | None, edge_src: torch.Tensor,
        edge_dst: torch.Tensor, edge_vectors: torch.Tensor, num_probes: int,
    ) -> torch.Tensor | None:
        """Free atoms (+ bond-charge term) (P,) in e/Å³ on the probe edges, or None for a model without them.

        ``atom_scalars`` is :meth:`atom_scalars` of the structure (ignored without a bond-charge term).
        """
        if self.free_atoms is None:
            return None
        density = self.free_atoms(atomic_numbers[edge_src], edge_vectors, edge_dst, num_probes)
        if self.bond_charge is not None:
            if atom_scalars is None:
                raise ValueError("this model has a bond-charge term: pass atom_scalars(...) of the structure")
            density = density + self.bond_charge(atom_scalars, atomic_numbers, edge_src, edge_dst, edge_vectors,
                                                 num_probes)
        return density
