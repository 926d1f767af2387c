"""Tests of deepaw_nb.io: atomic writes, safe names, CHGCAR/cube round trips, DeePAW databases."""

from __future__ import annotations

import os
import re
import sqlite3
import time
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms

from deepaw_nb.errors import GridError, InputFileError, OutputError, StructureError
from deepaw_nb.io import (
    atomic_write,
    read_ase_db_density,
    read_chgcar,
    read_structure,
    safe_output_path,
    write_chgcar,
    write_cube,
)

CELL = np.array([[4.1, 0.2, 0.1], [1.3, 4.6, 0.0], [0.7, -0.9, 5.3]])  # triclinic, Å
SHAPE = (7, 9, 11)  # 693 values: the last CHGCAR line holds 3


def assert_one_line_error(excinfo, *words):
    msg = str(excinfo.value)
    assert msg and "\n" not in msg and msg == msg.strip(), msg
    assert "; " in msg, f"message should name the problem, then the fix after '; ': {msg}"
    for w in words:
        assert w.lower() in msg.lower(), (w, msg)


def _atoms():
    rng = np.random.default_rng(1)
    return Atoms("OSiOLiSi", scaled_positions=rng.random((5, 3)), cell=CELL, pbc=True)


def _density():
    return np.random.default_rng(2).random(SHAPE) * 0.5 + 0.01  # e/Å³


@pytest.fixture
def atoms():
    return _atoms()


@pytest.fixture
def density():
    return _density()


@pytest.fixture
def chgcar(tmp_path, atoms, density):
    return write_chgcar(tmp_path / "CHGCAR", atoms, density)


def leftovers(directory: Path):
    return [p.name for p in directory.iterdir() if p.name.endswith(".tmp")]


# ---------------------------------------------------------------- atomic_write
def test_atomic_write_creates_and_refuses_overwrite(tmp_path):
    target = tmp_path / "out.txt"
    with atomic_write(target) as fh:
        fh.write("first\n")
    assert target.read_text() == "first\n"
    assert oct(target.stat().st_mode & 0o777) != oct(0o600)  # not the mkstemp default
    with pytest.raises(OutputError) as e:
        with atomic_write(target) as fh:
            fh.write("second\n")
    assert_one_line_error(e, "exists", "overwrite=True")
    assert target.read_text() == "first\n"
    with atomic_write(target, "wb", overwrite=True) as fh:
        fh.write(b"second\n")
    assert target.read_text() == "second\n" and not leftovers(tmp_path)


def test_atomic_write_interrupted_keeps_old_file(tmp_path):
    target = tmp_path / "CHGCAR"
    target.write_text("precious")
    with pytest.raises(KeyboardInterrupt):
        with atomic_write(target, overwrite=True) as fh:
            fh.write("half of a new file")
            raise KeyboardInterrupt
    assert target.read_text() == "precious"
    assert not leftovers(tmp_path)
    with pytest.raises(RuntimeError):
        with atomic_write(tmp_path / "new.txt") as fh:
            fh.write("x")
            raise RuntimeError("boom")
    assert not (tmp_path / "new.txt").exists() and not leftovers(tmp_path)


@pytest.mark.parametrize(
    "make_path, words",
    [
        (lambda d: d / "missing_dir" / "x.txt", ["does not exist", "create"]),
        (lambda d: d, ["directory", "file name"]),
    ],
)
def test_atomic_write_bad_targets(tmp_path, make_path, words):
    with pytest.raises(OutputError) as e:
        with atomic_write(make_path(tmp_path)) as fh:
            fh.write("x")
    assert_one_line_error(e, *words)


def test_atomic_write_bad_mode(tmp_path):
    with pytest.raises(OutputError) as e:
        with atomic_write(tmp_path / "x", mode="a"):
            pass
    assert_one_line_error(e, "mode")


# ---------------------------------------------------------------- safe_output_path
def test_safe_output_path_accepts_plain_and_nested(tmp_path):
    assert safe_output_path(tmp_path, "CHGCAR_pred") == tmp_path.resolve() / "CHGCAR_pred"
    assert safe_output_path(tmp_path, "runs/CHGCAR") == tmp_path.resolve() / "runs" / "CHGCAR"


