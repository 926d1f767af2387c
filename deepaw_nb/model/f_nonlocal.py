"""``F_nonlocal``: the equivariant atom -> probe network of DeePAW, built from e3nn modules.

The network is split in two so a structure's atoms are processed once and the probes are
streamed in batches:

* :class:`AtomModel` turns atomic numbers and the atom graph into one representation per layer;
* :class:`ProbeModel` reads those representations through atom -> probe edges and returns the
  density (e/Å³) and the final probe representation (the input of ``F_local``).

Module and parameter names reproduce the reference checkpoints' ``state_dict`` keys.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from e3nn import o3
from torch import nn

from deepaw_nb.model.config import ModelConfig
from deepaw_nb.model.convolution import Convolution, make_gate
from deepaw_nb.model.irreps import gate_layout, hidden_irreps
from deepaw_nb.model.radial import GaussianRadialBasis


#: Memory for one chunk of atom-graph messages: the atom model of an 8,000-atom cell has
#: ~10^5-10^6 edges, whose messages would not fit at once for the published size.
ATOM_EDGE_CHUNK_BYTES = 256 * 1024**2


class EdgeEmbedding(nn.Module):
    """Base of both halves: spherical harmonics of edge directions, radial basis of lengths.

    Subclasses own ``basis`` directly so the checkpoint keys read ``atom_model.basis.mean``.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.basis = GaussianRadialBasis(config.cutoff, config.num_basis)
        self.spherical_harmonics = o3.SphericalHarmonics(
            o3.Irreps.spherical_harmonics(config.lmax), normalize=True, normalization="component"
        )

    def embed_edges(self, vectors: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(E, dim sh) harmonics and (E, num_basis) radial features of vectors (E, 3) in Å."""
        return self.spherical_harmonics(vectors), self.basis(vectors.norm(dim=1))


class LayerStack(nn.Module):
    """Convolutions and gates of one half of the network (``interaction_block`` in checkpoints).

    Args:
        config: architecture.
        irreps_input: irreps of the receivers' input features.
        sender_irreps: per layer, the senders' irreps; ``None`` means senders are the receivers
            themselves (atom model), otherwise senders are atoms of the given layer irreps.
    """

    def __init__(
        self,
        config: ModelConfig,
        irreps_input: o3.Irreps,
        sender_irreps: list[o3.Irreps] | None,
    ) -> None:
        super().__init__()
        irreps_sh = o3.Irreps.spherical_harmonics(config.lmax)
        hidden = hidden_irreps(config.mul, config.lmax)
        self.convolutions = nn.ModuleList()
        self.gates = nn.ModuleList()
        self.irreps_sequence: list[o3.Irreps] = []
        irreps_node = o3.Irreps(irreps_input)
        for layer in range(config.num_interactions):
            senders = irreps_node if sender_irreps is None else sender_irreps[layer]
            layout = gate_layout(irreps_node, irreps_sh, hidden)
            gate = make_gate(layout)
            if gate.irreps_in != layout.irreps_in or gate.irreps_out != layout.irreps_out:
                raise AssertionError("gate irreps bookkeeping disagrees with e3nn's Gate")
            self.convolutions.append(
                Convolution(
                    senders,
                    irreps_node,
                    irreps_sh,
                    layout.irreps_in,
                    config.num_basis,
                    config.radial_hidden,
                    config.num_neighbors,
                )
            )
            self.gates.append(gate)
            irreps_node = layout.irreps_out
            self.irreps_sequence.append(irreps_node)


class AtomModel(EdgeEmbedding):
    """Atom representations: one tensor (N, dim layer) per interaction layer."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config)
        self.num_species = config.num_species
        self.interaction_block = LayerStack(
            config, o3.Irreps(f"{config.num_species}x0e"), sender_irreps=None
        )

    def forward(
        self,
        atomic_numbers: torch.Tensor,
        edge_src: torch.Tensor,
        edge_dst: torch.Tensor,
        edge_vectors: torch.Tensor,
    ) -> list[torch.Tensor]:
        """Per-layer atom features from atomic numbers (N,) and atom edges (E,), (E,), (E, 3) Å."""
        edge_sh, edge_radial = self.embed_edges(edge_vectors)
        nodes = torch.nn.functional.one_hot(atomic_numbers, self.num_species).to(edge_sh.dtype)
        block = self.interaction_block
        layers = []
        for conv, gate in zip(block.convolutions, block.gates):
            senders = conv.sender_features(nodes)
            chunk = conv.edge_chunk_for(ATOM_EDGE_CHUNK_BYTES)
            nodes = gate(conv(senders, nodes, edge_src, edge_dst, edge_sh, edge_radial, edge_chunk=chunk))
            layers.append(nodes)
        return layers


@dataclass
class AtomContext:
    """What the probe model needs of a structure's atoms, computed once per structure.

    ``sender_features[k]`` is layer k's ``lin1`` applied to the atom representation of layer k
    (per atom, so it is hoisted out of the probe batches).
    """

    representations: list[torch.Tensor]
    sender_features: list[torch.Tensor]

    def to(self, device: torch.device | str) -> "AtomContext":
        return AtomContext(
            [t.to(device) for t in self.representations],
            [t.to(device) for t in self.sender_features],
        )


class ProbeModel(EdgeEmbedding):
    """Density and representation at probe points from cached atom context."""

    def __init__(self, config: ModelConfig, atom_irreps: list[o3.Irreps]) -> None:
        super().__init__(config)
        self.interaction_block = LayerStack(config, o3.Irreps("0e"), sender_irreps=atom_irreps)
        self.irreps_representation = self.interaction_block.irreps_sequence[-1]
        self.readout = o3.Linear(self.irreps_representation, "0e")

    def atom_context(self, atom_representations: list[torch.Tensor]) -> AtomContext:
        """Hoist the per-atom ``lin1`` of every probe layer out of the probe batches."""
        convs = self.interaction_block.convolutions
        senders = [conv.sender_features(rep) for conv, rep in zip(convs, atom_representations)]
        return AtomContext(list(atom_representations), senders)

    def forward(
        self,
        context: AtomContext,
        edge_src: torch.Tensor,
        edge_dst: torch.Tensor,
        edge_vectors: torch.Tensor,
        num_probes: int,
        messages: list | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Density (P,) and representation (P, D) for ``num_probes`` probes.

        Edges go from atom ``edge_src`` to probe ``edge_dst`` with vectors probe - atom image (Å).
        ``messages``: optional per-layer callables ``(senders, src, dst, sh, radial, P)`` that
        return the summed messages (another backend, e.g. cuEquivariance); ``None`` uses each
        convolution's own tensor product.
        """
        edge_sh, edge_radial = self.embed_edges(edge_vectors)
        probes = edge_sh.new_zeros(num_probes, 1)
        block = self.interaction_block
        for k, (conv, gate, senders) in enumerate(zip(block.convolutions, block.gates, context.sender_features)):
            if messages is None:
                out = conv(senders, probes, edge_src, edge_dst, edge_sh, edge_radial)
            else:
                summed = messages[k](senders, edge_src, edge_dst, edge_sh, edge_radial, num_probes)
                out = conv.combine(summed.to(probes.dtype), probes)
            probes = gate(out)
        density = self.readout(probes).squeeze(-1)
        return density, probes


class FNonlocal(nn.Module):
    """DeePAW's ``F_nonlocal`` (atom model + probe model + linear read-out)."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.atom_model = AtomModel(config)
        self.probe_model = ProbeModel(config, self.atom_model.interaction_block.irreps_sequence)

    @property
    def representation_dim(self) -> int:
        """Length D of the probe representation (992 for mul 500, lmax 4)."""
        return self.probe_model.irreps_representation.dim

    def atom_context(
        self,
        atomic_numbers: torch.Tensor,
        edge_src: torch.Tensor,
        edge_dst: torch.Tensor,
        edge_vectors: torch.Tensor,
    ) -> AtomContext:
        """Everything the probe batches need from the atoms, computed once per structure."""
        layers = self.atom_model(atomic_numbers, edge_src, edge_dst, edge_vectors)
        return self.probe_model.atom_context(layers)
