"""Ensembles of ``F_nonlocal`` networks: the predicted density is the mean or the median of
the members'.

Several networks trained on the same data from different seeds or at different widths make
different errors on compositions none of them saw; combining their densities cancels part
of those errors (measured for the bundled model in ``data/models/README.md``).  The median
(per probe) is robust to one member that is far off on a structure; the mean is the least
squares choice.  The members share the atom and probe graphs (one cutoff), so only the
network work is repeated.

:class:`ProbeEnsemble` wraps any modules with :class:`~deepaw_nb.model.f_nonlocal.ProbeModel`'s
call signature — the e3nn probe models themselves or the fast kernels built from them — so
every kernel of :mod:`deepaw_nb.kernels` runs each member unchanged.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

#: How an ensemble combines its members' densities at each probe.
COMBINE_RULES = ("mean", "median")


def check_combine(combine: str) -> str:
    """``combine`` if it is one of :data:`COMBINE_RULES`; else a ValueError naming them."""
    if combine not in COMBINE_RULES:
        raise ValueError(f"unknown ensemble combination {combine!r}; use one of {', '.join(COMBINE_RULES)}")
    return combine


def combine_densities(densities: Sequence[torch.Tensor], combine: str) -> torch.Tensor:
    """Per-probe mean or median of the members' densities (each (P,)), in float32 at least.

    The median of an even number of members is the mean of the two middle values, as in
    ``numpy.median`` (``torch.median`` would return the lower one).
    """
    if check_combine(combine) == "mean":
        total = densities[0].float()
        for density in densities[1:]:
            total = total + density.float()
        return total / len(densities)
    ordered = torch.stack([d.float() for d in densities]).sort(dim=0).values
    n = ordered.shape[0]
    return 0.5 * (ordered[(n - 1) // 2] + ordered[n // 2])


class EnsembleContext(tuple):
    """Per-structure inputs of an ensemble's probe models, one entry per member, in order."""


class ProbeEnsemble(nn.Module):
    """Mean (or median) density of several probe models; their representations side by side.

    Args:
        members: modules called as ``member(context, edge_src, edge_dst, edge_vectors,
            num_probes) -> (density (P,), representation (P, D_i))``.
        combine: ``"mean"`` or ``"median"`` of the members' densities at each probe.

    Calling the ensemble with an :class:`EnsembleContext` of matching length returns the
    combined density (P,) in e/Å³, computed in float32 even under autocast, and the members'
    representations concatenated to (P, ΣD_i) in member order.
    """

    def __init__(self, members: Sequence[nn.Module], combine: str = "mean") -> None:
        super().__init__()
        if len(members) < 2:
            raise ValueError(f"an ensemble needs at least two members, got {len(members)}")
        self.members = nn.ModuleList(members)
        self.combine = check_combine(combine)

    def prepare(self, context: EnsembleContext) -> EnsembleContext:
        """Each member's per-structure tables (``member.prepare``) where it has one."""
        self._check(context)
        prepared = []
        for member, member_context in zip(self.members, context):
            prepare = getattr(member, "prepare", None)
            prepared.append(prepare(member_context) if callable(prepare) else member_context)
        return EnsembleContext(prepared)

    def forward(
        self,
        context: EnsembleContext,
        edge_src: torch.Tensor,
        edge_dst: torch.Tensor,
        edge_vectors: torch.Tensor,
        num_probes: int,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        self._check(context)
        densities, representations = [], []
        for member, member_context in zip(self.members, context):
            density, representation = member(member_context, edge_src, edge_dst, edge_vectors, num_probes)
            densities.append(density)
            representations.append(representation)
        dtype = functools.reduce(torch.promote_types, (r.dtype for r in representations))
        combined = combine_densities(densities, self.combine)
        return combined, torch.cat([r.to(dtype) for r in representations], dim=1)

    def _check(self, context: Any) -> None:
        if not isinstance(context, EnsembleContext) or len(context) != len(self.members):
            got = f"{len(context)} contexts" if isinstance(context, EnsembleContext) else type(context).__name__
            raise TypeError(f"a {len(self.members)}-member ensemble needs an EnsembleContext of that length, got {got}")
