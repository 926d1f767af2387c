"""Shapes of every learned tensor of ``F_nonlocal``, computed from irreps alone.

Used to infer a checkpoint's configuration and to report precisely which keys do not fit,
without building the (slow to construct) e3nn tensor products for every candidate.
"""

from __future__ import annotations

from e3nn import o3

from deepaw_nb.model.config import ModelConfig
from deepaw_nb.model.irreps import gate_layout, hidden_irreps, linear_weight_numel, message_irreps

Shape = tuple[int, ...]


def _stack_shapes(
    prefix: str,
    config: ModelConfig,
    irreps_input: o3.Irreps,
    sender_irreps: list[o3.Irreps] | None,
) -> tuple[dict[str, Shape], list[o3.Irreps]]:
    irreps_sh = o3.Irreps.spherical_harmonics(config.lmax)
    hidden = hidden_irreps(config.mul, config.lmax)
    shapes: dict[str, Shape] = {
        f"{prefix}.basis.mean": (config.num_basis,),
        f"{prefix}.basis.inv_std": (config.num_basis,),
    }
    sequence = []
    node = o3.Irreps(irreps_input)
    for layer in range(config.num_interactions):
        senders = node if sender_irreps is None else sender_irreps[layer]
        layout = gate_layout(node, irreps_sh, hidden)
        out = layout.irreps_in
        mid, instructions = message_irreps(senders, irreps_sh, out)
        tp_numel = sum(senders[i].mul for i, *_ in instructions)
        conv = f"{prefix}.interaction_block.convolutions.{layer}"
        shapes.update(
            {
                f"{conv}.sc.weight": (linear_weight_numel(node, out),),
                f"{conv}.lin1.weight": (linear_weight_numel(senders, senders),),
                f"{conv}.tp.weight": (0,),
                f"{conv}.fc.layer0.weight": (config.num_basis, config.radial_hidden),
                f"{conv}.fc.layer1.weight": (config.radial_hidden, tp_numel),
                f"{conv}.lin2.weight": (linear_weight_numel(mid, out),),
                f"{conv}.lin3.weight": (linear_weight_numel(mid, o3.Irreps("0e")),),
                f"{prefix}.interaction_block.gates.{layer}.mul.weight": (0,),
            }
        )
        node = layout.irreps_out
        sequence.append(node)
    return shapes, sequence


def learned_shapes(config: ModelConfig) -> dict[str, Shape]:
    """Key -> shape of every learned tensor (and basis statistics) of ``F_nonlocal``."""
    shapes, atom_sequence = _stack_shapes(
        "atom_model", config, o3.Irreps(f"{config.num_species}x0e"), None
    )
    probe_shapes, probe_sequence = _stack_shapes("probe_model", config, o3.Irreps("0e"), atom_sequence)
    shapes.update(probe_shapes)
    final = probe_sequence[-1]
    shapes["probe_model.readout.weight"] = (linear_weight_numel(final, o3.Irreps("0e")),)
    shapes["probe_model.readout.bias"] = (0,)
    return shapes


def representation_dim(config: ModelConfig) -> int:
    """Length of the final probe representation (the ``F_local`` input) for ``config``."""
    _, atom_sequence = _stack_shapes("atom_model", config, o3.Irreps(f"{config.num_species}x0e"), None)
    _, probe_sequence = _stack_shapes("probe_model", config, o3.Irreps("0e"), atom_sequence)
    return probe_sequence[-1].dim


def mismatches(state_shapes: dict[str, Shape], expected: dict[str, Shape]) -> list[str]:
    """Human-readable differences between a checkpoint's shapes and the expected ones."""
    problems = [f"missing {key}" for key in expected if key not in state_shapes]
    problems += [f"unexpected {key}" for key in state_shapes if key not in expected]
    problems += [
        f"{key} has shape {tuple(state_shapes[key])}, expected {shape}"
        for key, shape in expected.items()
        if key in state_shapes and tuple(state_shapes[key]) != tuple(shape)
    ]
    return problems