@pytest.mark.parametrize(
    "name", ["../evil", "a/../../evil", "/etc/passwd", "bad\x00name", "", "   ", "..", ".", "..\\evil", "~/x", "link/x"]
)
def test_safe_output_path_refuses_escapes(tmp_path, name):
    (tmp_path / "outside").mkdir()
    (tmp_path / "base").mkdir()
    (tmp_path / "base" / "link").symlink_to(tmp_path / "outside")
    with pytest.raises(OutputError) as e:
        safe_output_path(tmp_path / "base", name)
    assert_one_line_error(e)


# ---------------------------------------------------------------- CHGCAR round trips
def test_chgcar_roundtrip_ours_ase_pymatgen(chgcar, atoms, density):
    text = chgcar.read_text()
    lines = text.splitlines()
    assert lines[5].split() == ["O", "Si", "Li"] and lines[6].split() == ["2", "2", "1"]
    assert lines[7] == "Direct"
    assert len(lines[-1].split()) == 3  # 693 = 138 * 5 + 3
    assert re.fullmatch(r"( (?:0|-)\.\d{11}E[+-]\d\d){5}", lines[-2])

    back, rho = read_chgcar(chgcar)
    assert rho.shape == SHAPE and rho.dtype == np.float64
    np.testing.assert_allclose(rho, density, rtol=1e-9)
    np.testing.assert_allclose(back.cell, CELL, atol=1e-10)
    assert back.get_chemical_symbols() == ["O", "O", "Si", "Si", "Li"]
    order = [0, 2, 1, 4, 3]  # grouped by species, stable within a species
    np.testing.assert_allclose(back.get_scaled_positions(), atoms.get_scaled_positions()[order], atol=1e-12)

    from ase.calculators.vasp import VaspChargeDensity

    vcd = VaspChargeDensity(str(chgcar))
    np.testing.assert_allclose(vcd.chg[0], density, rtol=1e-5)

    from pymatgen.io.vasp import Chgcar

    pmg = Chgcar.from_file(str(chgcar))
    np.testing.assert_allclose(pmg.data["total"] / pmg.structure.volume, density, rtol=1e-5)


def test_read_chgcar_written_by_ase(tmp_path, atoms, density):
    from ase.calculators.vasp import VaspChargeDensity

    vcd = VaspChargeDensity(filename=None)
    vcd.atoms.append(atoms)
    vcd.chg.append(density)
    vcd.write(str(tmp_path / "CHGCAR_ase"), format="chgcar")
    back, rho = read_chgcar(tmp_path / "CHGCAR_ase")
    np.testing.assert_allclose(rho, density, rtol=1e-5)
    assert len(back) == 5


def test_read_chgcar_ignores_augmentation_and_spin_blocks(chgcar, density):
    aug = "augmentation occupancies   1  4\n  0.1 0.2 0.3 0.4\n"
    mag = "  0.0 0.0 0.0 0.0 0.0\n    7    9   11\n" + " 0.5" * 693 + "\n"
    spin = chgcar.with_name("CHGCAR_spin")
    spin.write_text(chgcar.read_text() + aug * 5 + mag + aug * 5)
    _, rho = read_chgcar(spin)
    np.testing.assert_allclose(rho, density, rtol=1e-9)


def test_read_chgcar_vasp4_needs_species(chgcar, density):
    lines = chgcar.read_text().splitlines(keepends=True)
    vasp4 = chgcar.with_name("CHGCAR_v4")
    vasp4.write_text("".join(lines[:5] + lines[6:]))
    with pytest.raises(InputFileError) as e:
        read_chgcar(vasp4)
    assert_one_line_error(e, "VASP 4", "species=")
    back, rho = read_chgcar(vasp4, species=["O", "Si", "Li"])
    assert back.get_chemical_symbols() == ["O", "O", "Si", "Si", "Li"]
    np.testing.assert_allclose(rho, density, rtol=1e-9)
    titled = chgcar.with_name("CHGCAR_v4_title")  # VASP 4 with elements in the title line
    titled.write_text("".join(["O Si Li\n"] + lines[1:5] + lines[6:]))
    assert read_chgcar(titled)[0].get_chemical_symbols() == ["O", "O", "Si", "Si", "Li"]
    with pytest.raises(InputFileError) as e:
        read_chgcar(vasp4, species=["O", "Si"])
    assert_one_line_error(e, "species")


