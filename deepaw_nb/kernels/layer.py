"""One probe layer (convolution + gate) evaluated with the fast contraction scheme of plan.py."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from e3nn import o3
from torch import nn

from deepaw_nb.kernels import fused_c, radial_table
from deepaw_nb.kernels.extract import (
    linear_blocks,
    radial_weights,
    tensor_product_paths,
)
from deepaw_nb.kernels.gemm import linear
from deepaw_nb.kernels.plan import LayerPlan
from deepaw_nb.model.convolution import _ANGLE_SCALE, Convolution

#: Tiles of a chunk's edges (sorted by sender): (first, end, [(atom, first, end), ...]) with
#: one segment per sender present in the tile.
Tiles = list[tuple[int, int, list[tuple[int, int, int]]]]

#: Radial-weight bytes one tile of the fused path may hold (2 MiB: about 155 edges of the
#: published model, a whole chunk of the bundled small model).
FUSED_TILE_BYTES = 2 * 2**20


def edge_tiles(counts: list[int], size: int) -> Tiles:
    """Split edges sorted by sender (``counts[atom]`` edges each) into tiles of ``size`` edges."""
    runs, start = [], 0
    for atom, count in enumerate(counts):
        if count:
            runs.append((atom, start, start + count))
            start += count
    tiles, index = [], 0
    for first in range(0, start, size):
        last = min(first + size, start)
        while runs[index][2] <= first:
            index += 1
        segments, k = [], index
        while k < len(runs) and runs[k][1] < last:
            atom, lo, hi = runs[k]
            segments.append((atom, max(lo, first), min(hi, last)))
            k += 1
        tiles.append((first, last, segments))
    return tiles


@dataclass(frozen=True)
class RadialWeightsSource:
    """Where a chunk's radial weights come from instead of the radial MLP: this layer's
    :class:`~deepaw_nb.kernels.radial_table.RadialTable`, the C table function and the
    chunk's edge lengths ((E,) float32 contiguous, Å)."""

    table: radial_table.RadialTable
    function: object
    lengths: torch.Tensor


