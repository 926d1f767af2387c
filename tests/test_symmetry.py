"""Crystal-symmetry reduction of the grid."""

from __future__ import annotations

import ase.io
import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk

from conftest import REFERENCE, REPO
from deepaw_nb.symmetry import grid_symmetry


def _hfo2() -> Atoms:
    if not (REFERENCE / "hfo2_full.json").is_file():
        pytest.skip("reference fixtures missing")
    return ase.io.read(REFERENCE / "hfo2_full.json")


def _orbits_are_consistent(atoms: Atoms, shape) -> None:  # type: ignore[no-untyped-def]
    plan = grid_symmetry(atoms, shape)
    assert plan.used
    # A field built from a symmetric function of the structure must be reproduced exactly by expand().
    frac = np.stack(np.meshgrid(*[np.arange(n) / n for n in shape], indexing="ij"), -1).reshape(-1, 3)
    cart = frac @ np.asarray(atoms.cell)
    field = np.zeros(len(cart))
    for pos in atoms.get_positions():
        for shift in np.array(np.meshgrid([-1, 0, 1], [-1, 0, 1], [-1, 0, 1])).T.reshape(-1, 3):
            d = np.linalg.norm(cart - (pos + shift @ np.asarray(atoms.cell)), axis=1)
            field += np.exp(-2.0 * d**2)
    expanded = plan.expand(field[plan.representatives], shape).ravel()
    np.testing.assert_allclose(expanded, field, rtol=1e-9, atol=1e-12)


def test_hfo2_80_cubed_needs_at_most_130k_evaluations() -> None:
    plan = grid_symmetry(_hfo2(), (80, 80, 80))
    assert plan.used and plan.spacegroup.startswith("P2_1/c")
    assert plan.num_evaluations <= 130_000
    assert plan.inverse.shape == (512_000,)


@pytest.mark.parametrize(
    ("name", "shape"),
    [("hfo2", (12, 12, 12)), ("si", (12, 12, 12)), ("rutile", (12, 12, 8))],
)
def test_expanded_symmetric_field_is_exact(name: str, shape) -> None:  # type: ignore[no-untyped-def]
    atoms = {
        "hfo2": _hfo2,
        "si": lambda: bulk("Si", "diamond", a=5.43),
        "rutile": lambda: ase.io.read(REPO / "data" / "examples" / "TiO2_rutile.cif"),
    }[name]()
    _orbits_are_consistent(atoms, shape)


def test_p1_cell_falls_back_and_says_why() -> None:
    if not (REFERENCE / "triclinic_l4.json").is_file():
        pytest.skip("reference fixtures missing")
    plan = grid_symmetry(ase.io.read(REFERENCE / "triclinic_l4.json"), (6, 7, 8))
    assert not plan.used and "P1" in plan.reason
    assert plan.num_evaluations == 6 * 7 * 8


def test_incompatible_grid_drops_operations() -> None:
    si = bulk("Si", "diamond", a=5.43)
    plan = grid_symmetry(si, (12, 12, 10))  # unequal axes break the cubic operations
    assert plan.num_operations < plan.num_spacegroup_operations


def test_slightly_distorted_structure_is_not_symmetrised() -> None:
    si = bulk("Si", "diamond", a=5.43)
    si.positions[1] += [2e-4, 0, 0]  # within spglib's tolerance, but not exact
    plan = grid_symmetry(si, (12, 12, 12))
    assert not plan.used and "approximately" in plan.reason


@pytest.mark.parametrize(
    ("name", "shape"),
    [("hfo2", (10, 10, 10)), ("si", (12, 12, 12)), ("rutile", (10, 10, 6)), ("p1", (7, 8, 9))],
)
def test_reduced_prediction_equals_the_full_one(si_model, name: str, shape) -> None:  # type: ignore[no-untyped-def]
    import deepaw_nb

    atoms = {
        "hfo2": _hfo2,
        "si": lambda: bulk("Si", "diamond", a=5.43),
        "rutile": lambda: ase.io.read(REPO / "data" / "examples" / "TiO2_rutile.cif"),
        "p1": lambda: ase.io.read(REFERENCE / "triclinic_l4.json"),
    }[name]()
    reduced = deepaw_nb.predict(atoms, model=si_model, grid=shape, progress=False)
    full = deepaw_nb.predict(atoms, model=si_model, grid=shape, progress=False, symmetry=False)
    info = reduced.provenance["symmetry"]
    assert info["used"] == (name != "p1"), info["reason"]
    assert not full.provenance["symmetry"]["used"] and "turned off" in full.provenance["symmetry"]["reason"]
    if name != "p1":
        assert info["evaluations"] < np.prod(shape)
    assert reduced.complete
    scale = float(np.abs(full.density).max())
    assert float(np.abs(reduced.density - full.density).max()) <= 1e-5 * scale
