"""Tests of deepaw_nb.grid: FFT sizes, spacing and ENCUT rules, grid points, memory checks."""

from __future__ import annotations

import math

import numpy as np
import pytest

from deepaw_nb.errors import GridError
from deepaw_nb.grid import (
    DEFAULT_SPACING,
    GRID_PRIME_FACTORS,
    HBAR2_OVER_2ME,
    available_memory_bytes,
    cartesian_grid_points,
    check_grid_memory,
    fractional_grid_points,
    grid_shape_from_encut,
    grid_shape_from_spacing,
    next_fft_size,
    resolve_grid_shape,
)

# A strongly sheared triclinic cell (Å): |a_i| differs a lot from 2π/|b_i|.
TRICLINIC = np.array([[4.0, 0.0, 0.0], [3.5, 4.2, 0.0], [1.2, 2.9, 5.1]])


def assert_one_line_error(excinfo, *words):
    msg = str(excinfo.value)
    assert "\n" not in msg and msg.strip() == msg and msg
    assert "; " in msg, f"message should name the problem, then the fix after '; ': {msg}"
    for w in words:
        assert w.lower() in msg.lower(), (w, msg)


def _smooth(n):
    for p in GRID_PRIME_FACTORS:
        while n % p == 0:
            n //= p
    return n == 1


# ---------------------------------------------------------------- next_fft_size
def test_next_fft_size_matches_brute_force():
    for n in range(1, 400):
        m = next_fft_size(n)
        assert m >= n and _smooth(m)
        assert all(not _smooth(k) for k in range(n, m))
    assert next_fft_size(11) == 12 and next_fft_size(97) == 98 and next_fft_size(121) == 125
    assert next_fft_size(np.int64(13)) == 14


@pytest.mark.parametrize("bad", [0, -3, 2.5, "8", None, True, float("nan")])
def test_next_fft_size_rejects_bad(bad):
    with pytest.raises(GridError) as e:
        next_fft_size(bad)
    assert_one_line_error(e)


# ---------------------------------------------------------------- spacing
def test_grid_shape_from_spacing():
    cell = np.diag([5.4, 10.0, 3.07])
    assert grid_shape_from_spacing(cell, 0.1) == (54, 100, 32)  # 54 exactly, not 55
    assert grid_shape_from_spacing(cell, 0.5) == (12, 20, 7)
    # Triclinic: counts follow |a_i|.
    lengths = np.linalg.norm(TRICLINIC, axis=1)
    expected = tuple(next_fft_size(math.ceil(length / 0.2)) for length in lengths)
    assert grid_shape_from_spacing(TRICLINIC, 0.2) == expected


@pytest.mark.parametrize("bad", [0, -0.1, float("inf"), "0.1", None])
def test_grid_shape_from_spacing_rejects_bad_spacing(bad):
    with pytest.raises(GridError) as e:
        grid_shape_from_spacing(np.eye(3) * 5, bad)
    assert_one_line_error(e, "spacing")


@pytest.mark.parametrize(
    "cell", [np.zeros((3, 3)), [[1, 0, 0], [2, 0, 0], [0, 0, 1]], np.eye(2), [[np.nan, 0, 0], [0, 1, 0], [0, 0, 1]]]
)
def test_bad_cells_rejected(cell):
    with pytest.raises(GridError) as e:
        grid_shape_from_spacing(cell, 0.1)
    assert_one_line_error(e, "cell")


# ---------------------------------------------------------------- ENCUT
def test_hbar2_over_2me_from_constants():
    assert HBAR2_OVER_2ME == pytest.approx(3.80998, abs=2e-5)


def test_encut_reproduces_real_vasp_outcar():
    # ASE ships a real VASP 5.3.3 OUTCAR (ase/test/testdata/vasp/OUTCAR_example_1): cubic
    # a = 17.93435 Å, ENCUT = 300 eV, PREC = Accurate -> NGX = 108, NGXF = 216.  (The rule
    # gives 101 before rounding; 105 is 7-smooth but odd, VASP uses 108.)
    cell = np.eye(3) * 17.93435
    assert grid_shape_from_encut(cell, 300.0, prec="accurate") == (216, 216, 216)
    assert grid_shape_from_encut(cell, 300.0) == (216, 216, 216)  # default is Accurate


