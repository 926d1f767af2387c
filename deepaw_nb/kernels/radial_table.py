"""Tabulated radial weights: the radial MLP of a probe layer as a cubic Hermite table in r.

The per-edge weights of a probe layer depend on the edge length r (Å) only:
``w(r) = silu(basis(r) @ first) @ second``.  For the small bundled networks that output
product is the largest single cost of a prediction (~100 multiply-adds per weight, about a
third of the probe model's time).  Here ``w`` and ``dw/dr`` are evaluated once, in float64,
at ``intervals + 1`` evenly spaced lengths on [0, cutoff], and each interval stores the
coefficients of the cubic Hermite polynomial through its two ends; an edge then costs
3 multiply-adds per weight (C function ``deepaw_radial_table_weights`` in
``fused_messages.c``, called per tile by the fused message path).

The same idea is DeePMD-kit's "model compression" of its embedding nets.  It is a
reformulation within a tolerance, not bit-exact: with 512 intervals the table reproduces the
float64 radial weights of the bundled networks to ~1e-7 of their largest value (measured by
:func:`table_error`, checked in ``tests/test_radial_table.py``), far inside the shared
reference's 1e-4 allowance for faster reformulations.  Only tables up to
:data:`TABLE_BUDGET` bytes per network are built; ``DEEPAW_NB_RADIAL_TABLE=0`` turns them
off.  Measured (benchmarks/README_kernel.md): the bundled ensemble's probe model runs ~2x
faster, the published mul-500 model ~1.25x (its 57.5 MB table does not stay in cache).
"""

from __future__ import annotations

import ctypes
import os
from dataclasses import dataclass

import torch
from torch import nn

from deepaw_nb.kernels import fused_c

#: Intervals on [0, cutoff]; 512 keeps the Hermite error near float32 rounding (module doc).
DEFAULT_INTERVALS = 512
#: Largest table, all layers of one network, that is built (bytes; the bundled mul 64 network
#: needs 5.5 MB, mul 128 10.3 MB, the published mul 500 model 57.5 MB).
TABLE_BUDGET = 128 * 2**20

_ARGTYPES = [ctypes.c_int64, ctypes.c_int64, ctypes.c_int64, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_double,
             ctypes.c_void_p]
#: Length step of the slopes' central differences (Å).
_DELTA = 1e-5


@dataclass(frozen=True)
class RadialTable:
    """Hermite coefficients of one layer's blocked radial weights.

    ``coefficients``: (weight blocks, intervals, 4, BLOCK) float32, ``c0 + t (c1 + t (c2 + t c3))``
    with ``t`` the position inside the interval (0..1); ``step``: interval length in Å.
    """

    coefficients: torch.Tensor
    step: float

    @property
    def intervals(self) -> int:
        return int(self.coefficients.shape[1])

    @property
    def nbytes(self) -> int:
        return table_bytes(int(self.coefficients.shape[0]), self.intervals)


def table_bytes(weight_blocks: int, intervals: int = DEFAULT_INTERVALS) -> int:
    """Bytes of the float32 table(s) holding ``weight_blocks`` weight blocks."""
    return weight_blocks * intervals * 4 * fused_c.BLOCK * 4


def enabled_by_environment() -> bool:
    """False if ``DEEPAW_NB_RADIAL_TABLE`` is 0/false/no/off."""
    return os.environ.get("DEEPAW_NB_RADIAL_TABLE", "1").strip().lower() not in ("0", "false", "no", "off")


