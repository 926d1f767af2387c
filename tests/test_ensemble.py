"""Ensembles of F_nonlocal networks: the density is exactly the mean (or median) of the members' densities."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from ase.build import bulk

import deepaw_nb
from deepaw_nb.errors import CheckpointError
from deepaw_nb.model import DensityModel, EnsembleContext, ProbeEnsemble
from deepaw_nb.model.combine import ensemble_of
from deepaw_nb.model.config import ModelConfig
from deepaw_nb.model.ensemble import combine_densities
from deepaw_nb.model.f_nonlocal import FNonlocal
from deepaw_nb.model.loading import (
    BUNDLE_FORMAT,
    COMBINED_ENSEMBLE_FORMAT,
    ENSEMBLE_FORMAT,
)
from deepaw_nb.train import save_bundle

ROOT = Path(__file__).resolve().parents[1]
SMALL = ROOT / "data" / "models" / "experiments" / "mul64_lmax2_seed0.pt"
WIDE = ROOT / "data" / "models" / "experiments" / "mul128_lmax2.pt"

pytestmark = pytest.mark.skipif(not (SMALL.is_file() and WIDE.is_file()), reason="experiment models not in checkout")


@pytest.fixture(scope="module")
def members() -> list[DensityModel]:
    return [deepaw_nb.load_model(SMALL), deepaw_nb.load_model(WIDE)]


@pytest.fixture(scope="module")
def pair(members) -> DensityModel:  # type: ignore[no-untyped-def]
    return ensemble_of(members, name="pair")


@pytest.fixture(scope="module")
def probes() -> tuple:
    atoms = bulk("GaP", "zincblende", a=5.45)  # GaP is a held-out composition
    points = np.random.default_rng(3).uniform(size=(400, 3)) @ np.asarray(atoms.cell)
    return atoms, points


@pytest.mark.parametrize("kernel", ["fast", "e3nn"])
def test_density_is_the_mean_of_the_members(members, pair, probes, kernel) -> None:  # type: ignore[no-untyped-def]
    atoms, points = probes
    singles = [deepaw_nb.predict_points(atoms, points, model=m, kernel=kernel) for m in members]
    mean = np.mean(singles, axis=0)
    together = deepaw_nb.predict_points(atoms, points, model=pair, kernel=kernel)
    np.testing.assert_allclose(together, mean, rtol=1e-5, atol=1e-6)
    assert np.abs(singles[0] - singles[1]).max() > 1e-3  # the members really differ


def test_representations_are_the_members_side_by_side(members, pair, probes) -> None:  # type: ignore[no-untyped-def]
    atoms, points = probes
    _, joined = deepaw_nb.predict_points(atoms, points[:50], model=pair, return_representation=True)
    parts = [deepaw_nb.predict_points(atoms, points[:50], model=m, return_representation=True)[1] for m in members]
    assert joined.shape == (50, pair.representation_dim) == (50, sum(p.shape[1] for p in parts))
    np.testing.assert_allclose(joined, np.concatenate(parts, axis=1), rtol=1e-5, atol=1e-6)


def test_grid_prediction_records_every_member(members, pair) -> None:  # type: ignore[no-untyped-def]
    atoms = bulk("Si", "diamond", a=5.43)
    result = deepaw_nb.predict(atoms, model=pair, grid=(8, 8, 8), progress=False)
    single = deepaw_nb.predict(atoms, model=members[0], grid=(8, 8, 8), progress=False)
    prov = result.provenance
    assert [m["mul"] for m in prov["model"]["members"]] == [64, 128]
    assert prov["kernel_backend"].startswith("2-member ensemble")
    assert len(single.provenance["model"]["members"]) == 1
    assert abs(result.electron_count() - single.electron_count()) < 0.1 * single.electron_count()


def test_bf16_autocast_runs_every_member_on_cpu(pair, probes) -> None:  # type: ignore[no-untyped-def]
    atoms, points = probes
    exact = deepaw_nb.predict_points(atoms, points[:100], model=pair)
    low = deepaw_nb.predict_points(atoms, points[:100], model=pair, precision="bf16")
    assert low.dtype == np.float32 and np.abs(low - exact).sum() / np.abs(exact).sum() < 0.03


def test_file_round_trip(members, pair, probes, tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = save_bundle(
        tmp_path / "pair.pt", list(pair.members), list(pair.info.species), "pair", "two networks",
        {"note": "test"}, free_atoms=pair.free_atoms,
    )
    raw = torch.load(path, weights_only=True)
    assert raw["format"] == ENSEMBLE_FORMAT and len(raw["members"]) == 2 and "f_nonlocal" not in raw
    loaded = deepaw_nb.load_model(path)
    assert loaded.is_ensemble and [c.mul for c in loaded.configs] == [64, 128]
    assert loaded.info.species == pair.info.species and loaded.num_parameters() == pair.num_parameters()
    atoms, points = probes
    np.testing.assert_array_equal(
        deepaw_nb.predict_points(atoms, points[:80], model=loaded),
        deepaw_nb.predict_points(atoms, points[:80], model=pair),
    )
    single = save_bundle(tmp_path / "one.pt", members[0].f_nonlocal, [14], "one", "one network")
    assert torch.load(single, weights_only=True)["format"] == BUNDLE_FORMAT  # older readers keep working


def test_ensemble_of_ensembles_flattens(members, pair, probes) -> None:  # type: ignore[no-untyped-def]
    triple = ensemble_of([pair, members[0]])
    assert len(triple.members) == 3 and triple.members[2] is members[0].f_nonlocal
    atoms, points = probes
    singles = [deepaw_nb.predict_points(atoms, points[:60], model=m) for m in (members[0], members[1], members[0])]
    np.testing.assert_allclose(
        deepaw_nb.predict_points(atoms, points[:60], model=triple), np.mean(singles, axis=0), rtol=1e-5, atol=1e-6
    )


def test_refuses_members_that_cannot_be_averaged(members) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(CheckpointError, match="at least two networks"):
        ensemble_of(members[:1])
    plain = DensityModel(members[0].f_nonlocal, None, members[0].info, free_atoms=None)
    with pytest.raises(CheckpointError, match="free-atom tables"):
        ensemble_of([members[0], plain])
    other = FNonlocal(ModelConfig(mul=8, lmax=1, cutoff=3.0))
    with pytest.raises(ValueError, match="one cutoff"):
        DensityModel([members[0].f_nonlocal, other], None, members[0].info)


def test_species_are_the_intersection(members) -> None:  # type: ignore[no-untyped-def]
    import dataclasses

    narrow = DensityModel(members[1].f_nonlocal, None, dataclasses.replace(members[1].info, species=(14, 15)),
                          members[1].free_atoms)
    both = ensemble_of([members[0], narrow])
    assert both.info.species == (14, 15)
    with pytest.raises(deepaw_nb.errors.UnsupportedElementError, match="Ga"):
        deepaw_nb.predict(bulk("GaP", "zincblende", a=5.45), model=both, grid=(4, 4, 4), progress=False)


def test_wrong_context_is_a_clear_error(pair) -> None:  # type: ignore[no-untyped-def]
    ensemble = pair.probe_model
    assert isinstance(ensemble, ProbeEnsemble)
    with pytest.raises(TypeError, match="2-member ensemble needs an EnsembleContext"):
        ensemble(EnsembleContext([None]), None, None, None, 0)


def test_build_ensemble_recipe(tmp_path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "ens.pt"
    proc = subprocess.run(
        [sys.executable, "data/recipes/build_ensemble.py", str(SMALL), str(WIDE), "--out", str(out), "--name", "ens"],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    raw = torch.load(out, weights_only=True)
    assert raw["name"] == "ens" and len(raw["metadata"]["members"]) == 2
    seen = set(raw["metadata"]["train_ids"])
    for member in raw["metadata"]["members"]:
        assert set(member["train_ids"]) <= seen
    info = subprocess.run(
        [sys.executable, "-m", "deepaw_nb.cli", "info", "--f-nonlocal", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert info.returncode == 0, info.stderr
    assert "config (member 0): {'mul': 64" in info.stdout and "config (member 1): {'mul': 128" in info.stdout


def test_combine_densities_matches_numpy() -> None:
    rng = np.random.default_rng(5)
    for n in (2, 3, 4, 7):
        stack = rng.normal(size=(n, 33)).astype(np.float32)
        parts = [torch.from_numpy(row) for row in stack]
        np.testing.assert_allclose(combine_densities(parts, "mean").numpy(), stack.mean(0), rtol=1e-6, atol=1e-7)
        np.testing.assert_array_equal(combine_densities(parts, "median").numpy(), np.median(stack, axis=0))
    with pytest.raises(ValueError, match="use one of mean, median"):
        combine_densities(parts, "max")


@pytest.mark.parametrize("kernel", ["fast", "e3nn"])
def test_median_ensemble_is_the_per_probe_median(members, probes, kernel) -> None:  # type: ignore[no-untyped-def]
    atoms, points = probes
    trio = [members[0], members[1], members[0]]
    median = ensemble_of(trio, combine="median")
    singles = [deepaw_nb.predict_points(atoms, points, model=m, kernel=kernel) for m in members]
    # two of three members are the same network, so the median is that network exactly
    np.testing.assert_allclose(deepaw_nb.predict_points(atoms, points, model=median, kernel=kernel), singles[0],
                               rtol=1e-6, atol=1e-7)
    pair_median = ensemble_of(members, combine="median")  # even count: mean of the middle two
    np.testing.assert_allclose(deepaw_nb.predict_points(atoms, points, model=pair_median, kernel=kernel),
                               np.mean(singles, axis=0), rtol=1e-5, atol=1e-6)


def test_median_file_round_trip_and_provenance(members, probes, tmp_path) -> None:  # type: ignore[no-untyped-def]
    trio = ensemble_of([members[0], members[1], members[1]], combine="median")
    path = save_bundle(tmp_path / "trio.pt", list(trio.members), list(trio.info.species), "trio", "median of three",
                       free_atoms=trio.free_atoms, combine="median")
    raw = torch.load(path, weights_only=True)
    assert raw["format"] == COMBINED_ENSEMBLE_FORMAT and raw["combine"] == "median"
    loaded = deepaw_nb.load_model(path)
    assert loaded.combine == "median" and loaded.probe_model.combine == "median"
    atoms, points = probes
    np.testing.assert_array_equal(deepaw_nb.predict_points(atoms, points[:80], model=loaded),
                                  deepaw_nb.predict_points(atoms, points[:80], model=trio))
    result = deepaw_nb.predict(bulk("Si", "diamond", a=5.43), model=loaded, grid=(6, 6, 6), progress=False)
    assert result.provenance["model"]["combine"] == "median"
    assert result.provenance["kernel_backend"].startswith("3-member ensemble (median of the densities)")
    raw["combine"] = "max"
    torch.save(raw, tmp_path / "bad.pt")
    with pytest.raises(CheckpointError, match="combines its networks by 'max'.*upgrade deepaw-nb"):
        deepaw_nb.load_model(tmp_path / "bad.pt")
    with pytest.raises(CheckpointError, match="unknown ensemble combination 'max'"):
        ensemble_of(members, combine="max")
