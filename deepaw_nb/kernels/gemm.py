"""Dense products of the fast kernel: ``x @ W`` through oneDNN on CPUs where it is faster.

PyTorch's CPU build routes float32 ``mm`` to MKL, which on non-Intel CPUs (the AMD EPYC we
measure on) runs a generic code path: the radial-MLP product ran 1.5x and the skinny
``lin2`` products up to 7x slower than oneDNN's inner product (``mkldnn._linear_pointwise``,
the op PyTorch's own compiler emits for linear layers), with bitwise identical results on our
checks.  The op is looked up once; without it (other builds, GPUs) this is plain ``@``.
"""

from __future__ import annotations

import torch


def _onednn_linear_available() -> bool:
    op = getattr(getattr(torch.ops, "mkldnn", None), "_linear_pointwise", None)
    if op is None or not torch.backends.mkldnn.is_available():
        return False
    try:
        generator = torch.Generator().manual_seed(0)
        x = torch.randn(7, 5, generator=generator)
        weight = torch.randn(3, 5, generator=generator)
        return bool(torch.allclose(op(x, weight, None, "none", [], ""), x @ weight.t(), rtol=1e-5, atol=1e-6))
    except (RuntimeError, NotImplementedError):
        return False


_ONEDNN = _onednn_linear_available()


def linear(x: torch.Tensor, weight_t: torch.Tensor) -> torch.Tensor:
    """``x @ weight_t.T`` for x (n, k) and a contiguous weight_t (m, k); result (n, m).

    Both operands must have the same dtype (float32, bfloat16 or float16).
    """
    if _ONEDNN and x.device.type == "cpu" and x.dtype in (torch.float32, torch.bfloat16) and x.shape[0] > 0:
        return torch.ops.mkldnn._linear_pointwise(x, weight_t, None, "none", [], "")
    return x @ weight_t.t()


def backend() -> str:
    """Name of the dense-product backend on CPU (for provenance records)."""
    return "onednn" if _ONEDNN else "aten"