def test_encut_prec_variants_worked_example():
    # Si conventional cell a = 5.43 Å, ENCUT = 520 eV:
    # G_cut = sqrt(520/3.80998) = 11.683 Å^-1; G_cut*a/2π = 10.096.
    # Accurate: int(4*10.096+0.5) = 40 -> 40 (2^3*5) -> NGXF 80.
    # Normal:   int(3*10.096+0.5) = 30 -> 30           -> NGXF 60.
    cell = np.eye(3) * 5.43
    assert grid_shape_from_encut(cell, 520, "accurate") == (80, 80, 80)
    assert grid_shape_from_encut(cell, 520, "Normal") == (60, 60, 60)
    assert grid_shape_from_encut(cell, 520, "single") == (40, 40, 40)


def test_encut_triclinic_uses_direct_lengths_like_pymatgen():
    encut = 400.0
    shape = grid_shape_from_encut(TRICLINIC, encut)
    g_cut = math.sqrt(encut / HBAR2_OVER_2ME)
    direct = np.linalg.norm(TRICLINIC, axis=1)
    recip = np.linalg.norm(2 * np.pi * np.linalg.inv(TRICLINIC).T, axis=1)
    # Counts from |a_i| (what VASP does) and from 2π/|b_i| differ for this cell ...
    by_direct = [int(4 * g_cut * length / (2 * np.pi) + 0.5) for length in direct]
    by_recip = [int(4 * g_cut / b + 0.5) for b in recip]
    assert by_direct != by_recip
    # ... and ours follows |a_i|, which is what avoids aliasing: the largest Miller index along
    # a_i inside |G| <= 2 G_cut is 2 G_cut |a_i| / 2π >= 2 G_cut / |b_i|.
    assert all(n >= 2 * m for n, m in zip(shape, by_direct))
    assert shape[1] > 2 * by_recip[1]
    # Cross-check with pymatgen's implementation (validated against Materials Project runs).
    sets = pytest.importorskip("pymatgen.io.vasp.sets")
    from pymatgen.core import Lattice, Structure

    class _Stub:  # calculate_ng only reads .incar and .poscar.structure
        incar: dict = {}

        class poscar:  # noqa: N801
            structure = Structure(Lattice(TRICLINIC), ["Si"], [[0, 0, 0]])

    _, fine = sets.VaspInputSet.calculate_ng(_Stub(), custom_encut=encut, custom_prec="Accurate")
    assert tuple(fine) == shape
    _, fine_n = sets.VaspInputSet.calculate_ng(_Stub(), custom_encut=encut, custom_prec="Normal")
    assert tuple(fine_n) == grid_shape_from_encut(TRICLINIC, encut, prec="normal")


@pytest.mark.parametrize("prec", ["low", "High", "bogus"])
def test_encut_rejects_unsupported_prec(prec):
    with pytest.raises(GridError) as e:
        grid_shape_from_encut(np.eye(3) * 5, 500, prec=prec)
    assert_one_line_error(e, "PREC", "accurate")


@pytest.mark.parametrize("bad", [0, -500, float("nan"), "500"])
def test_encut_rejects_bad_encut(bad):
    with pytest.raises(GridError) as e:
        grid_shape_from_encut(np.eye(3) * 5, bad)
    assert_one_line_error(e, "ENCUT")


# ---------------------------------------------------------------- resolve_grid_shape
def test_resolve_grid_shape_options():
    cell = np.eye(3) * 5.43
    assert resolve_grid_shape(cell, grid=(7, 9, 11)) == (7, 9, 11)
    assert resolve_grid_shape(cell, grid=np.array([7, 9, 11])) == (7, 9, 11)
    assert resolve_grid_shape(cell, grid=(8.0, 8, 8)) == (8, 8, 8)
    assert resolve_grid_shape(cell, encut=520) == (80, 80, 80)
    assert resolve_grid_shape(cell, spacing=0.2) == grid_shape_from_spacing(cell, 0.2)
    assert resolve_grid_shape(cell) == grid_shape_from_spacing(cell, DEFAULT_SPACING)


