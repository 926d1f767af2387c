"""Irreducible-representation bookkeeping for the DeePAW architecture.

Everything here is pure :mod:`e3nn.o3` irreps arithmetic (no weights, no tensor products are
built), so it is cheap enough to run many times while inferring a checkpoint's configuration.
"""

from __future__ import annotations

from dataclasses import dataclass

from e3nn import o3

#: Irrep of the one scalar that the gates are made of when no even scalar path exists.
EVEN_SCALAR = o3.Irrep("0e")
ODD_SCALAR = o3.Irrep("0o")


def hidden_irreps(mul: int, lmax: int) -> o3.Irreps:
    """Hidden feature irreps: every ``l <= lmax`` in both parities, about ``mul`` channels in total.

    Each (l, parity) block gets ``round(mul / (lmax + 1) / (2l + 1))`` copies, odd parity first,
    so that every ``l`` carries roughly the same number of scalars' worth of features.  For the
    published size (mul 500, lmax 4) this is 100x0o+100x0e+33x1o+...+11x4e (992 numbers).
    """
    blocks = []
    for l in range(lmax + 1):
        copies = round(mul / (lmax + 1) / (2 * l + 1))
        for parity in (-1, 1):
            blocks.append((copies, (l, parity)))
    return o3.Irreps(blocks)


def reachable(irreps_in: o3.Irreps, irreps_edge: o3.Irreps, target: o3.Irrep) -> bool:
    """Whether ``target`` appears in the tensor product of any input irrep with any edge irrep."""
    target = o3.Irrep(target)
    return any(
        target in ir_in * ir_edge
        for _, ir_in in o3.Irreps(irreps_in).simplify()
        for _, ir_edge in o3.Irreps(irreps_edge).simplify()
    )


@dataclass(frozen=True)
class GateLayout:
    """Irreps that one gated layer consumes and produces.

    ``scalars`` pass through their activation, ``gates`` are the extra scalars (one per gated
    channel) whose activations multiply the ``gated`` (l > 0) features.  The convolution must
    produce ``irreps_in`` (scalars + gates + gated, sorted by irrep); the gate outputs
    ``irreps_out`` (scalars then gated).
    """

    scalars: o3.Irreps
    gates: o3.Irreps
    gated: o3.Irreps

    @property
    def irreps_in(self) -> o3.Irreps:
        # e3nn's Gate expects its input sorted by irrep and simplified, not concatenated.
        return (self.scalars + self.gates + self.gated).sort().irreps.simplify()

    @property
    def irreps_out(self) -> o3.Irreps:
        return self.scalars + self.gated


def gate_layout(irreps_node: o3.Irreps, irreps_edge: o3.Irreps, hidden: o3.Irreps) -> GateLayout:
    """The gate of a layer whose node input is ``irreps_node`` (only reachable irreps are kept)."""
    scalars = o3.Irreps(
        [(m, ir) for m, ir in hidden if ir.l == 0 and reachable(irreps_node, irreps_edge, ir)]
    ).simplify()
    gated = o3.Irreps(
        [(m, ir) for m, ir in hidden if ir.l > 0 and reachable(irreps_node, irreps_edge, ir)]
    )
    gate_ir = EVEN_SCALAR if reachable(irreps_node, irreps_edge, EVEN_SCALAR) else ODD_SCALAR
    gates = o3.Irreps([(m, gate_ir) for m, _ in gated]).simplify()
    return GateLayout(scalars, gates, gated)


def message_irreps(
    irreps_sender: o3.Irreps, irreps_edge: o3.Irreps, irreps_output: o3.Irreps
) -> tuple[o3.Irreps, list[tuple[int, int, int, str, bool]]]:
    """Irreps and ``uvu`` instructions of the sender x edge tensor product of a convolution.

    Every product path whose output irrep is needed by the layer output (or is the even scalar
    used for the rotation angle) is kept, one block per path, then the blocks are sorted by irrep
    (as e3nn's ``Irreps.sort`` does) and the instructions renumbered accordingly.
    """
    irreps_output = o3.Irreps(irreps_output)
    blocks: list[tuple[int, o3.Irrep]] = []
    instructions = []
    for i, (mul, ir_in) in enumerate(o3.Irreps(irreps_sender)):
        for j, (_, ir_edge) in enumerate(o3.Irreps(irreps_edge)):
            for ir_out in ir_in * ir_edge:
                if ir_out in irreps_output or ir_out == EVEN_SCALAR:
                    instructions.append((i, j, len(blocks), "uvu", True))
                    blocks.append((mul, ir_out))
    unsorted = o3.Irreps(blocks)
    sorted_irreps, permutation, _ = unsorted.sort()
    instructions = [(i, j, permutation[k], mode, w) for i, j, k, mode, w in instructions]
    return sorted_irreps, instructions


def linear_weight_numel(irreps_in: o3.Irreps, irreps_out: o3.Irreps) -> int:
    """Weights of a fully connected tensor product with a single ``0e`` attribute (a linear map)."""
    return sum(
        m_in * m_out
        for m_in, ir_in in o3.Irreps(irreps_in)
        for m_out, ir_out in o3.Irreps(irreps_out)
        if ir_in == ir_out
    )
