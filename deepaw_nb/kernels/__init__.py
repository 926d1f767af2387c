"""Probe-model kernels: the e3nn reference path and an exact fast reformulation.

Usage (what :class:`deepaw_nb.engine.Predictor` does)::

    kernel = build_probe_kernel(model.probe_model, "fast")
    prepared = prepare_atoms(kernel, context)          # once per structure
    density, representation = kernel(prepared, src, dst, vectors, num_probes)   # per batch

``"e3nn"`` returns the original :class:`~deepaw_nb.model.f_nonlocal.ProbeModel`, for which
:func:`prepare_atoms` is the identity.  ``"fast"`` computes the same function from the same
weights (within float32 rounding) with far fewer operations and a bounded working set.
``"cueq"`` (optional, for NVIDIA GPUs) computes each layer's messages with cuEquivariance's
fused channel-wise tensor product (:mod:`deepaw_nb.kernels.cueq`).  An ensemble's
:class:`~deepaw_nb.model.ensemble.ProbeEnsemble` gets the chosen kernel for each member.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from deepaw_nb.errors import DeviceError
from deepaw_nb.kernels import gemm
from deepaw_nb.kernels.fast_probe import FastProbeModel, PreparedAtoms
from deepaw_nb.model.ensemble import ProbeEnsemble
from deepaw_nb.model.f_nonlocal import AtomContext, ProbeModel

#: Kernel names accepted by :func:`build_probe_kernel`, the engine and the CLI.
KERNELS = ("fast", "e3nn", "cueq")

__all__ = [
    "KERNELS",
    "FastProbeModel",
    "PreparedAtoms",
    "build_probe_kernel",
    "describe_kernel",
    "prepare_atoms",
    "resolve_kernel",
]


def resolve_kernel(kernel: str) -> str:
    """Validated kernel name (one of :data:`KERNELS`); raises :class:`DeviceError` otherwise."""
    name = str(kernel).strip().lower()
    if name not in KERNELS:
        raise DeviceError(f"kernel {kernel!r} is not known; use one of {', '.join(KERNELS)}")
    return name


def build_probe_kernel(probe_model: ProbeModel | ProbeEnsemble, kernel: str) -> nn.Module:
    """A module with ``ProbeModel.forward``'s signature and outputs for ``kernel``.

    ``"e3nn"`` returns ``probe_model`` itself; ``"fast"`` a :class:`FastProbeModel` that reads
    (and shares) its weights, built on the probe model's device; ``"cueq"`` a
    :class:`~deepaw_nb.kernels.cueq.CueqProbeModel` (needs ``cuequivariance-torch``).  For a
    :class:`ProbeEnsemble`, a new ensemble of each member's kernel.
    """
    name = resolve_kernel(kernel)
    if isinstance(probe_model, ProbeEnsemble):
        if name == "e3nn":
            return probe_model
        kernels = [build_probe_kernel(member, name) for member in probe_model.members]  # type: ignore[arg-type]
        return ProbeEnsemble(kernels, combine=probe_model.combine)
    if name == "e3nn":
        return probe_model
    if name == "cueq":
        from deepaw_nb.kernels.cueq import CueqProbeModel

        return CueqProbeModel(probe_model).eval()
    device = next(probe_model.parameters()).device
    return FastProbeModel(probe_model).to(device).eval()


def prepare_atoms(kernel: nn.Module, context: AtomContext) -> Any:
    """What to pass ``kernel`` instead of ``context``: ``kernel.prepare(context)`` if it has one."""
    prepare = getattr(kernel, "prepare", None)
    return prepare(context) if callable(prepare) else context


def describe_kernel(kernel: nn.Module, device: torch.device | str = "cpu") -> str:
    """What computes the probe model, for provenance: ``"e3nn"`` or the fast kernel's backend."""
    if isinstance(kernel, ProbeEnsemble):
        each = describe_kernel(kernel.members[0], device)
        return f"{len(kernel.members)}-member ensemble ({kernel.combine} of the densities), each: {each}"
    if type(kernel).__name__ == "CueqProbeModel":
        methods = sorted({m.method for m in kernel.messages})  # type: ignore[attr-defined]
        return f"cuEquivariance ({', '.join(methods)})"
    if not isinstance(kernel, FastProbeModel):
        return "e3nn"
    if torch.device(device).type == "cpu":
        cpu = torch.device("cpu")
        fused = " + fused C messages" if kernel.fused_function(cpu) is not None else ""
        tables = kernel.radial_lookup(cpu)
        if tables:
            fused += f" + radial weights from cubic tables ({tables[0].intervals} intervals)"
        return f"torch ({gemm.backend()} products){fused}"
    return "torch"