@pytest.mark.parametrize(
    "kwargs, word",
    [
        ({"grid": (0, 4, 4)}, ">= 1"),
        ({"grid": (-2, 4, 4)}, ">= 1"),
        ({"grid": (4.5, 4, 4)}, "whole"),
        ({"grid": (4, 4)}, "3 dimensions"),
        ({"grid": "48"}, "three integers"),
        ({"grid": (4, None, 4)}, "integer"),
        ({"grid": (4, 4, 4), "encut": 500}, "only one"),
        ({"spacing": 0.1, "encut": 500}, "only one"),
        ({"spacing": -1}, "> 0"),
    ],
)
def test_resolve_grid_shape_errors(kwargs, word):
    with pytest.raises(GridError) as e:
        resolve_grid_shape(np.eye(3) * 5, **kwargs)
    assert_one_line_error(e, word)


# ---------------------------------------------------------------- points
def test_fractional_grid_points_order_and_slices():
    shape = (3, 4, 5)
    pts = fractional_grid_points(shape)
    assert pts.shape == (60, 3) and pts.dtype == np.float64
    i, j, k = 2, 1, 3
    p = (i * 4 + j) * 5 + k
    np.testing.assert_allclose(pts[p], [i / 3, j / 4, k / 5])
    np.testing.assert_allclose(fractional_grid_points(shape, 17, 41), pts[17:41])
    assert fractional_grid_points(shape, 60, 60).shape == (0, 3)
    # Same order as a C-order reshape of the density (what read_chgcar returns).
    grid = np.stack(np.meshgrid(*(np.arange(n) / n for n in shape), indexing="ij"), axis=-1)
    np.testing.assert_allclose(pts, grid.reshape(-1, 3))


def test_cartesian_grid_points():
    pts = cartesian_grid_points(TRICLINIC, (4, 5, 6), 10, 30)
    np.testing.assert_allclose(pts, fractional_grid_points((4, 5, 6), 10, 30) @ TRICLINIC)


@pytest.mark.parametrize("start, stop", [(-1, None), (5, 3), (0, 61), (1.5, None), (0, "9")])
def test_grid_points_bad_ranges(start, stop):
    with pytest.raises(GridError) as e:
        fractional_grid_points((3, 4, 5), start, stop)
    assert_one_line_error(e)


# ---------------------------------------------------------------- memory
def test_available_memory_is_positive():
    assert available_memory_bytes() > 0


def test_check_grid_memory_passes_and_fails():
    assert check_grid_memory((10, 10, 10), 4, budget_bytes=1e6) == 4000
    with pytest.raises(GridError) as e:
        check_grid_memory((1000, 1000, 1000), 4, budget_bytes=1e8, cell=np.eye(3) * 10)
    assert_one_line_error(e, "1000x1000x1000", "grid of at most", "spacing")
    # The suggested grid really fits.
    msg = str(e.value)
    dims = msg.split("at most ")[1].split(" ")[0].split("x")
    assert math.prod(int(d) for d in dims) * 4 <= 1e8


def test_check_grid_memory_default_budget_rejects_absurd_grid():
    with pytest.raises(GridError) as e:
        check_grid_memory((1_000_000, 1_000_000, 1_000_000))
    assert_one_line_error(e, "available memory")


@pytest.mark.parametrize("kwargs", [{"bytes_per_point": 0}, {"budget_bytes": -1}, {"bytes_per_point": "4"}])
def test_check_grid_memory_bad_arguments(kwargs):
    with pytest.raises(GridError) as e:
        check_grid_memory((4, 4, 4), **kwargs)
    assert_one_line_error(e)
