"""Training deepaw-nb's own DeePAW-architecture models on the GPAW reference densities.

- :mod:`~deepaw_nb.train.data`: ``data/reference`` -> per-structure tensors with graphs;
- :mod:`~deepaw_nb.train.batch`: disjoint-graph batches, forward pass, density loss;
- :mod:`~deepaw_nb.train.trainer`: the resumable training loop;
- :mod:`~deepaw_nb.train.bundle`: :func:`save_bundle` (the ``deepaw-nb-model/2`` file, with free-atom tables
  for residual models, or ``/3`` for an ensemble of networks);
- :mod:`~deepaw_nb.train.curves`: CSV log and plot.

Needs matplotlib for the plot only (the optional ``train`` extra).
"""

from deepaw_nb.train.bundle import save_bundle
from deepaw_nb.train.data import StructureSample, load_samples, species_of, training_ids
from deepaw_nb.train.trainer import Trainer, TrainSettings

__all__ = [
    "StructureSample",
    "TrainSettings",
    "Trainer",
    "load_samples",
    "save_bundle",
    "species_of",
    "training_ids",
]
