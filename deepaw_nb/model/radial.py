"""Radial basis of edge lengths, normalised to zero mean and unit variance."""

from __future__ import annotations

import torch
from e3nn.math import soft_one_hot_linspace
from torch import nn

#: Number of evenly spaced lengths used to estimate the normalisation statistics.
_STAT_SAMPLES = 4000


class GaussianRadialBasis(nn.Module):
    """Gaussians evenly spaced on [0, cutoff] (Å), shifted and scaled to standard form.

    The ``mean`` and ``inv_std`` buffers are estimated at construction over evenly spaced
    lengths in (0, cutoff], exactly as DeePAW does, and are then overwritten by the values a
    checkpoint stores, so loaded models use the statistics they were trained with.
    """

    def __init__(self, cutoff: float, num_basis: int) -> None:
        super().__init__()
        self.cutoff = float(cutoff)
        self.num_basis = int(num_basis)
        with torch.no_grad():
            lengths = torch.linspace(0.0, self.cutoff, _STAT_SAMPLES + 1)[1:]
            std, mean = torch.std_mean(self._raw(lengths), dim=0)
        self.register_buffer("mean", mean)
        self.register_buffer("inv_std", std.reciprocal())

    def _raw(self, lengths: torch.Tensor) -> torch.Tensor:
        return soft_one_hot_linspace(
            lengths, 0.0, self.cutoff, self.num_basis, basis="gaussian", cutoff=False
        )

    def forward(self, lengths: torch.Tensor) -> torch.Tensor:
        """Basis values, shape (E, num_basis), for edge lengths (E,) in Å."""
        return (self._raw(lengths) - self.mean) * self.inv_std
