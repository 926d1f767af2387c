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

Column layout of a group's ``T`` ("slots"): the group's output-irrep blocks are sorted by
dimension, largest first, and the columns are ``[m3][block][path, u]`` where slot ``m3`` only
holds the blocks with ``dim > m3``.  Those blocks are a *prefix* of the sorted list, so the
radial weights of slot ``m3`` are one contiguous prefix of the group's weight columns and the
scaling is one long contiguous multiply per slot.  After the per-probe sum the columns are
regrouped (once per probe, not per edge) to ``[ir_out][m3][group, path, u]`` so ``lin2`` and
``lin3`` become one matrix product per output irrep.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from e3nn import o3

from deepaw_nb.kernels.extract import Path, copy_offsets


@dataclass
class Block:
    """The paths of one group into output irrep ``ir``: ``width`` = sum of their multiplicities.

    ``offset``: position of the block inside every slot that holds it (sum of the widths of
    the larger blocks before it); ``weight_start``: its first radial-weight column (plan order).
    """

    ir: o3.Irrep
    width: int
    offset: int
    weight_start: int
    paths: list[Path] = field(default_factory=list)


@dataclass
class Group:
    """Paths whose edge degree ``l2`` lies in ``degrees``; ``sh_slice`` selects their harmonics.

    ``slots[m3] = (first column, width)``: slot ``m3`` holds the first ``width`` weight
    columns of the group (from ``weight_start``), one for each of its columns.
    """

    degrees: tuple[int, ...]
    sh_slice: slice
    blocks: list[Block]
    weight_start: int
    slots: list[tuple[int, int]]

    @property
    def columns(self) -> int:
        return sum(width for _, width in self.slots)

    def column(self, block: Block, m3: int) -> int:
        """First T column of ``block`` at component ``m3``."""
        return self.slots[m3][0] + block.offset


class LayerPlan:
    """Column bookkeeping of one layer's messages (built once per kernel).

    Attributes:
        groups: the degree groups with their blocks.
        weight_order: (num_weights,) long; radial weights permuted into plan order.
        mid_order: per message irrep, the copies of that irrep in e3nn's mid irreps, in the
            order of the kernel's per-irrep message columns (rows of the ``lin2`` matrix).
        splits, runs: how summed messages are cut and regrouped per irrep (``_probe_runs``).
        irreps: the distinct message irreps, in order; ``widths[ir]`` = copies over all groups.
    """

    def __init__(self, paths: list[Path], irreps_mid: o3.Irreps, groups: tuple[tuple[int, ...], ...]) -> None:
        self.paths = paths
        self.irreps = [ir for _, ir in o3.Irreps(irreps_mid).simplify()]
        degrees = sorted({p.l2 for p in paths})
        if sorted(d for g in groups for d in g) != degrees:
            raise ValueError(f"groups {groups} do not partition the edge degrees {degrees}")
        mid_copy_start = copy_offsets(o3.Irreps(irreps_mid))
        self.groups: list[Group] = []
        weight_order: list[int] = []
        for degrees_g in groups:
            degrees_g = tuple(sorted(degrees_g))
            if degrees_g != tuple(range(degrees_g[0], degrees_g[-1] + 1)):
                raise ValueError(f"degree group {degrees_g} must be a contiguous range")
            sh_slice = slice(degrees_g[0] ** 2, (degrees_g[-1] + 1) ** 2)
            group_weight_start = len(weight_order)
            present = [ir for ir in self.irreps if any(p.l2 in degrees_g and p.ir_out == ir for p in paths)]
            blocks, offset = [], 0
            for ir in sorted(present, key=lambda r: -r.dim):  # stable: irreps order within a dim
                chosen = [p for p in paths if p.l2 in degrees_g and p.ir_out == ir]
                width = sum(p.mul for p in chosen)
                blocks.append(Block(ir, width, offset, len(weight_order), chosen))
                offset += width
                for p in chosen:
                    weight_order.extend(range(p.weight_offset, p.weight_offset + p.mul))
            slots, column = [], 0
            for m3 in range(max((b.ir.dim for b in blocks), default=0)):
                width = sum(b.width for b in blocks if b.ir.dim > m3)
                slots.append((column, width))
                column += width
            self.groups.append(Group(degrees_g, sh_slice, blocks, group_weight_start, slots))
        self.weight_order = torch.tensor(weight_order, dtype=torch.long)
        self.mid_order: dict[o3.Irrep, list[int]] = {ir: [] for ir in self.irreps}
        for g in self.groups:
            for b in g.blocks:
                for p in b.paths:
                    self.mid_order[b.ir].extend(range(mid_copy_start[p.mid_block], mid_copy_start[p.mid_block] + p.mul))
        self.widths = {ir: len(rows) for ir, rows in self.mid_order.items()}
        self.splits, self.runs = self._probe_runs()

    @property
    def columns(self) -> int:
        """Length of one probe's message vector (e3nn's mid irreps dimension)."""
        return sum(g.columns for g in self.groups)

    def _probe_runs(self) -> tuple[list[list[int]], dict[o3.Irrep, list[tuple[int, int]]]]:
        """How to regroup summed messages from slot layout to ``[ir][m3][group, path, u]``.

        Returns ``splits[g]`` (widths that cut group g's columns into runs, in column order) and
        ``runs[ir]`` ((group, run index) of the runs that make up irrep ``ir``, in order).
        """
        splits: list[list[int]] = []
        index: list[dict[tuple[int, int], int]] = []
        for g in self.groups:
            sizes, where = [], {}
            for m3 in range(len(g.slots)):
                for k, b in enumerate(g.blocks):
                    if b.ir.dim > m3:
                        where[(m3, k)] = len(sizes)
                        sizes.append(b.width)
            splits.append(sizes)
            index.append(where)
        runs: dict[o3.Irrep, list[tuple[int, int]]] = {ir: [] for ir in self.irreps}
        for ir in self.irreps:
            for m3 in range(ir.dim):
                for gi, g in enumerate(self.groups):
                    runs[ir].extend((gi, index[gi][(m3, k)]) for k, b in enumerate(g.blocks) if b.ir == ir)
        return splits, runs

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
            # Per block: (atoms, rows, m3, width), paths side by side along the last axis.
            per_block = [
                torch.cat([self._path_table(p, senders, g.sh_slice.start, rows) for p in b.paths], dim=3)
                for b in g.blocks
            ]
            slots = [
                torch.cat([t[:, :, m3] for b, t in zip(g.blocks, per_block) if b.ir.dim > m3], dim=2)
                for m3 in range(len(g.slots))
            ]
            table = torch.cat(slots, dim=2) if slots else senders.new_zeros(atoms, rows, 0)
            tables.append(table.contiguous())
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
