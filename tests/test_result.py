"""DensityResult: CHGCAR/cube/npy export, electron count, comparison with a reference."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.calculators.vasp import VaspChargeDensity
from pymatgen.io.vasp import Chgcar

from deepaw_nb import DensityResult, GridError, OutputError


def _result(shape=(10, 12, 14)) -> DensityResult:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(3)
    atoms = Atoms(
        "SiO2",
        scaled_positions=[[0.1, 0.2, 0.3], [0.5, 0.5, 0.5], [0.8, 0.1, 0.6]],
        cell=[[4.1, 0.0, 0.0], [0.7, 4.5, 0.0], [0.4, -0.9, 5.2]],
        pbc=True,
    )
    density = rng.uniform(0.01, 2.0, size=shape).astype(np.float32)
    return DensityResult(density=density, atoms=atoms, timings={"writing": 0.0})


def test_chgcar_reads_back_in_ase_and_pymatgen(tmp_path) -> None:  # type: ignore[no-untyped-def]
    result = _result()
    path = result.to_chgcar(tmp_path / "CHGCAR")
    scale = np.abs(result.density).max()
    ase_density = VaspChargeDensity(str(path)).chg[-1]  # ASE divides by the volume: e/Å³
    assert np.abs(ase_density - result.density).max() <= 1e-5 * scale
    pmg = Chgcar.from_file(str(path))
    pmg_density = pmg.data["total"] / pmg.structure.volume
    assert np.abs(pmg_density - result.density).max() <= 1e-5 * scale
    again = DensityResult.from_chgcar(path)
    assert again.grid_shape == result.grid_shape
    assert np.abs(again.density - result.density).max() <= 1e-5 * scale
    assert result.timings["writing"] > 0


def test_electron_count_is_the_grid_integral() -> None:
    result = _result()
    expected = result.density.astype(np.float64).mean() * result.volume
    assert result.electron_count() == pytest.approx(expected, rel=1e-9)


def test_compare_metrics() -> None:
    result = _result()
    reference = DensityResult(density=result.density * 1.1, atoms=result.atoms)
    cmp = result.compare(reference)
    assert cmp.nmae == pytest.approx(0.1 / 1.1, rel=1e-5)
    assert cmp.electron_count_difference == pytest.approx(result.electron_count() - reference.electron_count())
    assert cmp.max_error == pytest.approx(float(np.abs(result.density * 0.1).max()), rel=1e-4)
    assert "NMAE" in str(cmp)
    assert result.compare(result).nmae == 0.0
    diff = result.difference(reference)
    np.testing.assert_allclose(diff.density, result.density - reference.density, atol=1e-6)


def test_compare_with_a_chgcar_path_and_a_tuple(tmp_path) -> None:  # type: ignore[no-untyped-def]
    result = _result()
    path = result.to_chgcar(tmp_path / "CHGCAR")
    assert result.compare(path).nmae < 1e-6
    assert result.compare((result.atoms, result.density)).nmae == 0.0


def test_compare_refuses_other_grids_and_cells() -> None:
    result = _result()
    with pytest.raises(GridError, match="predict with grid="):
        result.compare(_result(shape=(8, 8, 8)))
    other = result.atoms.copy()
    other.cell[0, 0] += 0.2
    with pytest.raises(GridError, match="cell differs"):
        result.compare((other, result.density))
    with pytest.raises(OutputError, match="cannot compare"):
        result.compare(42)


def test_writers_refuse_to_overwrite_and_write_cube_npy(tmp_path) -> None:  # type: ignore[no-untyped-def]
    result = _result()
    path = result.to_chgcar(tmp_path / "CHGCAR")
    before = path.read_bytes()
    with pytest.raises(OutputError, match="overwrite=True"):
        result.to_chgcar(path)
    assert path.read_bytes() == before
    result.to_chgcar(path, overwrite=True)
    cube = result.to_cube(tmp_path / "rho.cube")
    from ase.io.cube import read_cube_data

    data, _ = read_cube_data(str(cube))
    from ase.units import Bohr

    np.testing.assert_allclose(data / Bohr**3, result.density, rtol=1e-5)
    npy = result.to_npy(tmp_path / "rho.npy")
    np.testing.assert_array_equal(np.load(npy), result.density)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["CHGCAR", "rho.cube", "rho.npy"]


def test_bad_density_array() -> None:
    with pytest.raises(GridError, match="3-D"):
        DensityResult(density=np.zeros(5), atoms=Atoms("H", cell=[2, 2, 2], pbc=True))


def test_to_numpy_is_a_copy() -> None:
    result = _result()
    array = result.to_numpy()
    array[0, 0, 0] = -1
    assert result.density[0, 0, 0] != -1
