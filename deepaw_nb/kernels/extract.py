"""Reading plain matrices out of the e3nn modules of a probe layer (no re-parametrisation).

Everything here runs once, when a fast kernel is built.  The matrices are read by *evaluating*
the e3nn modules on unit inputs wherever possible, so e3nn's normalisation conventions (path
weights, fan-in factors, normalised activations) are taken over exactly instead of re-derived.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from e3nn import o3
from e3nn.nn import FullyConnectedNet

from deepaw_nb.errors import CheckpointError


def copy_starts(irreps: o3.Irreps, ir: o3.Irrep) -> list[int]:
    """Offsets (into an ``irreps`` feature vector) of the first component of every copy of ``ir``.

    Copies are listed in the order e3nn stores them (block by block, multiplicity-major).
    """
    starts = []
    for (mul, block_ir), block in zip(irreps, irreps.slices()):
        if block_ir == ir:
            starts.extend(block.start + c * ir.dim for c in range(mul))
    return starts


@torch.no_grad()
def linear_blocks(tp: o3.FullyConnectedTensorProduct) -> dict[o3.Irrep, torch.Tensor]:
    """Per irrep, the matrix of a ``FullyConnectedTensorProduct(irreps_in, "0e", irreps_out)``.

    DeePAW uses such tensor products with a constant ``0e`` attribute equal to 1 as equivariant
    linear maps: on the copies of each irrep ``ir`` they act as ``out[w, m] = sum_u L[u, w]
    in[u, m]`` with the same ``L`` for every component ``m``.  Returns ``L`` (copies of ir in the
    input, copies of ir in the output; float32) for every irrep present on both sides.

    Each instruction contributes ``path_weight * C(l, 0, l) * weight`` with e3nn's
    ``wigner_3j(l, 0, l) = I / sqrt(2l + 1)``; the result is checked against the module itself
    on random inputs, so a change of e3nn's conventions fails loudly instead of silently.
    """
    irreps_in, irreps_out = o3.Irreps(tp.irreps_in1), o3.Irreps(tp.irreps_out)
    if o3.Irreps(tp.irreps_in2) != o3.Irreps("0e"):
        raise CheckpointError(f"expected a linear tensor product with a 0e attribute, got {tp}; use kernel='e3nn'")
    row_start = copy_offsets(irreps_in)
    col_start = copy_offsets(irreps_out)
    blocks: dict[o3.Irrep, torch.Tensor] = {}
    for ir in {ir for _, ir in irreps_out}:
        rows, cols = len(copy_starts(irreps_in, ir)), len(copy_starts(irreps_out, ir))
        if rows:
            blocks[ir] = torch.zeros(rows, cols)
    for _, ins, weight in tp.weight_views(yield_instruction=True):
        if ins.connection_mode != "uvw" or o3.Irreps(tp.irreps_in2)[ins.i_in2].mul != 1:
            raise CheckpointError(f"unsupported linear instruction {ins}; use kernel='e3nn'")
        ir = irreps_in[ins.i_in1].ir
        r0, c0 = row_start[ins.i_in1], col_start[ins.i_out]
        matrix = weight[:, 0, :].float() * (ins.path_weight / math.sqrt(ir.dim))
        blocks[ir][r0 : r0 + matrix.shape[0], c0 : c0 + matrix.shape[1]] += matrix.cpu()
    _check_linear(tp, blocks)
    return {ir: b.to(_device(tp)) for ir, b in blocks.items()}


def copy_offsets(irreps: o3.Irreps) -> list[int]:
    """Per block, the index of its first copy among all copies of the same irrep."""
    seen: dict[o3.Irrep, int] = {}
    starts = []
    for mul, ir in irreps:
        starts.append(seen.get(ir, 0))
        seen[ir] = seen.get(ir, 0) + mul
    return starts


def _device(module: torch.nn.Module) -> torch.device:
    tensor = next(iter(module.parameters()), None)
    return tensor.device if tensor is not None else torch.device("cpu")


def _check_linear(tp: o3.FullyConnectedTensorProduct, blocks: dict[o3.Irrep, torch.Tensor]) -> None:
    """Compare the extracted blocks with the e3nn module on two random inputs (float32)."""
    irreps_in, irreps_out = o3.Irreps(tp.irreps_in1), o3.Irreps(tp.irreps_out)
    generator = torch.Generator().manual_seed(0)
    weight = next(iter(tp.parameters()))
    x = torch.randn(2, irreps_in.dim, generator=generator).to(weight)
    expected = tp(x, x.new_ones(2, 1)).float().cpu()
    x = x.float().cpu()
    actual = torch.zeros_like(expected)
    for ir, matrix in blocks.items():
        rows = torch.tensor(copy_starts(irreps_in, ir))[:, None] + torch.arange(ir.dim)
        cols = torch.tensor(copy_starts(irreps_out, ir))[:, None] + torch.arange(ir.dim)
        actual[:, cols.flatten()] = torch.einsum("zui,uw->zwi", x[:, rows], matrix).reshape(2, -1)
    if not torch.allclose(actual, expected, rtol=1e-4, atol=1e-5 * float(expected.abs().max())):
        raise CheckpointError(f"linear weights of {tp} could not be read exactly; use kernel='e3nn'")


@dataclass
class RadialWeights:
    """The radial MLP ``fc`` of one layer as two plain matrices.

    ``weights(basis) = silu(basis @ first) @ second`` with ``first`` (num_basis, hidden) and
    ``second`` (hidden, num_weights); e3nn's fan-in factors and the constant that normalises
    the SiLU's second moment are folded into the matrices.
    """

    first: torch.Tensor
    second: torch.Tensor


@torch.no_grad()
def radial_weights(fc: FullyConnectedNet) -> RadialWeights:
    """Plain matrices of a two-layer e3nn ``FullyConnectedNet`` with a SiLU hidden layer."""
    layers = [getattr(fc, f"layer{i}") for i in range(len(fc.hs) - 1)]
    if len(layers) != 2 or layers[1].act is not None:
        raise CheckpointError(f"the fast kernel expects a radial MLP [basis, hidden, weights], got {fc}; use kernel='e3nn'")
    hidden, out = layers
    act = hidden.act
    if getattr(act, "f", None) is not torch.nn.functional.silu:
        raise CheckpointError(f"the fast kernel expects a SiLU radial MLP, got {act}; use kernel='e3nn'")
    scale = 1.0 if act._is_id else float(act.cst)
    first = hidden.weight / math.sqrt(hidden.h_in * hidden.var_in)
    first_gain = math.sqrt(hidden.var_out)  # applied after the activation, like e3nn
    second = out.weight / math.sqrt(out.h_in * out.var_in / out.var_out)
    return RadialWeights(first.float().contiguous(), (second * (scale * first_gain)).float().contiguous())


@dataclass(frozen=True)
class Path:
    """One ``uvu`` path of the sender x edge tensor product of a layer.

    ``out[e, u, m3] = coefficient * w[e, weight_offset + u]
    * sum_{m1, m2} C[m1, m2, m3] x[src(e), u, m1] Y[e, m2]`` written to mid block ``mid_block``;
    ``C`` is e3nn's ``wigner_3j(l1, l2, l3)``.
    """

    sender_slice: slice
    mul: int
    l1: int
    l2: int
    ir_out: o3.Irrep
    mid_block: int
    weight_offset: int
    coefficient: float


def tensor_product_paths(tp: o3.TensorProduct) -> list[Path]:
    """The instructions of an e3nn ``uvu`` tensor product with per-edge (unshared) weights."""
    if tp.shared_weights or tp.internal_weights:
        raise CheckpointError("the fast kernel needs a tensor product with per-edge weights; use kernel='e3nn'")
    irreps1, irreps2, irreps_out = o3.Irreps(tp.irreps_in1), o3.Irreps(tp.irreps_in2), o3.Irreps(tp.irreps_out)
    slices1 = irreps1.slices()
    if any(mul != 1 for mul, _ in irreps2):
        raise CheckpointError("the fast kernel expects one copy of each edge harmonic; use kernel='e3nn'")
    paths, offset = [], 0
    for ins in tp.instructions:
        if ins.connection_mode != "uvu" or not ins.has_weight:
            raise CheckpointError(f"unsupported tensor-product instruction {ins}; use kernel='e3nn'")
        mul, ir1 = irreps1[ins.i_in1]
        paths.append(
            Path(
                sender_slice=slices1[ins.i_in1],
                mul=mul,
                l1=ir1.l,
                l2=irreps2[ins.i_in2].ir.l,
                ir_out=irreps_out[ins.i_out].ir,
                mid_block=ins.i_out,
                weight_offset=offset,
                coefficient=float(ins.path_weight),
            )
        )
        offset += math.prod(ins.path_shape)
    if offset != tp.weight_numel:
        raise CheckpointError("tensor-product weight bookkeeping disagrees with e3nn; use kernel='e3nn'")
    return paths