class FastLayer(nn.Module):
    """The same function as ``gate(conv(...))`` of one probe layer, from that layer's weights.

    Buffers hold plain matrices read out of the e3nn modules: ``second`` (radial MLP output
    layer, (hidden, weights), columns in plan order) and, transposed for
    :func:`~deepaw_nb.kernels.gemm.linear`, ``lin_t_<k>`` (``lin2`` for message irrep k, with
    ``lin3`` as an extra row for 0e, times 1/sqrt(num_neighbors)) and ``sc_t_<k>`` (self
    connection into output block k).
    The e3nn ``gate`` module itself is reused (it is per probe and cheap).
    """

    def __init__(self, conv: Convolution, gate: nn.Module, groups: tuple[tuple[int, ...], ...]) -> None:
        super().__init__()
        self.plan = LayerPlan(tensor_product_paths(conv.tp), conv.irreps_mid, groups)
        radial = radial_weights(conv.fc)
        self.register_buffer("first", radial.first)
        self.register_buffer("second", radial.second[:, self.plan.weight_order].contiguous())
        # Per group, (first column, width) of every slot, and the group's first weight column.
        self._slots = [(g.slots, g.weight_start) for g in self.plan.groups]
        # Column blocks of every group for the fused C messages (fused_messages.c), and the
        # radial output layer cut into the same weight blocks: a batched product then writes
        # each tile's weights block-major directly (no re-layout copy per tile).
        self.block_layouts = [fused_c.block_layout(g.slots) for g in self.plan.groups]
        blocks, self._weight_blocks = [], []
        for group, layout in zip(self.plan.groups, self.block_layouts):
            count = -(-layout.weight_width // fused_c.BLOCK)
            columns = self.second[:, group.weight_start : group.weight_start + layout.weight_width]
            padded = torch.nn.functional.pad(columns, (0, count * fused_c.BLOCK - layout.weight_width))
            self._weight_blocks.append((sum(b.shape[0] for b in blocks), count))
            blocks.append(padded.view(-1, count, fused_c.BLOCK).permute(1, 0, 2))
        self.register_buffer("second_blocked", torch.cat(blocks).contiguous())
        self._irrep_gather = self._block_gather()
        # Edges per fused tile: the tile's radial weights (weight blocks x BLOCK floats per
        # edge) stay within FUSED_TILE_BYTES, and many small products are avoided for small
        # models (whose weights are a few hundred floats per edge).
        per_edge = 4 * fused_c.BLOCK * self.second_blocked.shape[0]
        self._fused_tile_edges = max(1, FUSED_TILE_BYTES // per_edge)
        self.gate = gate
        self.irreps_out = o3.Irreps(conv.irreps_out)
        self.irreps_receiver = o3.Irreps(conv.irreps_receiver)
        if any(mul == 0 for mul, _ in self.irreps_out) or len(self.irreps_out) != len(self.irreps_out.simplify()):
            raise ValueError(f"layer output irreps {self.irreps_out} must be simplified")
        self._read_linear_maps(conv)

    def _read_linear_maps(self, conv: Convolution) -> None:
        lin2, lin3, sc = linear_blocks(conv.lin2), linear_blocks(conv.lin3), linear_blocks(conv.sc)
        scalar = o3.Irrep("0e")
        self.has_angle = scalar in lin3
        for k, ir in enumerate(self.plan.irreps):
            rows = torch.tensor(self.plan.mid_order[ir], dtype=torch.long)
            parts = [lin2[ir][rows]] if ir in lin2 else [torch.zeros(len(rows), 0)]
            if ir == scalar and self.has_angle:
                parts.append(lin3[scalar][rows])
            matrix = torch.cat(parts, dim=1) * conv.message_norm
            self.register_buffer(f"lin_t_{k}", matrix.t().contiguous())
        mask = conv.sc.output_mask
        # Per output block: (irrep, multiplicity, self-connected?, receiver slice or None).
        self._out_blocks = []
        receiver_slices = {ir: sl for (_, ir), sl in zip(self.irreps_receiver, self.irreps_receiver.slices())}
        for k, ((mul, ir), block) in enumerate(zip(self.irreps_out, self.irreps_out.slices())):
            values = mask[block].unique()
            if len(values) != 1:
                raise ValueError("self-connection mask is not uniform within an irrep block")
            if ir in sc:
                if len([r for _, r in self.irreps_receiver if r == ir]) != 1:
                    raise ValueError(f"receiver irreps {self.irreps_receiver} must hold {ir} in one block")
                self.register_buffer(f"sc_t_{k}", sc[ir].t().contiguous())
            self._out_blocks.append((ir, mul, bool(values.item() != 0), receiver_slices.get(ir) if ir in sc else None))

    def _block_gather(self) -> dict[o3.Irrep, torch.Tensor]:
        """Per message irrep, the columns of the layer's block-major sums (all groups' blocks
        side by side, probes x blocks * BLOCK) in the order the torch path's regrouping gives
        (``[m3][group, path, u]``): one gather replaces unblocking, splitting and joining."""
        first_block = [0]
        for layout in self.block_layouts:
            first_block.append(first_block[-1] + layout.blocks)
        run_starts = [[0, *torch.tensor(sizes).cumsum(0).tolist()] for sizes in self.plan.splits]
        gather = {}
        for ir in self.plan.irreps:
            parts = []
            for g, i in self.plan.runs[ir]:
                columns = self.block_layouts[g].unblock[run_starts[g][i] : run_starts[g][i + 1]]
                parts.append(columns + first_block[g] * fused_c.BLOCK)
            gather[ir] = torch.cat(parts)
        return gather

    def messages(
        self,
        tables: list[torch.Tensor],
        sh: torch.Tensor,
        hidden: torch.Tensor,
        dst: torch.Tensor,
        tiles: Tiles,
        probes: int,
    ) -> list[torch.Tensor]:
        """Summed probe messages, per group (probes, group columns) in slot layout (plan.py).

        Args:
            tables: ``plan.atom_tables`` of this layer's senders (per group), in ``sh.dtype``.
            sh: (E, dim sh) edge harmonics (dtype of the per-edge work); hidden: (E, radial
                hidden) ``silu(basis @ first)`` (dtype of the dense products);
            dst: (E,) probe index within the chunk; edges sorted by sender.
            tiles: :func:`edge_tiles` of the sorted senders.

        Per tile of edges: ``T = Y @ A[atom]`` (one product per sender in the tile),
        ``T *= w`` (one contiguous multiply per slot, see plan.py), ``M.index_add_(dst, T)``; the
        (edges, columns) message matrix never exists, only a cache-sized (tile, columns) block.
        """
        size = tiles[0][1] - tiles[0][0] if tiles else 1
        second = self.second.to(hidden.dtype)
        weight_buffer = hidden.new_empty(size, second.shape[1])
        edge = sh.dtype
        state = []
        for group, (slots, w0), table in zip(self.plan.groups, self._slots, tables):
            buffer = sh.new_empty(size, group.columns)
            views = [buffer[:, c0 : c0 + width] for c0, width in slots]
            state.append((slots, w0, table, sh[:, group.sh_slice], buffer, views))
        summed = [sh.new_zeros(probes, group.columns) for group in self.plan.groups]
        for first, last, segments in tiles:
            n = last - first
            # Radial weights of this tile only (the chunk's would be ~13 kB per edge).
            w = torch.mm(hidden[first:last], second, out=weight_buffer[:n]).to(edge)
            for (slots, w0, table, y, buffer, full_views), total in zip(state, summed):
                for atom, lo, hi in segments:
                    torch.mm(y[lo:hi], table[atom], out=buffer[lo - first : hi - first])
                views = full_views if n == size else [buffer[:n, c0 : c0 + width] for c0, width in slots]
                torch._foreach_mul_(views, [w[:, w0 : w0 + width] for _, width in slots])
                total.index_add_(0, dst[first:last], buffer[:n])
        return summed

    def messages_fused(  # type: ignore[no-untyped-def]
        self,
        function,
        tables: list[torch.Tensor],
        sh: torch.Tensor,
        hidden: torch.Tensor | None,
        src: torch.Tensor,
        dst: torch.Tensor,
        probes: int,
        radial: RadialWeightsSource | None = None,
    ) -> dict[o3.Irrep, torch.Tensor]:
        """The same sums as :meth:`messages`, each group's product, scaling and sum over edges
        fused into one C call per tile (CPU, float32; ``function`` from :mod:`fused_c`), and
        returned already regrouped per message irrep like :meth:`irrep_blocks`.

        ``tables`` are the groups' :func:`~fused_c.blocked_table`; ``src`` (E,) the senders
        (sorted: runs of one atom are fastest), ``dst`` (E,) the probes within the chunk.
        Edges are taken in tiles of ``FUSED_TILE_BYTES`` of radial weights.  With ``radial``
        (this layer's table, its C function and the edge lengths), each tile's weights come
        from the table and ``hidden`` is not used.
        """
        edges = sh.shape[0]
        size = max(1, min(edges, self._fused_tile_edges))
        blocks_w = self.second_blocked.shape[0]
        second = self.second_blocked.to(hidden.dtype) if radial is None else None  # (weight blocks, hidden, BLOCK)
        like = hidden if radial is None else sh
        buffer = like.new_empty(blocks_w, size, fused_c.BLOCK)
        every = sh.new_zeros(sum(layout.blocks for layout in self.block_layouts), probes, fused_c.BLOCK)
        sums = list(torch.split(every, [layout.blocks for layout in self.block_layouts]))
        for first in range(0, edges, size):
            last = min(first + size, edges)
            n = last - first
            out = buffer if n == size else like.new_empty(blocks_w, n, fused_c.BLOCK)
            if radial is None:
                w = torch.bmm(hidden[first:last].expand(blocks_w, n, -1), second, out=out).to(sh.dtype)
            else:
                w = radial_table.fill_weights(radial.function, radial.table, radial.lengths[first:last], out)
            for group, layout, (block0, count), table, total in zip(
                self.plan.groups, self.block_layouts, self._weight_blocks, tables, sums
            ):
                y = sh[first:last, group.sh_slice]
                weights = w[block0 : block0 + count]
                fused_c.fused_messages(function, total, y, src[first:last], dst[first:last], table, weights, layout)
        flat = every.transpose(0, 1).reshape(probes, -1)  # (probes, blocks * BLOCK)
        # index_select: ~4x faster than advanced indexing at these sizes (measured).
        return {ir: torch.index_select(flat, 1, index) for ir, index in self._irrep_gather.items()}

    def irrep_blocks(self, summed: list[torch.Tensor]) -> dict[o3.Irrep, torch.Tensor]:
        """Summed messages per group (slot layout) regrouped per message irrep: (P, m * K) with
        columns ``[m3][group, path, u]``."""
        pieces = [torch.split(total, sizes, dim=1) for total, sizes in zip(summed, self.plan.splits)]
        return {ir: torch.cat([pieces[g][i] for g, i in self.plan.runs[ir]], dim=1) for ir in self.plan.irreps}

    def forward(
        self,
        tables: list[torch.Tensor],
        features: torch.Tensor | None,
        sh: torch.Tensor,
        hidden: torch.Tensor | None,
        dst: torch.Tensor,
        tiles: Tiles | None,
        probes: int,
        src: torch.Tensor | None = None,
        fused=None,  # type: ignore[no-untyped-def]
        radial: RadialWeightsSource | None = None,
        dtype: torch.dtype | None = None,
    ) -> torch.Tensor:
        """Gated layer output (probes, dim gate out) in e3nn layout, float32.

        ``features`` are the probes' input features (e3nn layout, float32); ``None`` means zero
        (layer 0), which makes the self connection vanish.  With ``fused`` (the C function of
        :mod:`fused_c`), ``tables`` are blocked and the messages are summed by
        :meth:`messages_fused` from the senders ``src`` (``tiles`` is not used then), and
        ``radial`` may replace the radial MLP by its table (``hidden`` is then ``None``).
        ``dtype``: of the dense products (default: ``hidden``'s).
        """
        if fused is not None:
            assert src is not None
            blocks = self.messages_fused(fused, tables, sh, hidden, src, dst, probes, radial)
        else:
            assert tiles is not None and radial is None
            blocks = self.irrep_blocks(self.messages(tables, sh, hidden, dst, tiles, probes))
        dtype = dtype if dtype is not None else hidden.dtype
        convolved: dict[o3.Irrep, torch.Tensor] = {}
        angle = None
        for k, ir in enumerate(self.plan.irreps):
            block = blocks[ir]  # (P, m * K)
            block = block.view(probes * ir.dim, self.plan.widths[ir]).to(dtype)
            result = linear(block, getattr(self, f"lin_t_{k}").to(dtype)).float()
            result = result.view(probes, ir.dim, -1)  # (P, m, W [+1])
            if ir == o3.Irrep("0e") and self.has_angle:
                angle = _ANGLE_SCALE * result[:, 0, -1:]
                result = result[..., :-1]
            convolved[ir] = result
        if angle is None:
            angle = sh.new_zeros(probes, 1, dtype=torch.float32)
        cos, sin = angle.cos()[:, :, None], angle.sin()[:, :, None]
        pieces = []
        for k, (ir, mul, self_connected, receiver_slice) in enumerate(self._out_blocks):
            conv = convolved.get(ir)
            if conv is None:
                conv = angle.new_zeros(probes, ir.dim, mul)
            out = sin * conv if self_connected else conv
            if features is not None and receiver_slice is not None:
                receiver = features[:, receiver_slice].reshape(probes, -1, ir.dim).transpose(1, 2)
                own = linear(receiver.reshape(probes * ir.dim, -1), getattr(self, f"sc_t_{k}"))
                out = out + cos * own.view(probes, ir.dim, mul)
            pieces.append(out.transpose(1, 2).reshape(probes, mul * ir.dim))
        return self.gate(torch.cat(pieces, dim=1))