def test_read_chgcar_fortran_three_digit_exponent(chgcar):
    text = chgcar.read_text()
    first_value = text.split("\n\n")[1].splitlines()[1].split()[0]
    damaged = chgcar.with_name("CHGCAR_exp")
    damaged.write_text(text.replace(first_value, "0.12345678901-100", 1))
    _, rho = read_chgcar(damaged)
    assert rho[0, 0, 0] == pytest.approx(0.12345678901e-100 / abs(np.linalg.det(CELL)))


def test_truncated_chgcar(chgcar):
    data = chgcar.read_bytes()
    cut = chgcar.with_name("CHGCAR_cut")
    cut.write_bytes(data[: len(data) - 91 * 20])
    with pytest.raises(InputFileError) as e:
        read_chgcar(cut)
    assert_one_line_error(e, "ends after", "of 693 density values", "truncated")
    header_only = chgcar.with_name("CHGCAR_head")
    header_only.write_bytes(data[:200])
    with pytest.raises(InputFileError) as e:
        read_chgcar(header_only)
    assert_one_line_error(e, "truncated")


def test_chgcar_with_binary_junk(chgcar):
    data = chgcar.read_bytes()
    start = data.index(b"\n\n") + 1
    start = data.index(b"\n", start + 1) + 1  # after the grid line
    junk = chgcar.with_name("CHGCAR_junk")
    junk.write_bytes(data[:start] + b" 0.1E+01 0.2E+01\n" + np.random.default_rng(0).bytes(20000))
    with pytest.raises(InputFileError) as e:
        read_chgcar(junk)
    assert_one_line_error(e, "not a number", "corrupted")
    assert "value 3 of 693" in str(e.value)


def test_chgcar_with_nan(chgcar):
    text = chgcar.read_text()
    value = text.split("\n\n")[1].splitlines()[3].split()[2]
    bad = chgcar.with_name("CHGCAR_nan")
    bad.write_text(text.replace(value, "NaN", 1))
    with pytest.raises(InputFileError) as e:
        read_chgcar(bad)
    assert_one_line_error(e, "nan")


def test_chgcar_huge_declared_grid_fails_fast(chgcar):
    text = chgcar.read_text().replace("    7    9   11", "1000000 1000000 1000000", 1)
    huge = chgcar.with_name("CHGCAR_huge")
    huge.write_text(text)
    t0 = time.perf_counter()
    with pytest.raises(InputFileError) as e:
        read_chgcar(huge)
    assert time.perf_counter() - t0 < 1.0
    assert_one_line_error(e, "1000000x1000000x1000000", "truncated")


def test_chgcar_too_big_for_memory(chgcar, monkeypatch):
    import deepaw_nb.io.chgcar_read as chgcar_read

    monkeypatch.setattr(chgcar_read, "available_memory_bytes", lambda: 4000)
    with pytest.raises(GridError) as e:
        read_chgcar(chgcar)
    assert_one_line_error(e, "7x9x11", "more memory")


@pytest.mark.parametrize(
    "line, replacement, words",
    [
        (2, "  4.1  abc  0.1", ["line 3", "lattice vector a"]),
        (1, "scale", ["line 2", "scale factor"]),
        (6, "  2  x  1", ["atom counts"]),
        (-1, None, ["grid dimensions"]),
    ],
)
def test_chgcar_damaged_header(chgcar, line, replacement, words):
    lines = chgcar.read_text().splitlines()
    if replacement is None:  # a POSCAR: no grid after the positions
        lines = lines[:13]
    else:
        lines[line] = replacement
    bad = chgcar.with_name("CHGCAR_bad")
    bad.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputFileError) as e:
        read_chgcar(bad)
    assert_one_line_error(e, *words)