def exact_weights(basis: nn.Module, first: torch.Tensor, second_blocked: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """The radial MLP in float64: (weight blocks, E, BLOCK) for lengths (E,) in Å.

    ``basis`` is the probe model's :class:`~deepaw_nb.model.radial.GaussianRadialBasis`,
    ``first`` (num_basis, hidden) and ``second_blocked`` (weight blocks, hidden, BLOCK) the
    layer's matrices (:class:`~deepaw_nb.kernels.layer.FastLayer`).
    """
    lengths = lengths.double()
    values = (basis._raw(lengths) - basis.mean.double()) * basis.inv_std.double()
    hidden = torch.nn.functional.silu(values @ first.double())
    return torch.einsum("eh,bhj->bej", hidden, second_blocked.double())


def build_table(
    basis: nn.Module, first: torch.Tensor, second_blocked: torch.Tensor, intervals: int = DEFAULT_INTERVALS
) -> RadialTable:
    """Hermite table of :func:`exact_weights` on [0, basis.cutoff] (values and slopes at the knots)."""
    if intervals < 1:
        raise ValueError(f"a radial table needs at least one interval, got {intervals}")
    cutoff = float(basis.cutoff)
    knots = torch.linspace(0.0, cutoff, intervals + 1, dtype=torch.float64)

    with torch.no_grad():
        values = exact_weights(basis, first, second_blocked, knots)
        # Central differences in float64 (error ~1e-10 relative for these smooth functions of
        # r): works for any basis module and avoids torch.func's first-call cost (~0.3 s).
        slopes = (
            exact_weights(basis, first, second_blocked, knots + _DELTA)
            - exact_weights(basis, first, second_blocked, knots - _DELTA)
        ) / (2 * _DELTA)
    step = cutoff / intervals
    p0, p1 = values[:, :-1], values[:, 1:]
    m0, m1 = step * slopes[:, :-1], step * slopes[:, 1:]
    coefficients = torch.stack([p0, m0, 3 * (p1 - p0) - 2 * m0 - m1, 2 * (p0 - p1) + m0 + m1], dim=2)
    return RadialTable(coefficients.float().contiguous(), step)


def reference_weights(table: RadialTable, lengths: torch.Tensor) -> torch.Tensor:
    """What the C function computes, with torch operations: (weight blocks, E, BLOCK)."""
    x = lengths.double() / table.step
    index = x.floor().long().clamp(0, table.intervals - 1)
    t = (x - index).float()[None, :, None]
    c = table.coefficients[:, index]  # (blocks, E, 4, BLOCK)
    return c[:, :, 0] + t * (c[:, :, 1] + t * (c[:, :, 2] + t * c[:, :, 3]))


def table_error(table: RadialTable, basis: nn.Module, first: torch.Tensor, second_blocked: torch.Tensor,
                samples: int = 20_001) -> float:
    """Largest |table - exact| over ``samples`` lengths in [0, cutoff], relative to the largest |exact|."""
    lengths = torch.linspace(0.0, float(basis.cutoff), samples, dtype=torch.float64)
    exact = exact_weights(basis, first, second_blocked, lengths)
    return float((reference_weights(table, lengths).double() - exact).abs().max() / exact.abs().max())


def fill_weights(function, table: RadialTable, lengths: torch.Tensor, out: torch.Tensor) -> torch.Tensor:  # type: ignore[no-untyped-def]
    """Write the tile's weights (weight blocks, n, BLOCK) into ``out`` (float32, contiguous) with
    the C ``function`` from :func:`function`; ``lengths`` (n,) float32 contiguous, Å."""
    n = int(lengths.shape[0])
    function(n, table.coefficients.shape[0], table.intervals, table.coefficients.data_ptr(), lengths.data_ptr(),
             1.0 / table.step, out.data_ptr())
    return out


def function():  # type: ignore[no-untyped-def]
    """The C table function, checked once against :func:`reference_weights`; ``None`` when the
    fused C library is unavailable or the check fails."""
    return fused_c.library_function("deepaw_radial_table_weights", _ARGTYPES, _self_check)


def _self_check(candidate) -> bool:  # type: ignore[no-untyped-def]
    """Random table, lengths including both ends and out-of-range values (clamped)."""
    g = torch.Generator().manual_seed(0)
    table = RadialTable(torch.randn(3, 7, 4, fused_c.BLOCK, generator=g), 0.5)
    lengths = torch.cat([torch.rand(29, generator=g) * 3.5, torch.tensor([0.0, 3.5, 3.49999, -0.1, 3.7])])
    got = fill_weights(candidate, table, lengths, torch.empty(3, lengths.numel(), fused_c.BLOCK))
    return bool(torch.allclose(got, reference_weights(table, lengths), rtol=1e-5, atol=1e-5))
