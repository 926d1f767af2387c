"""deepaw_nb.train: loss goes down, exact resume, bundles load and predict, evaluate.py runs."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from ase.build import bulk

import deepaw_nb
from deepaw_nb.errors import UnsupportedElementError
from deepaw_nb.model import FreeAtomDensity, ModelConfig
from deepaw_nb.train import Trainer, TrainSettings, save_bundle
from deepaw_nb.train.trainer import learning_rate, predict_batch
from deepaw_nb.train.batch import collate, density_loss, forward
from deepaw_nb.train.data import build_sample, validation_ids

ROOT = Path(__file__).resolve().parents[1]
TINY = ModelConfig(mul=8, lmax=1, num_interactions=2, radial_hidden=16)


def _synthetic(atoms, sid: str, count: int = 96, seed: int = 0):  # type: ignore[no-untyped-def]
    """Probes with a smooth made-up density: Gaussians (e/Å³) on the atoms, periodic images included."""
    rng = np.random.default_rng(seed)
    frac = rng.random((count, 3))
    cell = np.asarray(atoms.cell)
    points = frac @ cell
    shifts = np.array([[i, j, k] for i in (-1, 0, 1) for j in (-1, 0, 1) for k in (-1, 0, 1)]) @ cell
    density = np.zeros(count)
    for z, pos in zip(atoms.numbers, atoms.positions):
        d2 = (((points[:, None, :] - pos - shifts[None]) ** 2).sum(-1))
        density += 0.05 * z * np.exp(-d2 / 0.8).sum(1)
    uniform = np.arange(count) % 2 == 0
    return build_sample(sid, atoms.numbers, atoms.positions, cell, frac, density, 0.9 * density, uniform, TINY.cutoff)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def samples():  # type: ignore[no-untyped-def]
    return [
        _synthetic(bulk("Si", "diamond", a=5.43), "Si", seed=1),
        _synthetic(bulk("NaCl", "rocksalt", a=5.64), "NaCl", seed=2),
        _synthetic(bulk("Al", "fcc", a=4.05), "Al", seed=3),
    ]


def _settings(**kw) -> TrainSettings:  # type: ignore[no-untyped-def]
    base = dict(steps=40, lr=1e-2, lr_min=1e-3, warmup=2, batch_structures=2, probes_per_structure=48,
                seed=3, checkpoint_every=1000, eval_every=1000, val_probes=32)
    base.update(kw)
    return TrainSettings(**base)


def test_training_reduces_the_loss(samples) -> None:  # type: ignore[no-untyped-def]
    trainer = Trainer(TINY, _settings(lr=3e-2), samples[:2], samples[2:])
    full = collate(samples[:2])
    with torch.no_grad():
        before = float(density_loss(forward(trainer.model, full), full))
    trainer.run(until=25)
    with torch.no_grad():
        after = float(density_loss(forward(trainer.model, full), full))
    assert trainer.step == 25
    assert after < 0.7 * before
    record = trainer.history[-1]
    assert {"train_loss", "val_nmae", "val_baseline_nmae"} <= record.keys()


def test_resume_continues_with_the_same_next_loss(samples, tmp_path) -> None:  # type: ignore[no-untyped-def]
    first = Trainer(TINY, _settings(), samples, [])
    first.run(until=3)
    ckpt = first.save_checkpoint(tmp_path / "run.ckpt")
    expected = [first.train_step() for _ in range(2)]

    second = Trainer(TINY, _settings(), samples, [])
    second.load_checkpoint(ckpt)
    assert second.step == 3
    assert [second.train_step() for _ in range(2)] == expected
    for a, b in zip(first.model.parameters(), second.model.parameters()):
        assert torch.equal(a, b)


def test_checkpoint_refuses_another_config(samples, tmp_path) -> None:  # type: ignore[no-untyped-def]
    trainer = Trainer(TINY, _settings(), samples, [])
    ckpt = trainer.save_checkpoint(tmp_path / "run.ckpt")
    other = Trainer(ModelConfig(mul=8, lmax=1, num_interactions=1, radial_hidden=16), _settings(), samples, [])
    with pytest.raises(ValueError, match="config"):
        other.load_checkpoint(ckpt)


def test_bundle_loads_and_predicts(samples, tmp_path) -> None:  # type: ignore[no-untyped-def]
    trainer = Trainer(TINY, _settings(), samples, [])
    trainer.run(until=2)
    path = save_bundle(tmp_path / "tiny.pt", trainer.model, [11, 13, 14, 17], "tiny", "test model",
                       {"steps": 2, "ids": ["a", "b"], "version": torch.__version__, "x": np.float32(1.5)})
    raw = torch.load(path, weights_only=True)
    assert raw["metadata"]["x"] == 1.5 and raw["species"] == [11, 13, 14, 17]
    model = deepaw_nb.load_model(path)
    assert model.info.name == "tiny" and model.info.species == (11, 13, 14, 17)
    assert model.config == TINY
    si = bulk("Si", "diamond", a=5.43)
    result = deepaw_nb.predict(si, model=model, grid=(6, 6, 6), progress=False)
    assert result.density.shape == (6, 6, 6) and np.isfinite(result.density).all()
    # The loaded model reproduces the trained network.
    sample = samples[0]
    with torch.no_grad():
        direct = forward(trainer.model.eval(), collate([sample])).numpy()
    via_api = deepaw_nb.predict_points(si, _points_of(sample, si), model=model)
    np.testing.assert_allclose(via_api, direct, rtol=1e-4, atol=1e-6)
    with pytest.raises(UnsupportedElementError, match="Si|Al|Na"):
        deepaw_nb.predict(bulk("Cu", "fcc", a=3.6), model=model, grid=(4, 4, 4), progress=False)


def test_fine_tuning_starts_from_a_saved_member(samples, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """--init-weights: a fresh run that starts from a member file predicts exactly what that
    member predicts before its first step, then trains on; other configs are refused."""
    free_atoms = _gaussian_free_atoms()
    trained = Trainer(TINY, _settings(target="residual"), samples, [], free_atoms)
    trained.run(until=3)
    path = save_bundle(tmp_path / "m.pt", trained.model, [11, 13, 14, 17], "m", "member", free_atoms=free_atoms)
    recipe = _load_script("train_default")
    tuned = Trainer(TINY, _settings(target="residual", seed=9), samples, [], free_atoms)
    recipe.start_from_file(tuned, path)
    batch = collate(samples)
    with torch.no_grad():
        np.testing.assert_array_equal(forward(tuned.model.eval(), batch).numpy(),
                                      forward(trained.model.eval(), batch).numpy())
    tuned.run(until=2)
    assert tuned.step == 2
    with pytest.raises(ValueError, match="fresh run"):
        tuned.start_from(trained.model)
    other = Trainer(ModelConfig(mul=8, lmax=1, num_interactions=1, radial_hidden=16),
                    _settings(target="residual"), samples, [], free_atoms)
    with pytest.raises(SystemExit, match="mul"):
        recipe.start_from_file(other, path)
    plain = Trainer(TINY, _settings(), samples, [])
    with pytest.raises(SystemExit, match="baseline"):
        recipe.start_from_file(plain, path)


def _points_of(sample, atoms) -> np.ndarray:  # type: ignore[no-untyped-def]
    """Recover the probe positions of a sample: first edge of each probe, vector + sender atom."""
    dst = sample.probe_dst.numpy()
    first = np.searchsorted(dst, np.arange(sample.num_probes))
    src = sample.probe_src.numpy()[first]
    # vector = point - (atom + T): the point modulo the lattice is what matters for the density.
    return atoms.positions[src] + sample.probe_vec.numpy()[first].astype(np.float64)


def test_warm_restart_schedule_starts_over_at_schedule_start() -> None:
    """A fine-tuning run (schedule_start = the finished run's last step) warms up and decays
    over its own steps exactly as a fresh run of the same length does."""
    fresh = TrainSettings(steps=600, lr=1e-3, lr_min=3e-5, warmup=50)
    restart = TrainSettings(steps=8600, lr=1e-3, lr_min=3e-5, warmup=50, schedule_start=8000)
    for local in (0, 1, 49, 50, 51, 300, 599, 600, 700):
        assert learning_rate(8000 + local, restart) == pytest.approx(learning_rate(local, fresh), rel=1e-12)
    assert learning_rate(8000, restart) == pytest.approx(1e-3 / 50)
    assert learning_rate(8050, restart) == pytest.approx(1e-3)
    assert learning_rate(8600, restart) == pytest.approx(3e-5)


def test_validation_split_is_stable() -> None:
    ids = [f"s{i}" for i in range(200)]
    val = validation_ids(ids, 0.1, seed=0)
    assert 5 < len(val) < 40
    assert set(validation_ids(ids[:100], 0.1, seed=0)) == {i for i in val if i in ids[:100]}


def _load_script(name: str):  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location(name, ROOT / "data" / "recipes" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


@pytest.mark.skipif(
    not (ROOT / "data" / "reference" / "index.json").is_file(), reason="reference data not packed"
)
def test_evaluate_script_runs_on_one_held_out_grid(samples, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    index = json.loads((ROOT / "data" / "reference" / "index.json").read_text())
    grids = [s for s in index["structures"] if s["kind"] == "grid" and s["split"] == "test"]
    if not grids:
        pytest.skip("no held-out grid packed yet")
    species = sorted({int(z) for z in range(1, 90)})
    trainer = Trainer(TINY, _settings(), samples, [])
    path = save_bundle(tmp_path / "tiny.pt", trainer.model, species, "tiny", "untrained test model")
    rows = _load_script("evaluate").main(["--model", str(path), "--limit", "1", "--max-points", "300",
                                          "--json", str(tmp_path / "rows.json")])
    assert len(rows) == 1 and 0 < rows[0]["baseline_nmae"] < 1 and rows[0]["estimated"] is True
    assert "| **mean** (1)" in capsys.readouterr().out
    assert json.loads((tmp_path / "rows.json").read_text())[0]["id"] == rows[0]["id"]


def _gaussian_free_atoms(scale: float = 0.9) -> FreeAtomDensity:
    """Tables of ``scale`` × the synthetic samples' Gaussians: f_Z(r) = 0.05 Z exp(−r²/0.8)."""
    radii = np.arange(801) * 0.005
    return FreeAtomDensity(radii, {z: scale * 0.05 * z * np.exp(-radii**2 / 0.8) for z in range(1, 30)}, TINY.cutoff)


def test_residual_target_starts_from_the_free_atom_density(samples) -> None:  # type: ignore[no-untyped-def]
    trainer = Trainer(TINY, _settings(target="residual"), samples[:2], samples[2:], _gaussian_free_atoms())
    start = trainer.validate()
    # The untrained network adds ~0 to ρ_atoms (= 0.9 ρ here), so it starts near 10 % NMAE.
    assert abs(start["val_nmae"] - 0.1) < 0.05
    trainer.run(until=3)
    with pytest.raises(ValueError, match="free_atoms"):
        Trainer(TINY, _settings(target="residual"), samples, [])
    with pytest.raises(ValueError, match="target"):
        Trainer(TINY, _settings(target="bogus"), samples, []).train_step()


def test_residual_bundle_adds_the_free_atoms_back(samples, tmp_path) -> None:  # type: ignore[no-untyped-def]
    free_atoms = _gaussian_free_atoms()
    trainer = Trainer(TINY, _settings(target="residual"), samples, [], free_atoms)
    trainer.run(until=2)
    path = save_bundle(tmp_path / "res.pt", trainer.model, [11, 13, 14, 17], "res", "residual", free_atoms=free_atoms)
    model = deepaw_nb.load_model(path)
    assert model.free_atoms is not None and model.free_atoms.species == free_atoms.species
    si = bulk("Si", "diamond", a=5.43)
    sample = samples[0]
    batch = collate([sample])
    with torch.no_grad():
        network = forward(trainer.model.eval(), batch).numpy()
        expected = predict_batch(trainer.model, batch, "residual", free_atoms).numpy()
    assert not np.allclose(expected, network, rtol=0.1)  # the free-atom term is most of ρ
    via_api = deepaw_nb.predict_points(si, _points_of(sample, si), model=model)
    np.testing.assert_allclose(via_api, expected, rtol=1e-4, atol=1e-6)
    result = deepaw_nb.predict(si, model=model, grid=(6, 6, 6), progress=False)
    assert result.timings["free atoms"] >= 0 and result.provenance["model"]["free_atoms"] is True


@pytest.mark.skipif(
    not (ROOT / "data" / "reference" / "index.json").is_file(), reason="reference data not packed"
)
def test_fit_bond_charge_script_writes_a_loadable_term(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from deepaw_nb.model.bond_charge import read_bond_charge

    out = tmp_path / "bc.pt"
    report = _load_script("fit_bond_charge").main(["--limit", "6", "--steps", "30", "--probes", "200",
                                                   "--threads", "1", "--out", str(out)])
    term = read_bond_charge(out, TINY.cutoff)
    assert term.species and report["n_train"] == 6
    rows = report["uniform_probe_nmae"]["train"]
    assert rows["with_bond_charge"] < rows["free_atoms"]  # even 30 steps improve on free atoms
    assert json.loads(out.with_suffix(".json").read_text())["n_held_out"] == 6


def test_validation_by_composition_keeps_whole_compositions_on_one_side() -> None:
    from deepaw_nb.train.data import read_index, training_ids, validation_ids

    entries = [s for s in read_index()["structures"] if s["split"] == "train"]
    composition = {s["id"]: s["composition"] for s in entries}
    train, val = training_ids(val_fraction=0.1, seed=3, by="composition")
    assert sorted(train + val) == sorted(composition) and not set(train) & set(val)
    assert not {composition[i] for i in train} & {composition[i] for i in val}
    assert 0.03 < len({composition[i] for i in val}) / len(set(composition.values())) < 0.2
    assert training_ids(val_fraction=0.1, seed=3, by="composition") == (train, val)  # seeded
    by_structure = training_ids(val_fraction=0.1, seed=3)
    assert by_structure[1] == validation_ids(sorted(composition), 0.1, 3)  # the default is unchanged
    assert {composition[i] for i in by_structure[0]} & {composition[i] for i in by_structure[1]}  # shares compositions
    with pytest.raises(ValueError, match="use 'structure' or 'composition'"):
        training_ids(by="formula")


@pytest.mark.skipif(
    not (ROOT / "data" / "reference" / "index.json").is_file(), reason="reference data not packed"
)
def test_ensemble_study_combines_saved_predictions_by_mean_and_median(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    """On the validation grids: three fake 'models' (reference + scaled noise); the study's
    numbers equal the mean / median NMAE computed here, and one outlier favours the median."""
    from deepaw_nb.train.data import read_index

    grids = {s["id"]: s["file"] for s in read_index()["structures"] if s["split"] == "validation"}
    ids = sorted(grids)[:2]
    rng = np.random.default_rng(0)
    refs = {sid: np.load(ROOT / "data" / "reference" / grids[sid])["density"].astype(np.float64) for sid in ids}
    models = {}
    for name, scale in (("a", 0.01), ("b", 0.01), ("outlier", 0.2)):
        folder = tmp_path / name
        folder.mkdir()
        for sid, ref in refs.items():
            pred = ref * (1 + scale * rng.standard_normal(ref.shape))
            np.save(folder / f"{sid}.npy", pred.astype(np.float32))
        models[name] = folder
    rows = _load_script("ensemble_study").main([f"{n}={d}" for n, d in models.items()] + ["--combine", "both"])
    assert len(rows) == 3 + 3 + 2  # singles, pairs (mean only), the triple by mean and by median
    best_subset, _, _, _ = rows[0]
    assert "outlier" not in best_subset
    triple = {rule: value for subset, rule, value, _ in rows if len(subset) == 3}
    assert triple["median"] < triple["mean"]
    for rule, combine in (("mean", np.mean), ("median", np.median)):
        expected = np.mean([np.abs(combine([np.load(d / f"{sid}.npy").astype(np.float64) for d in models.values()],
                                           axis=0) - ref).sum() / np.abs(ref).sum() for sid, ref in refs.items()])
        assert triple[rule] == pytest.approx(expected, rel=1e-9)
    assert "| a + b + outlier | median |" in capsys.readouterr().out


def test_training_never_reads_the_test_or_validation_splits() -> None:
    from deepaw_nb.train.data import read_index, training_ids

    split = {s["id"]: s["split"] for s in read_index()["structures"]}
    assert {"test", "validation"} <= set(split.values())
    for by in ("structure", "composition"):
        train, val = training_ids(by=by)
        assert {split[i] for i in train + val} == {"train"}
