"""Memory layout of the fast message computation of one probe layer, and its per-atom tables.

Contraction scheme (why it is hand-written): e3nn evaluates each ``uvu`` path per edge as
``w[e,u] * sum_{m1,m2} C[m1,m2,m3] x[src,u,m1] Y[e,m2]`` (u*m1*m2*m3 multiply-adds per path,
about 1.0 M per edge for the published model, through many small einsums).  Here the sender
side is contracted once per *atom*::

    A[atom, m2, (m3, u)] = coefficient * sum_{m1} C[m1, m2, m3] x[atom, u, m1]

so that an edge only needs ``T[e] = Y[e] @ A[src(e)]`` -- a dense matrix product over the
edges of each source atom (u*m2*m3 per path, 0.24 M per edge) -- followed by the scaling with
the radial weights ``w[e, u]`` and the sum over the edges of each probe.  Paths are grouped by
edge degree ``l2`` (``groups``) so each product only touches the harmonics it needs.

Columns of a group's ``T`` are ordered ``[ir_out][m3][path, u]``: the radial weights then
broadcast over ``m3`` as one strided multiply per block, and after the per-probe sum the
columns are permuted (once per probe, not per edge) to ``[ir_out][m3][group, path, u]`` so
``lin2``/``lin3`` become one matrix product per output irrep.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from e3nn import o3

from deepaw_nb.kernels.extract import Path


@dataclass
class Block:
    """Columns ``[start, start + m3 * width)`` of a group's T: irrep ``ir``, (m3, width) layout.

    ``weight_start``: first of the ``width`` radial-weight columns (permuted order) it uses.
    """

    ir: o3.Irrep
    start: int
    width: int
    weight_start: int
    paths: list[Path] = field(default_factory=list)

    @property
    def size(self) -> int:
        return self.ir.dim * self.width


@dataclass
class Group:
    """Paths whose edge degree ``l2`` lies in ``degrees``; ``sh_slice`` selects their harmonics."""

    degrees: tuple[int, ...]
    sh_slice: slice
    blocks: list[Block]
    columns: int

    def weight_columns(self) -> torch.Tensor:
        """(columns,) long: for each T column, the radial-weight column (plan order) scaling it."""
        index = [
            torch.arange(b.weight_start, b.weight_start + b.width).repeat(b.ir.dim) for b in self.blocks
        ]
        return torch.cat(index) if index else torch.zeros(0, dtype=torch.long)


class LayerPlan:
    """Column bookkeeping of one layer's messages (built once per kernel).

    Attributes:
        groups: the degree groups with their blocks.
        weight_order: (num_weights,) long; radial weights permuted into block order.
        mid_order: per output irrep (the order of ``irreps``), the rows of the ``lin2`` matrix
            (copies of that irrep in e3nn's mid irreps) in kernel order.
        probe_permutation: (total columns,) long; probe messages from ``[group][ir][m3][k]`` to
            ``[ir][m3][group, k]`` (``None`` if that is the identity).
        irreps: the distinct message irreps, in order; ``widths[ir]`` = copies over all groups.
    """

    def __init__(self, paths: list[Path], irreps_mid: o3.Irreps, groups: tuple[tuple[int, ...], ...]) -> None:
        self.paths = paths
        self.irreps = [ir for _, ir in o3.Irreps(irreps_mid).simplify()]
        degrees = sorted({p.l2 for p in paths})
        if sorted(d for g in groups for d in g) != degrees:
            raise ValueError(f"groups {groups} do not partition the edge degrees {degrees}")
        mid_copy_start = self._mid_copy_starts(o3.Irreps(irreps_mid))
        self.groups: list[Group] = []
        weight_order: list[int] = []
        self.mid_order: dict[o3.Irrep, list[int]] = {ir: [] for ir in self.irreps}
        for group in groups:
            group = tuple(sorted(group))
            if group != tuple(range(group[0], group[-1] + 1)):
                raise ValueError(f"degree group {group} must be a contiguous range")
            sh_slice = slice(group[0] ** 2, (group[-1] + 1) ** 2)
            blocks, column = [], 0
            for ir in self.irreps:
                chosen = [p for p in paths if p.l2 in group and p.ir_out == ir]
                if not chosen:
                    continue
                width = sum(p.mul for p in chosen)
                blocks.append(Block(ir, column, width, len(weight_order), chosen))
                column += ir.dim * width
                for p in chosen:
                    weight_order.extend(range(p.weight_offset, p.weight_offset + p.mul))
                    self.mid_order[ir].extend(range(mid_copy_start[p.mid_block], mid_copy_start[p.mid_block] + p.mul))
            self.groups.append(Group(group, sh_slice, blocks, column))
        self.weight_order = torch.tensor(weight_order, dtype=torch.long)
        self.widths = {ir: len(rows) for ir, rows in self.mid_order.items()}
        self.probe_permutation = self._probe_permutation()

    @staticmethod
    def _mid_copy_starts(irreps_mid: o3.Irreps) -> list[int]:
        """Per mid block, the index of its first copy among all copies of the same irrep."""
        seen: dict[o3.Irrep, int] = {}
        starts = []
        for mul, ir in irreps_mid:
            starts.append(seen.get(ir, 0))
            seen[ir] = seen.get(ir, 0) + mul
        return starts

    @property
    def columns(self) -> int:
        """Length of one probe's message vector (e3nn's mid irreps dimension)."""
        return sum(g.columns for g in self.groups)

    def _probe_permutation(self) -> torch.Tensor | None:
        group_offsets, total = [], 0
        for g in self.groups:
            group_offsets.append(total)
            total += g.columns
        order: list[int] = []
        for ir in self.irreps:
            for m in range(ir.dim):
                for g, offset in zip(self.groups, group_offsets):
                    for b in g.blocks:
                        if b.ir == ir:
                            first = offset + b.start + m * b.width
                            order.extend(range(first, first + b.width))
        perm = torch.tensor(order, dtype=torch.long)
        return None if torch.equal(perm, torch.arange(total)) else perm

    @torch.no_grad()
    def atom_tables(self, senders: torch.Tensor) -> list[torch.Tensor]:
        """Per group, ``A`` of shape (atoms, group harmonics, group columns) from lin1 features.

        Args:
            senders: (atoms, dim sender) ``lin1`` outputs of the atoms (a layer's sender features).
        """
        atoms = senders.shape[0]
        tables = []
        for g in self.groups:
            rows = g.sh_slice.stop - g.sh_slice.start
            parts = []
            for b in g.blocks:
                per_path = [self._path_table(p, senders, g.sh_slice.start, rows) for p in b.paths]
                # (atoms, rows, m3, width) -> (atoms, rows, m3 * width)
                parts.append(torch.cat(per_path, dim=3).reshape(atoms, rows, b.size))
            tables.append(torch.cat(parts, dim=2).contiguous())
        return tables

    @staticmethod
    def _path_table(p: Path, senders: torch.Tensor, first_row: int, rows: int) -> torch.Tensor:
        """(atoms, rows, m3, u): coefficient * sum_m1 C[m1, m2, m3] x[atom, u, m1], zero off-degree."""
        x = senders[:, p.sender_slice].reshape(senders.shape[0], p.mul, 2 * p.l1 + 1)
        cg = o3.wigner_3j(p.l1, p.l2, p.ir_out.l, dtype=senders.dtype, device=senders.device)
        table = p.coefficient * torch.einsum("nui,ijk->njku", x, cg)
        out = senders.new_zeros(senders.shape[0], rows, p.ir_out.dim, p.mul)
        start = p.l2**2 - first_row
        out[:, start : start + 2 * p.l2 + 1] = table
        return out
