"""One equivariant message-passing layer (convolution + gate), written with e3nn modules.

The same layer serves both halves of ``F_nonlocal``: in the atom model atoms send to atoms, in
the probe model atoms send to probes (grid points) that have features of their own.  Parameter
names (``sc``, ``lin1``, ``tp``, ``fc``, ``lin2``, ``lin3``) follow the DeePAW checkpoints.
"""

from __future__ import annotations

import math

import torch
from e3nn import o3
from e3nn.nn import FullyConnectedNet, Gate
from torch import nn

from deepaw_nb.model.irreps import GateLayout, message_irreps

_SCALAR_ACTIVATION = {1: torch.nn.functional.silu, -1: torch.tanh}
_GATE_ACTIVATION = {1: torch.sigmoid, -1: torch.tanh}

#: Scale of the learned mixing angle between self connection and message.
_ANGLE_SCALE = 0.1


def make_gate(layout: GateLayout) -> Gate:
    """e3nn gate: SiLU/tanh on scalars, sigmoid/tanh gates multiplying l > 0 features."""
    return Gate(
        layout.scalars,
        [_SCALAR_ACTIVATION[ir.p] for _, ir in layout.scalars],
        layout.gates,
        [_GATE_ACTIVATION[ir.p] for _, ir in layout.gates],
        layout.gated,
    )


def ones_attribute(count: int, like: torch.Tensor) -> torch.Tensor:
    """The constant ``0e`` node attribute DeePAW feeds its linear tensor products."""
    return like.new_ones(count, 1)


class Convolution(nn.Module):
    """Equivariant convolution from sender nodes to receiver nodes.

    out = cos(a) * sc(receiver) + sin(a) * lin2(m) for gated channels, where
    m = sum over edges of tp(lin1(sender), Y(edge), fc(radial)) / sqrt(num_neighbors)
    and the angle a = 0.1 * lin3(m) is one learned scalar per receiver.  Channels that the self
    connection cannot produce take the message alone.

    Args:
        irreps_sender: irreps of the sending nodes' features.
        irreps_receiver: irreps of the receiving nodes' features.
        irreps_edge: spherical-harmonic irreps of the edge directions.
        irreps_out: irreps the layer must produce (the gate's input).
        num_basis: radial basis size; radial_hidden: hidden width of the radial MLP.
        num_neighbors: normalisation of the summed messages.
    """

    def __init__(
        self,
        irreps_sender: o3.Irreps,
        irreps_receiver: o3.Irreps,
        irreps_edge: o3.Irreps,
        irreps_out: o3.Irreps,
        num_basis: int,
        radial_hidden: int,
        num_neighbors: float,
    ) -> None:
        super().__init__()
        self.irreps_sender = o3.Irreps(irreps_sender)
        self.irreps_receiver = o3.Irreps(irreps_receiver)
        self.irreps_out = o3.Irreps(irreps_out)
        self.message_norm = 1.0 / math.sqrt(num_neighbors)

        self.sc = o3.FullyConnectedTensorProduct(self.irreps_receiver, "0e", self.irreps_out)
        self.lin1 = o3.FullyConnectedTensorProduct(self.irreps_sender, "0e", self.irreps_sender)
        irreps_mid, instructions = message_irreps(self.irreps_sender, irreps_edge, self.irreps_out)
        self.irreps_mid = irreps_mid
        self.tp = o3.TensorProduct(
            self.irreps_sender,
            irreps_edge,
            irreps_mid,
            instructions,
            internal_weights=False,
            shared_weights=False,
        )
        self.fc = FullyConnectedNet(
            [num_basis, radial_hidden, self.tp.weight_numel], torch.nn.functional.silu
        )
        self.lin2 = o3.FullyConnectedTensorProduct(irreps_mid, "0e", self.irreps_out)
        self.lin3 = o3.FullyConnectedTensorProduct(irreps_mid, "0e", "0e")

    def edge_chunk_for(self, budget_bytes: int) -> int:
        """Edges per chunk so that one chunk's per-edge tensors fit ``budget_bytes`` (float32)."""
        per_edge = self.tp.weight_numel + self.irreps_mid.dim + self.irreps_sender.dim
        return max(256, budget_bytes // (4 * per_edge))

    def sender_features(self, sender: torch.Tensor) -> torch.Tensor:
        """lin1 of the senders: per node, so it can be computed once and cached."""
        return self.lin1(sender, ones_attribute(sender.shape[0], sender))

    def forward(
        self,
        sender_features: torch.Tensor,
        receiver: torch.Tensor,
        edge_src: torch.Tensor,
        edge_dst: torch.Tensor,
        edge_sh: torch.Tensor,
        edge_radial: torch.Tensor,
        edge_chunk: int | None = None,
    ) -> torch.Tensor:
        """Layer output (before the gate) for every receiver.

        Args:
            sender_features: ``sender_features(sender)`` (S, dim sender).
            receiver: receiver features (R, dim receiver).
            edge_src, edge_dst: (E,) sender and receiver index of each edge.
            edge_sh: (E, dim edge) spherical harmonics of the edge directions.
            edge_radial: (E, num_basis) radial basis of the edge lengths.
            edge_chunk: at most this many edges' messages exist at once (bounds memory for
                large cells); ``None`` processes all edges together.
        """
        # Messages are summed in at least fp32, also when autocast makes them bf16/fp16.
        accumulate = torch.promote_types(receiver.dtype, torch.float32)
        summed = receiver.new_zeros(receiver.shape[0], self.irreps_mid.dim, dtype=accumulate)
        step = edge_src.shape[0] if not edge_chunk else int(edge_chunk)
        for start in range(0, edge_src.shape[0], max(step, 1)):
            part = slice(start, start + step)
            weights = self.fc(edge_radial[part])
            messages = self.tp(sender_features[edge_src[part]], edge_sh[part], weights)
            summed = summed.index_add(0, edge_dst[part], messages.to(summed.dtype))
        return self.combine(summed, receiver)

    def combine(self, summed: torch.Tensor, receiver: torch.Tensor) -> torch.Tensor:
        """Layer output from the summed messages (R, dim mid) and the receivers' own features.

        Separate from :meth:`forward` so other message backends (e.g. cuEquivariance) can
        produce ``summed`` and reuse the rest of the layer unchanged.
        """
        ones = ones_attribute(receiver.shape[0], receiver)
        summed = summed * self.message_norm
        self_connection = self.sc(receiver, ones)
        convolved = self.lin2(summed, ones)
        angle = _ANGLE_SCALE * self.lin3(summed, ones)
        has_self = self.sc.output_mask
        sin = (1 - has_self) + angle.sin() * has_self
        return angle.cos() * self_connection + sin * convolved
