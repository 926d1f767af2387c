"""Probe model with NVIDIA cuEquivariance computing each layer's messages (optional backend).

Each probe layer's channel-wise ("uvu") tensor product of the atoms' ``lin1`` features with the
edge harmonics, weighted per edge by the radial MLP and summed onto the probes, is one call of
``cuequivariance_torch.ChannelWiseTensorProduct`` with fused gather (``indices_1``) and scatter
(``indices_out``).  On CUDA with ``cuequivariance-ops-torch-cu12`` installed that is NVIDIA's
fused kernel when the irreps allow it; elsewhere cuEquivariance's pure-torch method runs
(slow, but it lets CPU tests check the backend against e3nn).

Layout mapping (measured against e3nn 0.5 with cuEquivariance 0.13; a construction-time check
re-verifies it on every build):

* both use ``mul_ir`` layout and the same path normalisation (every path agrees with scale 1);
* NVIDIA's fused kernel (``method="uniform_1d"``) needs equal multiplicities in all irreps;
  DeePAW's irreps are not uniform, so without that the ``naive`` method runs (torch ops);
* cuEquivariance orders its output blocks by its own irrep order (0e before 0o, 2e before 2o),
  e3nn by ``Irreps.sort`` (0o before 0e); blocks of the same irrep keep their path order;
* its per-edge weights are laid out block by block in *its* output order, e3nn's instruction by
  instruction — so the radial MLP's columns are permuted, never the weights themselves.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import torch
from e3nn import o3
from torch import nn

from deepaw_nb.errors import DeviceError
from deepaw_nb.model.convolution import Convolution
from deepaw_nb.model.f_nonlocal import AtomContext, ProbeModel

#: Largest |cuEquivariance − e3nn| / max|e3nn| accepted by the construction-time check.
_CHECK_TOLERANCE = 1e-4


def cueq_available() -> bool:
    """Whether ``cuequivariance_torch`` can be imported."""
    try:
        import cuequivariance  # noqa: F401
        import cuequivariance_torch  # noqa: F401
    except ImportError:
        return False
    return True


def _require() -> None:
    if not cueq_available():
        raise DeviceError(
            "kernel='cueq' needs NVIDIA cuEquivariance: pip install cuequivariance-torch "
            "(plus cuequivariance-ops-torch-cu12 for the CUDA kernels), or use kernel='fast'"
        )


class CueqMessages(nn.Module):
    """Σ over edges of one convolution's tensor-product messages, per receiver, via cuEquivariance.

    Returns the same (R, dim irreps_mid) tensor, in e3nn's column order, as the convolution's
    own ``tp`` + ``index_add``; the convolution's ``fc`` (radial MLP) is shared, not copied.
    """

    def __init__(self, conv: Convolution, device: torch.device) -> None:
        super().__init__()
        _require()
        import cuequivariance as cue
        import cuequivariance_torch as cuet

        self.conv = conv
        wanted = o3.Irreps(conv.irreps_out) + o3.Irreps("0e")  # the angle's 0e is always produced

        def build(method: str):  # type: ignore[no-untyped-def]
            return cuet.ChannelWiseTensorProduct(
                cue.Irreps("O3", str(conv.irreps_sender)),
                cue.Irreps("O3", str(conv.tp.irreps_in2)),
                cue.Irreps("O3", str(wanted.simplify())),
                layout=cue.mul_ir,
                shared_weights=False,
                internal_weights=False,
                device=device,
                dtype=torch.float32,
                math_dtype=torch.float32,
                method=method,
            )

        # NVIDIA's fused "uniform_1d" kernel needs CUDA and equal multiplicities in every
        # irrep; otherwise cuEquivariance's "naive" method (plain torch ops) is what runs.
        self.product = None
        if device.type == "cuda":
            try:
                self.product = build("uniform_1d")
            except (ValueError, RuntimeError, ImportError):
                self.product = None
        if self.product is None:
            self.product = build("naive")
        self.method = str(self.product.method)
        columns, weights = _permutations(conv, o3.Irreps(str(self.product.irreps_out)))
        self.register_buffer("output_columns", columns.to(device))
        self.register_buffer("weight_columns", weights.to(device))

    def forward(
        self,
        sender_features: torch.Tensor,
        edge_src: torch.Tensor,
        edge_dst: torch.Tensor,
        edge_sh: torch.Tensor,
        edge_radial: torch.Tensor,
        num_receivers: int,
    ) -> torch.Tensor:
        weights = self.conv.fc(edge_radial)[:, self.weight_columns]
        summed = self.product(
            sender_features.float(), edge_sh.float(), weights.float(),
            indices_1=edge_src.long(), indices_out=edge_dst.long(), size_out=num_receivers,
        )
        return summed[:, self.output_columns]


def _permutations(conv: Convolution, cue_irreps: o3.Irreps) -> tuple[torch.Tensor, torch.Tensor]:
    """(output columns: e3nn block order from cue's; weight columns: cue's order from e3nn's)."""
    mid = o3.Irreps(conv.irreps_mid)
    if sorted((mul, str(ir)) for mul, ir in mid) != sorted((mul, str(ir)) for mul, ir in cue_irreps):
        raise DeviceError(f"cuEquivariance builds {cue_irreps} for this layer, not e3nn's {mid}; use kernel='fast'")
    # Blocks of equal (mul, irrep) pair up in order.
    pools: dict[tuple[int, str], list[int]] = defaultdict(list)
    for b, (mul, ir) in enumerate(cue_irreps):
        pools[(mul, str(ir))].append(b)
    cue_of_e3nn = [pools[(mul, str(ir))].pop(0) for mul, ir in mid]
    cue_slices = cue_irreps.slices()
    output = [c for b in cue_of_e3nn for c in range(cue_slices[b].start, cue_slices[b].stop)]
    # e3nn weight slice of the instruction writing each e3nn block.
    e3nn_weights: dict[int, range] = {}
    offset = 0
    for inst in conv.tp.instructions:
        size = inst.path_shape[0]
        e3nn_weights[inst.i_out] = range(offset, offset + size)
        offset += size
    e3nn_of_cue = {b: e for e, b in enumerate(cue_of_e3nn)}
    weights = [c for b in range(len(cue_irreps)) for c in e3nn_weights[e3nn_of_cue[b]]]
    return torch.tensor(output, dtype=torch.long), torch.tensor(weights, dtype=torch.long)


class CueqProbeModel(nn.Module):
    """``ProbeModel.forward`` with every layer's messages computed by :class:`CueqMessages`."""

    def __init__(self, probe_model: ProbeModel) -> None:
        super().__init__()
        device = next(probe_model.parameters()).device
        self.probe_model = probe_model
        convs = probe_model.interaction_block.convolutions
        self.messages = nn.ModuleList(CueqMessages(conv, device) for conv in convs)
        self._check_against_e3nn(device)

    def forward(self, context: AtomContext, *edges_and_count: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """``ProbeModel.forward(context, src, dst, vectors, num_probes)`` with cuEquivariance messages."""
        return self.probe_model(context, *edges_and_count, messages=list(self.messages))

    @torch.no_grad()
    def _check_against_e3nn(self, device: torch.device) -> None:
        """Refuse to run if this cuEquivariance build disagrees with e3nn on random inputs."""
        generator = torch.Generator().manual_seed(0)
        for conv, messages in zip(self.probe_model.interaction_block.convolutions, self.messages):
            senders = torch.randn(3, conv.irreps_sender.dim, generator=generator).to(device)
            vectors = torch.randn(16, 3, generator=generator).to(device)
            src = torch.randint(0, 3, (16,), generator=generator).to(device)
            dst = torch.randint(0, 5, (16,), generator=generator).to(device)
            sh, radial = self.probe_model.embed_edges(vectors)
            expected = torch.zeros(5, conv.irreps_mid.dim, device=device).index_add(
                0, dst, conv.tp(senders[src], sh, conv.fc(radial))
            )
            got = messages(senders, src, dst, sh, radial, 5)
            error = float((got - expected).abs().max() / expected.abs().max().clamp(min=1e-30))
            if error > _CHECK_TOLERANCE:
                raise DeviceError(
                    f"cuEquivariance disagrees with e3nn on this model (relative error {error:.1e}); use kernel='fast'"
                )
