"""The bond-charge baseline: its formula against a brute-force sum, neutrality, invariance,
fitting, the model file, training and the prediction path."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from ase.build import bulk

import deepaw_nb
from deepaw_nb.cli import main
from deepaw_nb.errors import CheckpointError, InputFileError, UnsupportedElementError
from deepaw_nb.model import FreeAtomDensity, ModelConfig
from deepaw_nb.model.bond_charge import BOND_CHARGE_FORMAT, BondChargeDensity, read_bond_charge
from deepaw_nb.model.combine import ensemble_of
from deepaw_nb.train import Trainer, TrainSettings, save_bundle
from deepaw_nb.train.batch import collate, forward
from deepaw_nb.train.bond_charge_fit import (
    BondChargeFitSettings,
    bond_charge_density,
    fit_bond_charge,
    nmae_per_structure,
)
from deepaw_nb.train.data import build_sample

ROOT = Path(__file__).resolve().parents[1]
TINY = ModelConfig(mul=8, lmax=1, num_interactions=2, radial_hidden=16)
CUTOFF = TINY.cutoff


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _random_term(seed: int = 0, species: tuple[int, ...] = (3, 7, 11, 17)) -> BondChargeDensity:
    torch.manual_seed(seed)
    term = BondChargeDensity(CUTOFF, channels=3, species=species, electronegativity=torch.rand(119) * 3)
    with torch.no_grad():
        term.bond_coefficients.normal_()
        term.shape_weights.normal_(std=0.05)
    return term.requires_grad_(False)


def _brute_force(term: BondChargeDensity, atoms, points: np.ndarray) -> np.ndarray:  # type: ignore[no-untyped-def]
    """The module's formula written out with loops over atoms and lattice images (float64)."""
    cell = np.asarray(atoms.cell)
    images = np.array([[i, j, k] for i in range(-3, 4) for j in range(-3, 4) for k in range(-3, 4)]) @ cell
    chi = term.electronegativity.double().numpy()
    c_bond = term.bond_coefficients.double().numpy()
    w = term.shape_weights.double().numpy()

    def gaussians(r: float, count: int, width: float) -> np.ndarray:
        centres = np.linspace(0, CUTOFF, count)
        envelope = 0.5 * (math.cos(math.pi * r / CUTOFF) + 1) if r < CUTOFF else 0.0
        return np.exp(-(((r - centres) / width) ** 2)) * envelope

    z, pos = atoms.numbers, atoms.positions
    q = np.zeros((len(z), term.channels))
    for a in range(len(z)):
        for b in range(len(z)):
            for shift in images:
                r = np.linalg.norm(pos[b] + shift - pos[a])
                if r < 1e-8 or r >= CUTOFF:
                    continue
                s = np.log1p(np.exp(c_bond @ gaussians(r, term.bond_basis, 0.5)))
                q[a, 0] += s[0] * (chi[z[a]] - chi[z[b]])
                q[a, 1:] += 0.1 * s[1:]
    out = np.zeros(len(points))
    for p, point in enumerate(points):
        for a in range(len(z)):
            for shift in images:
                r = np.linalg.norm(point - pos[a] - shift)
                if r >= CUTOFF:
                    continue
                g = w[z[a]] @ gaussians(r, term.shape_basis, CUTOFF / term.shape_basis)
                out[p] += q[a] @ g
    return out


def _sample(atoms, count: int = 40, seed: int = 0):  # type: ignore[no-untyped-def]
    frac = np.random.default_rng(seed).random((count, 3))
    zeros = np.zeros(count)
    return build_sample("x", atoms.numbers, atoms.positions, np.asarray(atoms.cell), frac, zeros, zeros,
                        np.ones(count, dtype=bool), CUTOFF), frac @ np.asarray(atoms.cell)


