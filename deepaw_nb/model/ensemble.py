"""Ensembles of ``F_nonlocal`` networks: the predicted density is the mean of the members'.

Several networks trained on the same data from different seeds or at different widths make
different errors on compositions none of them saw; averaging their densities cancels part
of those errors (measured for the bundled model in ``data/models/README.md``).  The members
share the atom and probe graphs (one cutoff), so only the network work is repeated.

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


class EnsembleContext(tuple):
    """Per-structure inputs of an ensemble's probe models, one entry per member, in order."""


class ProbeEnsemble(nn.Module):
    """Mean density of several probe models; their representations side by side.

    Args:
        members: modules called as ``member(context, edge_src, edge_dst, edge_vectors,
            num_probes) -> (density (P,), representation (P, D_i))``.

    Calling the ensemble with an :class:`EnsembleContext` of matching length returns the mean
    density (P,) in e/Å³, accumulated in float32 even under autocast, and the members'
    representations concatenated to (P, ΣD_i) in member order.
    """

    def __init__(self, members: Sequence[nn.Module]) -> None:
        super().__init__()
        if len(members) < 2:
            raise ValueError(f"an ensemble needs at least two members, got {len(members)}")
        self.members = nn.ModuleList(members)

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
        total: torch.Tensor | None = None
        representations = []
        for member, member_context in zip(self.members, context):
            density, representation = member(member_context, edge_src, edge_dst, edge_vectors, num_probes)
            total = density.float() if total is None else total + density.float()
            representations.append(representation)
        assert total is not None  # at least two members (checked in __init__)
        dtype = functools.reduce(torch.promote_types, (r.dtype for r in representations))
        return total / len(self.members), torch.cat([r.to(dtype) for r in representations], dim=1)

    def _check(self, context: Any) -> None:
        if not isinstance(context, EnsembleContext) or len(context) != len(self.members):
            got = f"{len(context)} contexts" if isinstance(context, EnsembleContext) else type(context).__name__
            raise TypeError(f"a {len(self.members)}-member ensemble needs an EnsembleContext of that length, got {got}")
