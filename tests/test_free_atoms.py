"""Free-atom superposition: the tables, their sum over periodic images, and model files using them."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
import torch
from ase.build import bulk
from ase.data import chemical_symbols

import deepaw_nb
from deepaw_nb.errors import CheckpointError, InputFileError, UnsupportedElementError
from deepaw_nb.graph import point_edges
from deepaw_nb.model import FNonlocal, FreeAtomDensity, ModelConfig
from deepaw_nb.train import save_bundle

ROOT = Path(__file__).resolve().parents[1]
TABLES = ROOT / "data" / "reference" / "free_atoms.npz"
ISSUE_ELEMENTS = "H Li B C N O F Na Mg Al Si P S Cl K Ca Ti Zn Ga Zr Hf".split()
TINY = ModelConfig(mul=8, lmax=1, num_interactions=2, radial_hidden=16)


@pytest.fixture(scope="module")
def tables() -> FreeAtomDensity:
    return FreeAtomDensity.from_npz(TABLES, cutoff=4.0)


def _brute_force(tables: np.lib.npyio.NpzFile, numbers, positions, cell, points, cutoff: float) -> np.ndarray:
    """Σ over atoms and lattice images within ``cutoff`` of np.interp(f_Z): the definition."""
    radii = tables["radii"]
    out = np.zeros(len(points))
    for shift in itertools.product(range(-3, 4), repeat=3):
        offset = np.asarray(shift) @ cell
        for z, pos in zip(numbers, positions):
            d = np.linalg.norm(points - pos - offset, axis=1)
            near = d < cutoff
            out[near] += np.interp(d[near], radii, tables[chemical_symbols[z]])
    return out


def _superpose(model_tables: FreeAtomDensity, numbers, positions, cell, points) -> np.ndarray:
    edges = point_edges(positions, cell, points, model_tables.cutoff)
    species = torch.as_tensor(np.asarray(numbers))[torch.as_tensor(edges.sender).long()]
    return model_tables(
        species, torch.as_tensor(edges.vectors, dtype=torch.float32), torch.as_tensor(edges.receiver).long(), len(points)
    ).numpy()


def test_tables_cover_the_issue_elements(tables) -> None:  # type: ignore[no-untyped-def]
    assert {chemical_symbols[z] for z in tables.species} == set(ISSUE_ELEMENTS)
    with np.load(TABLES) as z:
        for symbol in ISSUE_ELEMENTS:
            f = z[symbol]
            assert (f >= -1e-6).all() and f[0] > 0.05  # a density, peaked at the nucleus (pseudo, smooth)
            assert f[int(4.0 / 0.005)] < 1e-4 * f.max()  # negligible at the 4 Å model cutoff


def test_superposition_equals_brute_force_in_a_skewed_cell(tables) -> None:  # type: ignore[no-untyped-def]
    cell = np.array([[3.1, 0.0, 0.0], [1.4, 2.9, 0.0], [0.7, 0.9, 3.4]])  # small and skewed: many images
    numbers = [8, 72, 1]
    positions = np.array([[0.1, 0.2, 0.3], [1.9, 1.1, 1.7], [2.5, 2.0, 0.4]])
    points = np.random.default_rng(3).random((400, 3)) @ cell
    with np.load(TABLES) as z:
        expected = _brute_force(z, numbers, positions, cell, points, 4.0)
    got = _superpose(tables, numbers, positions, cell, points)
    np.testing.assert_allclose(got, expected, rtol=2e-5, atol=1e-6)


def test_reproduces_gpaws_initial_guess_on_a_reference_grid(tables) -> None:  # type: ignore[no-untyped-def]
    """The recipe's reading of GPAW's setups matches the ``density_atoms`` GPAW itself produced."""
    with np.load(ROOT / "data" / "reference" / "grids" / "Si_diamond.npz") as z:
        shape = tuple(z["grid_shape"])
        ijk = np.stack(np.meshgrid(*[np.arange(n) for n in shape], indexing="ij"), -1).reshape(-1, 3)
        points = (ijk / np.asarray(shape)) @ z["cell"]
        ours = _superpose(tables, z["numbers"], z["positions"], z["cell"], points)
        gpaw = z["density_atoms"].reshape(-1).astype(np.float64)
    nmae = np.abs(ours - gpaw).sum() / gpaw.sum()
    assert nmae < 0.02, nmae  # GPAW also rescales its guess to a neutral cell (a ~0.5 % factor)
    scale = (ours * gpaw).sum() / (ours * ours).sum()
    assert np.abs(scale * ours - gpaw).sum() / gpaw.sum() < 0.003


def test_bad_tables_are_refused() -> None:
    radii = np.arange(11) * 0.5
    with pytest.raises(CheckpointError, match="uniform"):
        FreeAtomDensity(radii**1.1, {1: np.ones(11)}, 4.0)
    with pytest.raises(CheckpointError, match="cutoff"):
        FreeAtomDensity(radii, {1: np.ones(11)}, 6.0)
    with pytest.raises(CheckpointError, match="shape"):
        FreeAtomDensity(radii, {1: np.ones(5)}, 4.0)
    with pytest.raises(CheckpointError, match="unknown element"):
        FreeAtomDensity.from_dict({"radii": radii, "tables": {"Xx": np.ones(11)}, "cutoff": 4.0})
    with pytest.raises(InputFileError, match="free_atom_densities.py"):
        FreeAtomDensity.from_npz(ROOT / "no-such.npz", 4.0)


def _bundle(tmp_path: Path, tables: FreeAtomDensity, species: list[int]) -> Path:
    torch.manual_seed(0)
    network = FNonlocal(TINY)
    for p in network.probe_model.readout.parameters():  # the network adds exactly 0: prediction = superposition
        torch.nn.init.zeros_(p)
    return save_bundle(tmp_path / "fa.pt", network, species, "fa", "free atoms only", free_atoms=tables)


def test_model_file_with_tables_predicts_the_superposition(tables, tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = _bundle(tmp_path, tables, [14])
    model = deepaw_nb.load_model(path)
    si = bulk("Si", "diamond", a=5.43)
    points = np.random.default_rng(0).random((200, 3)) @ np.asarray(si.cell)
    got = deepaw_nb.predict_points(si, points, model=model)
    np.testing.assert_allclose(got, _superpose(tables, si.numbers, si.positions, np.asarray(si.cell), points), atol=1e-6)
    result = deepaw_nb.predict(si, model=model, grid=(12, 12, 12), progress=False)
    # ∫ρ_atoms = Σ ∫f_Si: the tables' own atomic charge, as the grid resolves it.
    with np.load(TABLES) as z:
        r, f = z["radii"], z["Si"].astype(np.float64)
    per_atom = np.trapezoid(4 * np.pi * r[r < 4.0] ** 2 * f[r < 4.0], r[r < 4.0])
    assert result.electron_count() == pytest.approx(2 * per_atom, rel=0.02)


def test_elements_without_a_table_are_refused(tmp_path) -> None:
    radii = np.arange(801) * 0.005
    only_si = FreeAtomDensity(radii, {14: np.exp(-radii)}, 4.0)
    model = deepaw_nb.load_model(_bundle(tmp_path, only_si, [8, 14]))  # O is in species but has no table
    with pytest.raises(UnsupportedElementError, match="supports Si"):
        deepaw_nb.predict(bulk("MgO", "rocksalt", a=4.2), model=model, grid=(4, 4, 4), progress=False)


def test_newer_model_formats_are_refused_and_version_1_loads(tables, tmp_path) -> None:  # type: ignore[no-untyped-def]
    raw = torch.load(_bundle(tmp_path, tables, [14]), weights_only=True)
    raw["format"] = "deepaw-nb-model/9"
    torch.save(raw, tmp_path / "future.pt")
    with pytest.raises(CheckpointError, match="upgrade deepaw-nb"):
        deepaw_nb.load_model(tmp_path / "future.pt")
    raw["format"] = "deepaw-nb-model/1"
    del raw["free_atoms"]
    torch.save(raw, tmp_path / "v1.pt")
    assert deepaw_nb.load_model(tmp_path / "v1.pt").free_atoms is None
