"""Every bad input to predict() gets a one-line DeepawError naming the fix."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from ase import Atoms

import deepaw_nb
from deepaw_nb import (
    CheckpointError,
    DensityModel,
    GridError,
    InputFileError,
    StructureError,
    UnsupportedElementError,
)
from conftest import REFERENCE


def _si(**changes) -> Atoms:  # type: ignore[no-untyped-def]
    atoms = Atoms("Si2", scaled_positions=[[0, 0, 0], [0.25, 0.25, 0.25]], cell=[[0, 2.7, 2.7], [2.7, 0, 2.7], [2.7, 2.7, 0]], pbc=True)
    for key, value in changes.items():
        setattr(atoms, key, value)
    return atoms


def _assert_one_line(info) -> None:  # type: ignore[no-untyped-def]
    message = str(info.value)
    assert message and "\n" not in message and len(message) < 400, message


def _predict(structure, model, **kw):  # type: ignore[no-untyped-def]
    kw.setdefault("grid", (4, 4, 4))
    return deepaw_nb.predict(structure, model=model, progress=False, **kw)


def test_missing_file(si_model, tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InputFileError) as info:
        _predict(tmp_path / "missing.cif", si_model)
    _assert_one_line(info)


def test_unknown_format(si_model, tmp_path) -> None:  # type: ignore[no-untyped-def]
    junk = tmp_path / "structure.abc"
    junk.write_bytes(b"\x00\x01garbage\xff" * 50)
    with pytest.raises(InputFileError) as info:
        _predict(junk, si_model)
    _assert_one_line(info)


def test_non_periodic(si_model) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(StructureError, match="periodic") as info:
        _predict(Atoms("H2O", positions=[[0, 0, 0], [0.96, 0, 0], [-0.24, 0.93, 0]]), si_model)
    _assert_one_line(info)


def test_zero_volume(si_model) -> None:  # type: ignore[no-untyped-def]
    flat = Atoms("Si", positions=[[0, 0, 0]], cell=[[3, 0, 0], [0, 3, 0], [3, 3, 0]], pbc=True)
    with pytest.raises(StructureError, match="volume") as info:
        _predict(flat, si_model)
    _assert_one_line(info)


def test_atoms_too_close(si_model) -> None:  # type: ignore[no-untyped-def]
    atoms = _si()
    atoms.positions[1] = atoms.positions[0] + [0.3, 0, 0]
    with pytest.raises(StructureError, match="0.3") as info:
        _predict(atoms, si_model)
    _assert_one_line(info)


def test_nan_coordinates(si_model) -> None:  # type: ignore[no-untyped-def]
    atoms = _si()
    atoms.positions[0, 1] = np.nan
    with pytest.raises(StructureError) as info:
        _predict(atoms, si_model)
    _assert_one_line(info)


def test_element_outside_the_model(si_model) -> None:  # type: ignore[no-untyped-def]
    restricted = DensityModel(si_model.f_nonlocal, None, dataclasses.replace(si_model.info, species=(8, 14)))
    atoms = _si()
    atoms.numbers[1] = 72
    with pytest.raises(UnsupportedElementError, match="Hf.*supports O, Si") as info:
        _predict(atoms, restricted)
    _assert_one_line(info)


@pytest.mark.parametrize("grid", [(0, 4, 4), (4, -1, 4), (4, 4)])
def test_bad_grid(si_model, grid) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(GridError) as info:
        _predict(_si(), si_model, grid=grid)
    _assert_one_line(info)


def test_grid_too_large_for_memory(si_model) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(GridError, match="spacing|grid") as info:
        _predict(_si(), si_model, grid=(20000, 20000, 20000))
    _assert_one_line(info)


def test_two_grid_options(si_model) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(GridError, match="only one") as info:
        _predict(_si(), si_model, grid=None, encut=400, spacing=0.2)
    _assert_one_line(info)


def test_checkpoint_that_does_not_match(tmp_path) -> None:  # type: ignore[no-untyped-def]
    state = torch.load(REFERENCE / "si_l2_f_nonlocal.pth", weights_only=True)
    state["probe_model.readout.weight"] = torch.zeros(3)
    path = tmp_path / "bad.pth"
    torch.save(state, path)
    with pytest.raises(CheckpointError, match="readout") as info:
        _predict(_si(), str(path))
    _assert_one_line(info)


def test_bad_points(si_model) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(StructureError, match=r"\(N, 3\)") as info:
        deepaw_nb.predict_points(_si(), np.zeros((4, 2)), model=si_model)
    _assert_one_line(info)


def test_bad_model_argument() -> None:
    with pytest.raises(deepaw_nb.DeepawError, match="not a model"):
        _predict(_si(), 42)