@pytest.mark.parametrize("kind", ["missing", "empty", "directory"])
def test_read_chgcar_bad_paths(tmp_path, kind):
    path = tmp_path / "CHGCAR"
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "directory":
        path.mkdir()
    with pytest.raises(InputFileError) as e:
        read_chgcar(path)
    assert_one_line_error(e, {"missing": "not found", "empty": "0 bytes", "directory": "directory"}[kind])


def test_chgcar_80_cubed_is_fast(tmp_path):
    atoms = Atoms("Si2", scaled_positions=[[0, 0, 0], [0.25, 0.25, 0.25]], cell=np.eye(3) * 5.43, pbc=True)
    rho = np.random.default_rng(3).random((80, 80, 84)).astype(np.float32)
    t0 = time.perf_counter()
    path = write_chgcar(tmp_path / "CHGCAR", atoms, rho)
    _, back = read_chgcar(path)
    assert time.perf_counter() - t0 < 8.0
    np.testing.assert_allclose(back, rho, rtol=1e-6)


def test_write_chgcar_refusals(tmp_path, atoms, density, chgcar):
    before = chgcar.read_bytes()
    with pytest.raises(OutputError) as e:
        write_chgcar(chgcar, atoms, density * 2)
    assert_one_line_error(e, "exists", "overwrite=True")
    assert chgcar.read_bytes() == before
    write_chgcar(chgcar, atoms, density * 2, overwrite=True, comment="two\nlines")
    assert chgcar.read_text().splitlines()[0] == "two lines"
    np.testing.assert_allclose(read_chgcar(chgcar)[1], density * 2, rtol=1e-9)
    cases = [
        (GridError, atoms, density.ravel(), ["3D"]),
        (OutputError, atoms, np.full(SHAPE, np.nan), ["NaN"]),
        (StructureError, Atoms("Si", pbc=False), density, ["cell"]),
        (StructureError, "Si", density, ["ase.Atoms"]),
    ]
    for cls, a, rho, words in cases:
        with pytest.raises(cls) as e:
            write_chgcar(tmp_path / "new", a, rho)
        assert_one_line_error(e, *words)
    assert not (tmp_path / "new").exists() and not leftovers(tmp_path)


# ---------------------------------------------------------------- cube
def test_cube_roundtrip(tmp_path, atoms, density):
    from ase.io.cube import read_cube_data
    from ase.units import Bohr

    path = write_cube(tmp_path / "rho.cube", atoms, density)
    data, back = read_cube_data(str(path))
    assert data.shape == SHAPE
    np.testing.assert_allclose(data / Bohr**3, density, rtol=2e-6)  # stored in e/bohr³
    np.testing.assert_allclose(back.cell, CELL, atol=1e-5)
    np.testing.assert_allclose(back.positions, atoms.positions, atol=1e-5)
    with pytest.raises(OutputError) as e:
        write_cube(path, atoms, density)
    assert_one_line_error(e, "exists", "overwrite=True")


# ---------------------------------------------------------------- DeePAW databases
@pytest.fixture(scope="module")
def density_db(tmp_path_factory):
    import ase.db

    atoms, density = _atoms(), _density()
    path = tmp_path_factory.mktemp("db") / "chg.db"
    with ase.db.connect(str(path)) as db:
        nx, ny, nz = SHAPE
        db.write(atoms, data={"chg": density.ravel(), "nx": nx, "ny": ny, "nz": nz}, name="first")
        db.write(atoms, nx=nx, ny=ny, nz=nz, data={"chg": (2 * density).astype(np.float32)}, name="second")
        db.write(atoms, data={"nx": nx, "ny": ny, "nz": nz}, name="nochg")
        db.write(atoms, data={"chg": density.ravel()[:-1], "nx": nx, "ny": ny, "nz": nz}, name="short")
        db.write(atoms, data={"chg": density.ravel()}, name="nogrid")
    return path


