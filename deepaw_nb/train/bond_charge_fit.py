"""Fit the bond-charge baseline (:mod:`deepaw_nb.model.bond_charge`) to ρ_GPAW − ρ_atoms.

The fit uses the same per-structure normalised L1 loss as the network and the same atom and
atom → probe graphs (the samples' own edges), so the fitted term is exactly what inference
adds. Electronegativities start from Pauling's values (pymatgen); every other parameter
starts at zero, so the fit starts from the plain free-atom superposition.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from deepaw_nb.model.bond_charge import BondChargeDensity
from deepaw_nb.model.free_atoms import FreeAtomDensity
from deepaw_nb.train.batch import uniform_nmae
from deepaw_nb.train.data import StructureSample


@dataclass(frozen=True)
class BondChargeFitSettings:
    """Optimisation settings of the bond-charge fit (Adam, one-cycle learning rate)."""

    steps: int = 2000
    lr: float = 5e-3
    batch_structures: int = 32
    channels: int = 2
    seed: int = 0


def pauling_electronegativities() -> torch.Tensor:
    """(119,) Pauling electronegativities by atomic number; 2.0 where pymatgen has none."""
    import warnings

    from ase.data import chemical_symbols
    from pymatgen.core import Element

    chi = torch.full((119,), 2.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pymatgen warns for superheavy elements without a value
        for z in range(1, 119):
            value = Element(chemical_symbols[z]).X
            if value == value:  # not NaN
                chi[z] = float(value)
    return chi


def _baseline(sample: StructureSample, free_atoms: FreeAtomDensity) -> torch.Tensor:
    with torch.no_grad():
        return free_atoms(sample.numbers[sample.probe_src], sample.probe_vec, sample.probe_dst, sample.num_probes)


def bond_charge_density(term: BondChargeDensity, sample: StructureSample) -> torch.Tensor:
    """δρ (P,) in e/Å³ of ``term`` on a sample's probes."""
    scalars = term.atom_scalars(sample.numbers, sample.atom_src, sample.atom_dst, sample.atom_vec)
    return term(scalars, sample.numbers, sample.probe_src, sample.probe_dst, sample.probe_vec, sample.num_probes)


def nmae_per_structure(
    samples: list[StructureSample], free_atoms: FreeAtomDensity, term: BondChargeDensity | None
) -> np.ndarray:
    """Uniform-probe NMAE of ρ_atoms (+ δρ when ``term`` is given) per sample (fraction)."""
    out = []
    with torch.no_grad():
        for sample in samples:
            pred = _baseline(sample, free_atoms)
            if term is not None:
                pred = pred + bond_charge_density(term, sample)
            out.append(uniform_nmae(pred, sample.density, sample.uniform))
    return np.asarray(out)


def fit_bond_charge(
    samples: list[StructureSample],
    free_atoms: FreeAtomDensity,
    settings: BondChargeFitSettings = BondChargeFitSettings(),
    log: Callable[[int, float], None] | None = None,
) -> BondChargeDensity:
    """Fit a :class:`BondChargeDensity` on ``samples`` (their probes and graphs, cutoff of the tables).

    ``log(step, mean loss)`` is called every 250 steps and at the end.
    """
    if not samples:
        raise ValueError("no samples to fit the bond-charge term on")
    species = tuple(sorted({int(z) for s in samples for z in s.numbers.tolist()}))
    torch.manual_seed(settings.seed)
    term = BondChargeDensity(free_atoms.cutoff, settings.channels, species=species,
                             electronegativity=pauling_electronegativities())
    bases = [_baseline(s, free_atoms) for s in samples]
    scales = [float(s.density[s.uniform].abs().mean() if bool(s.uniform.any()) else s.density.abs().mean())
              for s in samples]
    optimizer = torch.optim.Adam(term.parameters(), lr=settings.lr)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=settings.lr, total_steps=settings.steps,
                                                   pct_start=0.05)
    rng = np.random.default_rng(settings.seed)
    recent: list[float] = []
    for step in range(1, settings.steps + 1):
        chosen = rng.choice(len(samples), size=min(settings.batch_structures, len(samples)), replace=False)
        loss = torch.stack([
            (bases[i] + bond_charge_density(term, samples[i]) - samples[i].density).abs().mean() / scales[i]
            for i in chosen
        ]).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        recent.append(float(loss.detach()))
        if log is not None and (step % 250 == 0 or step == settings.steps):
            log(step, float(np.mean(recent)))
            recent = []
    term.requires_grad_(False)
    return term

