"""``F_local``: DeePAW's small KAN correction, evaluated natively (no pykan at run time).

DeePAW trains ``F_local`` with pykan's ``MultKAN``; pykan writes files into the working
directory when a model is built and pulls in scikit-learn, sympy and pandas, so we evaluate the
stored spline network ourselves.  The mathematics is that of a KAN layer: every input x_i and
output j has an activation

    phi_ij(x_i) = mask_ij * (scale_base_ij * silu(x_i) + scale_sp_ij * sum_k coef_ijk B_k(x_i))

where B_k are B-splines of order ``k`` on the stored knot vector ``grid[i]``; the layer output
is sum_i phi_ij(x_i), followed by a sub-node affine map and a node affine map.
"""

from __future__ import annotations

import re

import torch
from torch import nn

#: Hidden width of the linear projection in front of the KAN (DeePAW: 992 -> 32).
_KEY_LAYER = re.compile(r"^kan\.act_fun\.(\d+)\.coef$")


def bspline_basis(x: torch.Tensor, knots: torch.Tensor, order: int) -> torch.Tensor:
    """B-spline basis values by the Cox-de Boor recursion.

    Args:
        x: (B, n) evaluation points, one column per input.
        knots: (n, K) knot vector of each input (extended grid, increasing).
        order: spline order k; returns (B, n, K - 1 - k) basis values.
    Points outside [knots[0], knots[-1]) get zero spline value, as in pykan.
    """
    x = x.unsqueeze(-1)
    t = knots.unsqueeze(0)
    basis = ((x >= t[..., :-1]) & (x < t[..., 1:])).to(x.dtype)
    for p in range(1, order + 1):
        left = (x - t[..., : -(p + 1)]) / (t[..., p:-1] - t[..., : -(p + 1)])
        right = (t[..., p + 1 :] - x) / (t[..., p + 1 :] - t[..., 1:-p])
        basis = torch.nan_to_num(left * basis[..., :-1] + right * basis[..., 1:])
    return basis


class KANLayer(nn.Module):
    """One KAN layer with SiLU base branch and spline branch; shapes follow pykan's tensors."""

    def __init__(self, in_dim: int, out_dim: int, num_knots: int, num_coef: int) -> None:
        super().__init__()
        self.register_buffer("grid", torch.zeros(in_dim, num_knots))
        self.coef = nn.Parameter(torch.zeros(in_dim, out_dim, num_coef))
        self.register_buffer("mask", torch.ones(in_dim, out_dim))
        self.scale_base = nn.Parameter(torch.zeros(in_dim, out_dim))
        self.scale_sp = nn.Parameter(torch.zeros(in_dim, out_dim))

    @property
    def order(self) -> int:
        """Spline order k: knots = coefficients + k + 1."""
        return self.grid.shape[1] - self.coef.shape[2] - 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, in_dim) -> (B, out_dim)."""
        basis = bspline_basis(x, self.grid, self.order)
        spline = torch.einsum("bik,iok->bio", basis, self.coef)
        base = torch.nn.functional.silu(x).unsqueeze(-1)
        phi = self.mask * (self.scale_base * base + self.scale_sp * spline)
        return phi.sum(dim=1)


class KAN(nn.Module):
    """Stack of KAN layers with pykan's sub-node and node affine maps (parameter names kept)."""

    def __init__(self, widths: list[int], num_knots: int, num_coef: int) -> None:
        super().__init__()
        self.widths = list(widths)
        self.act_fun = nn.ModuleList(
            KANLayer(n_in, n_out, num_knots, num_coef)
            for n_in, n_out in zip(widths[:-1], widths[1:])
        )
        for layer, width in enumerate(widths[1:]):
            for name, value in (("subnode_scale", 1.0), ("subnode_bias", 0.0)):
                self.register_parameter(f"{name}_{layer}", nn.Parameter(torch.full((width,), value)))
            for name, value in (("node_scale", 1.0), ("node_bias", 0.0)):
                self.register_parameter(f"{name}_{layer}", nn.Parameter(torch.full((width,), value)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer, act in enumerate(self.act_fun):
            x = act(x)
            x = getattr(self, f"subnode_scale_{layer}") * x + getattr(self, f"subnode_bias_{layer}")
            x = getattr(self, f"node_scale_{layer}") * x + getattr(self, f"node_bias_{layer}")
        return x


class FLocal(nn.Module):
    """DeePAW's ``F_local``: Linear(D -> hidden) then a KAN to one scalar correction (e/Å³)."""

    def __init__(self, input_dim: int, widths: list[int], num_knots: int, num_coef: int) -> None:
        super().__init__()
        self.mlp = nn.Linear(input_dim, widths[0])
        self.kan = KAN(widths, num_knots, num_coef)

    @property
    def input_dim(self) -> int:
        return self.mlp.in_features

    def forward(self, representation: torch.Tensor) -> torch.Tensor:
        """Correction (P,) from probe representations (P, D)."""
        return self.kan(self.mlp(representation)).squeeze(-1)

    @classmethod
    def shape_from_state_dict(cls, state: dict[str, torch.Tensor]) -> dict:
        """Constructor arguments read off a DeePAW ``F_local`` state dict's tensor shapes."""
        layers = sorted(int(m.group(1)) for k in state if (m := _KEY_LAYER.match(k)))
        if "mlp.weight" not in state or not layers or layers != list(range(len(layers))):
            raise KeyError("mlp.weight / kan.act_fun.<n>.coef")
        widths = [state["kan.act_fun.0.coef"].shape[0]]
        widths += [state[f"kan.act_fun.{n}.coef"].shape[1] for n in layers]
        return {
            "input_dim": state["mlp.weight"].shape[1],
            "widths": widths,
            "num_knots": state["kan.act_fun.0.grid"].shape[1],
            "num_coef": state["kan.act_fun.0.coef"].shape[2],
        }