def test_density_matches_a_brute_force_sum_over_images() -> None:
    atoms = bulk("LiCl", "rocksalt", a=5.1)
    atoms.rattle(0.05, seed=1)
    term = _random_term()
    sample, points = _sample(atoms)
    fast = bond_charge_density(term, sample).double().numpy()
    np.testing.assert_allclose(fast, _brute_force(term, atoms, points), rtol=2e-4, atol=1e-6)
    assert np.abs(fast).max() > 1e-3  # not trivially zero


def test_charge_transfer_is_neutral_and_rotation_invariant() -> None:
    atoms = bulk("NaCl", "rocksalt", a=5.64) * (1, 1, 2)
    atoms.rattle(0.07, seed=2)
    term = _random_term(1)
    sample, points = _sample(atoms)
    scalars = term.atom_scalars(sample.numbers, sample.atom_src, sample.atom_dst, sample.atom_vec)
    assert abs(float(scalars[:, 0].sum())) < 1e-4 * float(scalars[:, 0].abs().sum())  # Σ q = 0
    assert float(scalars[:, 0].abs().sum()) > 1e-3
    rotation = torch.linalg.qr(torch.randn(3, 3, generator=torch.Generator().manual_seed(5)))[0].double().numpy()
    turned = atoms.copy()
    turned.set_cell(np.asarray(atoms.cell) @ rotation.T, scale_atoms=True)
    sample_turned, _ = _sample(turned)
    np.testing.assert_allclose(bond_charge_density(term, sample_turned), bond_charge_density(term, sample), atol=1e-6)


def _gaussian_samples() -> tuple[list, FreeAtomDensity]:
    """Densities with real charge transfer: Gaussians whose weight depends on the element's partner."""
    radii = np.arange(801) * 0.005
    free = FreeAtomDensity(radii, {z: 0.02 * z * np.exp(-radii**2 / 0.8) for z in (3, 9, 11, 17)}, CUTOFF)
    samples = []
    for i, (formula, a, gain) in enumerate([("LiF", 4.03, 0.3), ("NaCl", 5.64, 0.2), ("LiCl", 5.13, 0.25),
                                            ("NaF", 4.63, 0.25)]):
        atoms = bulk(formula, "rocksalt", a=a)
        frac = np.random.default_rng(i).random((200, 3))
        points = frac @ np.asarray(atoms.cell)
        images = np.array([[p, q, r] for p in (-2, -1, 0, 1, 2) for q in (-2, -1, 0, 1, 2)
                           for r in (-2, -1, 0, 1, 2)]) @ np.asarray(atoms.cell)
        density = np.zeros(len(points))
        for k, (z, pos) in enumerate(zip(atoms.numbers, atoms.positions)):
            weight = 0.02 * z * (1 + (gain if k == 1 else -gain))  # anion gains, cation loses
            d2 = ((points[:, None, :] - pos - images[None]) ** 2).sum(-1)
            density += weight * np.exp(-d2 / 0.8).sum(1)
        base = np.zeros(len(points))
        samples.append(build_sample(formula, atoms.numbers, atoms.positions, np.asarray(atoms.cell), frac,
                                    density, base, np.ones(len(points), dtype=bool), CUTOFF))
    return samples, free


def test_fit_learns_charge_transfer_that_free_atoms_miss() -> None:
    samples, free = _gaussian_samples()
    before = nmae_per_structure(samples, free, None).mean()
    term = fit_bond_charge(samples, free, BondChargeFitSettings(steps=150, lr=2e-2, batch_structures=4))
    after = nmae_per_structure(samples, free, term).mean()
    assert before > 0.1 and after < 0.5 * before, (before, after)
    assert term.species == (3, 9, 11, 17) and not any(p.requires_grad for p in term.parameters())
    assert float(term.electronegativity[9]) > float(term.electronegativity[3])  # F pulls charge from Li