def test_read_ase_db_density(density_db, density):
    for selection in (1, "1", "id=1", "name=first"):
        atoms, rho = read_ase_db_density(density_db, selection)
        np.testing.assert_array_equal(rho, density)
        assert atoms.pbc.all() and len(atoms) == 5
    _, rho2 = read_ase_db_density(density_db, 2)  # nx, ny, nz as key-value pairs, shaped chg
    np.testing.assert_allclose(rho2, 2 * density, rtol=1e-6)


@pytest.mark.parametrize(
    "selection, words",
    [
        (None, ["5 rows", "id=1"]),
        (3, ["no 'chg'", "DeePAW"]),
        (4, ["692 values", "7x9x11"]),
        (5, ["no 'nx'"]),
        (99, ["no row with id=99"]),
        ("name=nothing", ["no row matching"]),
        ("natoms=5", ["several rows"]),
        (True, ["row id"]),
    ],
)
def test_read_ase_db_density_errors(density_db, selection, words):
    with pytest.raises(InputFileError) as e:
        read_ase_db_density(density_db, selection)
    assert_one_line_error(e, *words)


def test_read_ase_db_density_damaged_rows(tmp_path, atoms, density):
    import ase.db

    path = tmp_path / "bad.json"
    with ase.db.connect(str(path)) as db:
        db.write(atoms, data={"chg": density.reshape(11, 9, 7), "nx": 7, "ny": 9, "nz": 11})
        db.write(atoms, data={"chg": np.full(SHAPE, np.nan), "nx": 7, "ny": 9, "nz": 11})
        db.write(atoms, data={"chg": density, "nx": 7.5, "ny": 9, "nz": 11})
        db.write(atoms, data={"chg": "not numbers", "nx": 7, "ny": 9, "nz": 11})
    for selection, words in [(1, ["shape (11, 9, 7)", "C order"]), (2, ["NaN"]), (3, ["nx=7.5", "integers"]), (4, ["numeric"])]:
        with pytest.raises(InputFileError) as e:
            read_ase_db_density(path, selection)
        assert_one_line_error(e, *words)
    empty = tmp_path / "empty.db"
    ase.db.connect(str(empty)).write(atoms)
    ase.db.connect(str(empty)).delete([1])
    with pytest.raises(InputFileError) as e:
        read_ase_db_density(empty)
    assert_one_line_error(e, "no rows")
    not_db = tmp_path / "x.json"
    not_db.write_text('{"hello": 1}')
    with pytest.raises(InputFileError) as e:
        read_ase_db_density(not_db, 1)
    assert_one_line_error(e, "x.json")
    text = tmp_path / "notes.db"
    text.write_text("just text")
    with pytest.raises(InputFileError) as e:
        read_ase_db_density(text)
    assert_one_line_error(e, "not an ASE database")


def test_read_chgcar_bad_species(chgcar):
    with pytest.raises(InputFileError) as e:
        read_chgcar(chgcar, species=["O", "Xx", "Li"])
    assert_one_line_error(e, "'Xx'", "element symbol")


def test_read_ase_db_density_refuses_foreign_files(tmp_path):
    with pytest.raises(InputFileError) as e:
        read_ase_db_density(tmp_path / "missing.db", 1)
    assert_one_line_error(e, "not found")
    assert not (tmp_path / "missing.db").exists()  # ase.db.connect would have created it
    foreign = tmp_path / "other.db"
    con = sqlite3.connect(foreign)
    con.execute("CREATE TABLE t (x INTEGER)")
    con.commit()
    con.close()
    before = foreign.read_bytes()
    with pytest.raises(InputFileError) as e:
        read_ase_db_density(foreign, 1)
    assert_one_line_error(e, "not an ASE database")
    assert foreign.read_bytes() == before


def test_read_structure_alias(chgcar, atoms):
    back = read_structure(chgcar)
    assert back.get_chemical_formula() == atoms.get_chemical_formula()
    assert os.fspath(chgcar)  # path objects and strings both work
    assert len(read_structure(str(chgcar))) == 5
