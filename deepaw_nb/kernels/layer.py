"""One probe layer (convolution + gate) evaluated with the fast contraction scheme of plan.py."""

from __future__ import annotations

import torch
from e3nn import o3
from torch import nn

from deepaw_nb.kernels.extract import linear_blocks, radial_weights, tensor_product_paths
from deepaw_nb.kernels.plan import LayerPlan
from deepaw_nb.model.convolution import _ANGLE_SCALE, Convolution

#: Atom runs of a chunk: (atom index, first edge, end edge) over edges sorted by sender.
AtomRuns = list[tuple[int, int, int]]


class FastLayer(nn.Module):
    """The same function as ``gate(conv(...))`` of one probe layer, from that layer's weights.

    Buffers hold plain matrices read out of the e3nn modules: ``second`` (radial MLP output
    layer, columns in plan order), ``lin_<k>`` (``lin2`` of output irrep k, with ``lin3`` as an
    extra column for 0e, scaled by 1/sqrt(num_neighbors)) and ``sc_<k>`` (self connection).
    The e3nn ``gate`` module itself is reused (it is per probe and cheap).
    """

    def __init__(self, conv: Convolution, gate: nn.Module, groups: tuple[tuple[int, ...], ...]) -> None:
        super().__init__()
        self.plan = LayerPlan(tensor_product_paths(conv.tp), conv.irreps_mid, groups)
        radial = radial_weights(conv.fc)
        self.register_buffer("first", radial.first)
        self.register_buffer("second", radial.second[:, self.plan.weight_order].contiguous())
        perm = self.plan.probe_permutation
        self.register_buffer("probe_permutation", perm if perm is not None else torch.zeros(0, dtype=torch.long))
        self.gate = gate
        self.irreps_out = o3.Irreps(conv.irreps_out)
        self.irreps_receiver = o3.Irreps(conv.irreps_receiver)
        if any(mul == 0 for mul, _ in self.irreps_out) or len(self.irreps_out) != len(self.irreps_out.simplify()):
            raise ValueError(f"layer output irreps {self.irreps_out} must be simplified")
        lin2 = linear_blocks(conv.lin2)
        lin3 = linear_blocks(conv.lin3)
        scalar = o3.Irrep("0e")
        self.out_index = {ir: k for k, (_, ir) in enumerate(self.irreps_out)}
        for ir in self.plan.irreps:
            rows = torch.tensor(self.plan.mid_order[ir], dtype=torch.long)
            parts = [lin2[ir][rows]] if ir in lin2 else []
            if ir == scalar and scalar in lin3:
                parts.append(lin3[scalar][rows])
            matrix = torch.cat(parts, dim=1) if parts else torch.zeros(len(rows), 0)
            self.register_buffer(f"lin_{self.plan.irreps.index(ir)}", matrix * conv.message_norm)
        self.has_angle = scalar in lin3
        sc = linear_blocks(conv.sc)
        mask = conv.sc.output_mask
        self.self_connected: dict[o3.Irrep, bool] = {}
        for (mul, ir), block in zip(self.irreps_out, self.irreps_out.slices()):
            values = mask[block].unique()
            if len(values) != 1:
                raise ValueError("self-connection mask is not uniform within an irrep block")
            self.self_connected[ir] = bool(values.item() != 0)
        for ir, matrix in sc.items():
            self.register_buffer(f"sc_{self.out_index[ir]}", matrix)
        self._sc_irreps = [ir for ir in sc]

    def _matrix(self, kind: str, index: int) -> torch.Tensor:
        return getattr(self, f"{kind}_{index}")

    def messages(
        self, tables: list[torch.Tensor], sh: torch.Tensor, hidden: torch.Tensor, dst: torch.Tensor, runs: AtomRuns, probes: int
    ) -> torch.Tensor:
        """Summed probe messages (probes, columns), layout ``[ir][m3][group, path, u]``.

        Args:
            tables: ``plan.atom_tables`` of this layer's senders (per group).
            sh: (E, dim sh) edge harmonics; hidden: (E, radial hidden) ``silu(basis @ first)``;
            dst: (E,) probe index within the chunk; edges sorted by sender as listed in ``runs``.
        """
        weights = hidden @ self.second
        edges = sh.shape[0]
        summed = []
        for group, table in zip(self.plan.groups, tables):
            y = sh[:, group.sh_slice]
            if runs:
                t = torch.cat([y[start:stop] @ table[atom] for atom, start, stop in runs])
            else:
                t = weights.new_zeros(0, group.columns)
            for b in group.blocks:
                view = t[:, b.start : b.start + b.size].view(edges, b.ir.dim, b.width)
                view.mul_(weights[:, None, b.weight_start : b.weight_start + b.width].to(t.dtype))
            summed.append(t.new_zeros(probes, group.columns).index_add_(0, dst, t))
        m = torch.cat(summed, dim=1) if len(summed) > 1 else summed[0]
        if self.probe_permutation.numel():
            m = m[:, self.probe_permutation]
        return m

    def forward(
        self,
        tables: list[torch.Tensor],
        features: torch.Tensor | None,
        sh: torch.Tensor,
        hidden: torch.Tensor,
        dst: torch.Tensor,
        runs: AtomRuns,
        probes: int,
    ) -> torch.Tensor:
        """Gated layer output (probes, dim gate out) in e3nn layout, float32.

        ``features`` are the probes' input features (e3nn layout); ``None`` means zero (layer 0),
        which makes the self connection vanish.
        """
        m = self.messages(tables, sh, hidden, dst, runs, probes)
        convolved: dict[o3.Irrep, torch.Tensor] = {}
        angle = None
        column = 0
        for k, ir in enumerate(self.plan.irreps):
            width = self.plan.widths[ir]
            block = m[:, column : column + ir.dim * width].reshape(probes, ir.dim, width)
            column += ir.dim * width
            result = (block @ self._matrix("lin", k)).float()  # (P, m, W [+1])
            if ir == o3.Irrep("0e") and self.has_angle:
                angle = _ANGLE_SCALE * result[:, 0, -1:]
                result = result[..., :-1]
            if ir in self.out_index:
                convolved[ir] = result
        if angle is None:
            angle = m.new_zeros(probes, 1, dtype=torch.float32)
        cos, sin = angle.cos()[:, :, None], angle.sin()[:, :, None]
        pieces = []
        for (mul, ir), block in zip(self.irreps_out, self.irreps_out.slices()):
            conv = convolved.get(ir)
            if conv is None:
                conv = angle.new_zeros(probes, ir.dim, mul)
            out = sin * conv if self.self_connected[ir] else conv
            if features is not None and ir in self._sc_irreps:
                receiver = features[:, self.irreps_receiver.slices()[self._receiver_block(ir)]]
                receiver = receiver.reshape(probes, -1, ir.dim).transpose(1, 2)
                out = out + cos * (receiver @ self._matrix("sc", self.out_index[ir])).float()
            pieces.append(out.transpose(1, 2).reshape(probes, block.stop - block.start))
        return self.gate(torch.cat(pieces, dim=1))

    def _receiver_block(self, ir: o3.Irrep) -> int:
        blocks = [i for i, (_, r) in enumerate(self.irreps_receiver) if r == ir]
        if len(blocks) != 1:
            raise ValueError(f"receiver irreps {self.irreps_receiver} must hold {ir} in one block")
        return blocks[0]