def test_model_file_round_trip_prediction_and_ensembles(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    samples, free = _gaussian_samples()
    term = _random_term(2, species=(3, 9, 11, 17))
    settings = TrainSettings(steps=2, lr=1e-2, warmup=1, batch_structures=2, probes_per_structure=32,
                             target="residual")
    trainer = Trainer(TINY, settings, samples, [], free, term)
    trainer.run()
    path = save_bundle(tmp_path / "bc.pt", trainer.model, [3, 9, 11, 17], "bc", "test", free_atoms=free,
                       bond_charge=term)
    model = deepaw_nb.load_model(path)
    assert model.bond_charge is not None and model.bond_charge.same_as(term)

    # The prediction path adds network + free atoms + bond charge, exactly as training does.
    sample = samples[2]
    atoms = bulk("LiCl", "rocksalt", a=5.13)
    with torch.no_grad():
        network = forward(trainer.model.eval(), collate([sample]))
        free_part = free(sample.numbers[sample.probe_src], sample.probe_vec, sample.probe_dst, sample.num_probes)
        expected = (network + free_part + bond_charge_density(term, sample)).numpy()
    dst = sample.probe_dst.numpy()
    first = np.searchsorted(dst, np.arange(sample.num_probes))
    points = atoms.positions[sample.probe_src.numpy()[first]] + sample.probe_vec.numpy()[first]
    for kernel in ("fast", "e3nn"):
        got = deepaw_nb.predict_points(atoms, points, model=model, kernel=kernel)
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-6)
    result = deepaw_nb.predict(atoms, model=model, grid=(6, 6, 6), progress=False)
    assert result.provenance["model"]["bond_charge"] is True
    main(["info", "--f-nonlocal", str(path)])
    assert "baseline: free atoms + bond charge" in capsys.readouterr().out

    # Elements without fitted bond-charge parameters are refused, naming the supported ones.
    other = save_bundle(tmp_path / "narrow.pt", trainer.model, [3, 9, 11, 17], "narrow", "t", free_atoms=free,
                        bond_charge=_random_term(2, species=(3, 9)))
    with pytest.raises(UnsupportedElementError, match="supports Li, F"):
        deepaw_nb.predict(atoms, model=deepaw_nb.load_model(other), grid=(4, 4, 4), progress=False)

    # Ensembles average members trained against the same baseline only; the recipe keeps the term.
    twin = ensemble_of([model, deepaw_nb.load_model(path)])
    assert twin.bond_charge is not None
    spec = importlib.util.spec_from_file_location("build_ensemble", ROOT / "data" / "recipes" / "build_ensemble.py")
    recipe = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(recipe)  # type: ignore[union-attr]
    built = deepaw_nb.load_model(recipe.main([str(path), str(path), "--out", str(tmp_path / "ens.pt")]))
    assert built.is_ensemble and built.bond_charge.same_as(term) and "bond-charge" in built.info.description
    plain = deepaw_nb.load_model(save_bundle(tmp_path / "plain.pt", trainer.model, [3, 9, 11, 17], "plain", "t",
                                             free_atoms=free))
    with pytest.raises(CheckpointError, match="bond-charge"):
        ensemble_of([model, plain])
    with pytest.raises(ValueError, match="free_atoms"):
        save_bundle(tmp_path / "bad.pt", trainer.model, [3], "bad", "t", bond_charge=term)


def test_bond_charge_file_errors(tmp_path) -> None:  # type: ignore[no-untyped-def]
    term = _random_term()
    good = tmp_path / "bc.pt"
    torch.save({"format": BOND_CHARGE_FORMAT, "bond_charge": term.to_dict()}, good)
    assert read_bond_charge(good, CUTOFF).same_as(term)
    with pytest.raises(InputFileError, match="cutoff"):
        read_bond_charge(good, 5.0)
    with pytest.raises(InputFileError, match="does not exist"):
        read_bond_charge(tmp_path / "missing.pt", CUTOFF)
    torch.save({"format": "something else"}, tmp_path / "other.pt")
    with pytest.raises(InputFileError, match="not a deepaw-nb-bond-charge"):
        read_bond_charge(tmp_path / "other.pt", CUTOFF)
    broken = term.to_dict()
    del broken["state"]
    with pytest.raises(CheckpointError, match="bond-charge"):
        BondChargeDensity.from_dict(broken)
