"""Tests of deepaw_nb.structure: as_atoms from every input kind, validate_structure, describe."""

from __future__ import annotations

import time
from pathlib import Path

import ase.io
import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk

from deepaw_nb.errors import InputFileError, StructureError
from deepaw_nb.io import write_chgcar
from deepaw_nb.structure import as_atoms, describe, validate_structure

REFERENCE = Path(__file__).resolve().parents[1].parent / "shared" / "reference"


def assert_one_line_error(excinfo, *words):
    msg = str(excinfo.value)
    assert msg and "\n" not in msg and msg == msg.strip(), msg
    assert "; " in msg, f"message should name the problem, then the fix after '; ': {msg}"
    for w in words:
        assert w.lower() in msg.lower(), (w, msg)


@pytest.fixture
def crystal():
    """Triclinic two-element crystal (Å)."""
    cell = [[4.2, 0.0, 0.0], [0.9, 4.5, 0.0], [0.4, 0.7, 5.1]]
    return Atoms("Mg2O2", scaled_positions=[[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0, 0.25], [0, 0.5, 0.75]], cell=cell, pbc=True)


def same_structure(a: Atoms, b: Atoms, atol=1e-5):
    assert a.get_chemical_symbols() == b.get_chemical_symbols()
    np.testing.assert_allclose(a.cell, b.cell, atol=atol)
    np.testing.assert_allclose(a.get_scaled_positions(), b.get_scaled_positions(), atol=atol)


# ---------------------------------------------------------------- as_atoms: files
@pytest.mark.parametrize(
    "name, fmt",
    [
        ("s.cif", "cif"),
        ("POSCAR", "vasp"),
        ("CONTCAR", "vasp"),
        ("MgO.vasp", "vasp"),
        ("s.xyz", "extxyz"),
        ("s.extxyz", "extxyz"),
        ("s.json", "json"),
        ("s.db", "db"),
        ("structure_without_extension", "vasp"),
        ("cif_named.txt", "cif"),
    ],
)
def test_as_atoms_reads_files(tmp_path, crystal, name, fmt):
    path = tmp_path / name
    ase.io.write(path, crystal, format=fmt)
    got = as_atoms(path)
    same_structure(got, crystal, atol=1e-4 if fmt == "cif" else 1e-6)
    assert got.pbc.all()
    assert len(as_atoms(str(path))) == 4


@pytest.mark.parametrize("name", ["CHGCAR", "CHG", "AECCAR2", "pred.chgcar"])
def test_as_atoms_reads_chgcar_header(tmp_path, crystal, name):
    write_chgcar(tmp_path / name, crystal, np.ones((4, 4, 5)))
    same_structure(as_atoms(tmp_path / name), crystal, atol=1e-10)


def test_as_atoms_vasp4_chgcar_names_the_fix(tmp_path, crystal):
    path = write_chgcar(tmp_path / "CHGCAR", crystal, np.ones((4, 4, 5)))
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:5] + lines[6:]))
    with pytest.raises(InputFileError) as e:
        as_atoms(path)
    assert_one_line_error(e, "VASP 4", "element symbols", "species=")


def test_as_atoms_chgcar_content_without_name_clue(tmp_path, crystal):
    write_chgcar(tmp_path / "density_output", crystal, np.ones((4, 4, 5)))
    same_structure(as_atoms(tmp_path / "density_output"), crystal, atol=1e-10)


def test_as_atoms_trajectory_frames(tmp_path, crystal):
    frames = [crystal.copy() for _ in range(3)]
    for i, f in enumerate(frames):
        f.positions[0, 0] += 0.1 * i
    ase.io.write(tmp_path / "traj.xyz", frames)
    assert as_atoms(tmp_path / "traj.xyz").positions[0, 0] == pytest.approx(0.2)  # last by default
    assert as_atoms(tmp_path / "traj.xyz", index=0).positions[0, 0] == pytest.approx(0.0)
    assert as_atoms(f"{tmp_path / 'traj.xyz'}@1").positions[0, 0] == pytest.approx(0.1)
    with pytest.raises(InputFileError) as e:
        as_atoms(tmp_path / "traj.xyz", index=7)
    assert_one_line_error(e, "no frame 7")


def test_as_atoms_database_selection(tmp_path, crystal):
    import ase.db

    path = tmp_path / "many.db"
    with ase.db.connect(str(path)) as db:
        db.write(bulk("Si"), tag_name="si")
        db.write(crystal, tag_name="mgo")
        db.write(bulk("Cu"), tag_name="cu")
    assert as_atoms(f"{path}@2").get_chemical_formula() == "Mg2O2"
    assert as_atoms(f"{path}@id=2").get_chemical_formula() == "Mg2O2"
    assert as_atoms(f"{path}@tag_name=cu").get_chemical_formula() == "Cu"
    assert as_atoms(path, index=1).get_chemical_formula() == "Si2"
    row = ase.db.connect(str(path)).get(id=3)
    assert as_atoms(row).get_chemical_formula() == "Cu"
    with pytest.raises(InputFileError) as e:
        as_atoms(path)
    assert_one_line_error(e, "3 rows", "@id=1")
    with pytest.raises(InputFileError) as e:
        as_atoms(f"{path}@9")
    assert_one_line_error(e, "no row with id=9")
    with pytest.raises(InputFileError) as e:
        as_atoms(f"{path}@2", index=2)
    assert_one_line_error(e, "not both")


def test_as_atoms_reference_structures():
    files = sorted(REFERENCE.glob("*.json")) if REFERENCE.is_dir() else []
    files = [f for f in files if f.name != "manifest.json"]
    if not files:
        pytest.skip("shared/reference is not available")
    for f in files:
        atoms = as_atoms(f)
        validate_structure(atoms)
        assert describe(atoms)["natoms"] == len(atoms)


# ---------------------------------------------------------------- as_atoms: objects
def test_as_atoms_objects(crystal):
    copy = as_atoms(crystal)
    copy.positions += 1.0
    assert not np.allclose(copy.positions, crystal.positions)  # a copy, not the same object

    from pymatgen.core import IStructure, Lattice, Structure

    s = Structure(Lattice(crystal.cell[:]), crystal.get_chemical_symbols(), crystal.get_scaled_positions())
    same_structure(as_atoms(s), crystal, atol=1e-10)
    same_structure(as_atoms(IStructure.from_sites(s)), crystal, atol=1e-10)
    assert as_atoms(s).pbc.all()


def test_as_atoms_rejects_pymatgen_molecule_and_disorder():
    from pymatgen.core import Lattice, Molecule, Structure

    with pytest.raises(StructureError) as e:
        as_atoms(Molecule(["H", "H"], [[0, 0, 0], [0, 0, 0.74]]))
    assert_one_line_error(e, "not periodic", "get_boxed_structure")
    disordered = Structure(Lattice.cubic(4.2), [{"Mg": 0.5, "Ca": 0.5}], [[0, 0, 0]])
    with pytest.raises(StructureError) as e:
        as_atoms(disordered)
    assert_one_line_error(e, "partial occupancies", "order")


def test_as_atoms_rejects_partial_occupancy_cif(tmp_path):
    cif = tmp_path / "disordered.cif"
    cif.write_text(
        "data_x\n_cell_length_a 4.2\n_cell_length_b 4.2\n_cell_length_c 4.2\n"
        "_cell_angle_alpha 90\n_cell_angle_beta 90\n_cell_angle_gamma 90\n"
        "_symmetry_space_group_name_H-M 'P 1'\nloop_\n_atom_site_label\n_atom_site_type_symbol\n"
        "_atom_site_fract_x\n_atom_site_fract_y\n_atom_site_fract_z\n_atom_site_occupancy\n"
        "Mg1 Mg 0 0 0 0.5\nCa1 Ca 0 0 0 0.5\nO1 O 0.5 0.5 0.5 1.0\n"
    )
    with pytest.raises(StructureError) as e:
        as_atoms(cif)
    assert_one_line_error(e, "partial occupancies")


def put(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    "make, cls, words",
    [
        (lambda d: d / "nope.cif", InputFileError, ["not found"]),
        (lambda d: d, InputFileError, ["directory"]),
        (lambda d: put(d / "empty.cif", b""), InputFileError, ["0 bytes"]),
        (lambda d: put(d / "junk.bin", bytes(range(256)) * 4), InputFileError, ["cannot tell the format"]),
        (lambda d: put(d / "bad.cif", b"data_x\n_cell_length_a oops\nloop_\n"), InputFileError, ["could not read", "cif"]),
        (lambda d: put(d / "POSCAR", b"Si\n1.0\n1 0 0\n"), InputFileError, ["could not read", "vasp"]),
        (lambda d: 42, StructureError, ["int", "file path"]),
    ],
)
def test_as_atoms_bad_inputs(tmp_path, make, cls, words):
    with pytest.raises(cls) as e:
        as_atoms(make(tmp_path))
    assert_one_line_error(e, *words)


def test_as_atoms_index_with_object(crystal):
    with pytest.raises(InputFileError) as e:
        as_atoms(crystal, index=0)
    assert_one_line_error(e, "only applies to files")


# ---------------------------------------------------------------- validate_structure
def test_validate_accepts_good_structures(crystal):
    validate_structure(crystal)
    validate_structure(bulk("Si", cubic=True))
    left = crystal.copy()
    left.set_cell(-crystal.cell[:], scale_atoms=True)  # left-handed (negative determinant) is fine
    validate_structure(left)


@pytest.mark.parametrize(
    "modify, words",
    [
        (lambda a: a.set_pbc([True, True, False]), ["not periodic along c", "pbc", "vacuum"]),
        (lambda a: a.set_cell(np.zeros((3, 3))), ["zero length", "vacuum"]),
        (lambda a: a.set_cell([[4, 0, 0], [0, 4, 0], [4, 4, 1e-9]]), ["coplanar"]),
        (lambda a: a.positions.__setitem__((1, 2), np.nan), ["atom 1", "nan"]),
        (lambda a: a.cell.__setitem__((0, 0), np.inf), ["cell", "nan or inf"]),
        (lambda a: a.positions.__setitem__(3, a.positions[0] + [0.1, 0.1, 0.0]), ["atoms 0 (mg) and 3 (o)", "0.141", "duplicate"]),
        (lambda a: a.set_cell(a.cell[:] * 0.1, scale_atoms=True), ["too close", "minimum 0.5"]),
    ],
)
def test_validate_rejects(crystal, modify, words):
    modify(crystal)
    with pytest.raises(StructureError) as e:
        validate_structure(crystal)
    assert_one_line_error(e, *words)


def test_validate_close_pair_across_boundary_and_self_image():
    a = Atoms("Si2", scaled_positions=[[0.01, 0.5, 0.5], [0.99, 0.5, 0.5]], cell=np.eye(3) * 10, pbc=True)
    with pytest.raises(StructureError) as e:
        validate_structure(a)
    assert_one_line_error(e, "atoms 0 (si) and 1 (si)", "0.200", "periodic images")
    validate_structure(a, min_distance=0.1)
    validate_structure(a, min_distance=0)
    tiny = Atoms("H", positions=[[0, 0, 0]], cell=[0.3, 5, 5], pbc=True)
    with pytest.raises(StructureError) as e:
        validate_structure(tiny)
    assert_one_line_error(e, "own periodic image", "cell is too small")


@pytest.mark.parametrize("bad", [-1, float("nan"), "0.5", None])
def test_validate_bad_min_distance(crystal, bad):
    with pytest.raises(StructureError) as e:
        validate_structure(crystal, min_distance=bad)
    assert_one_line_error(e, "min_distance")


def test_validate_empty_and_wrong_type():
    with pytest.raises(StructureError) as e:
        validate_structure(Atoms(cell=np.eye(3) * 5, pbc=True))
    assert_one_line_error(e, "no atoms")
    with pytest.raises(StructureError) as e:
        validate_structure("Si")
    assert_one_line_error(e, "as_atoms")


def test_validate_is_fast_for_8000_atoms():
    atoms = bulk("Si", cubic=True).repeat((10, 10, 10))  # 8,000 atoms
    t0 = time.perf_counter()
    validate_structure(atoms)
    assert time.perf_counter() - t0 < 3.0
    atoms.positions[7999] = atoms.positions[17] + [0.05, 0, 0]
    with pytest.raises(StructureError) as e:
        validate_structure(atoms)
    assert_one_line_error(e, "atoms 17 (si) and 7999 (si)", "0.050")


# ---------------------------------------------------------------- describe
def test_describe_crystal():
    info = describe(bulk("Si"))
    assert info["formula"] == "Si2" and info["reduced_formula"] == "Si" and info["natoms"] == 2
    assert info["spacegroup"] == "Fd-3m" and info["spacegroup_number"] == 227
    assert info["volume"] == pytest.approx(40.0257, rel=1e-4)
    assert info["cell_angles"] == pytest.approx((60, 60, 60))
    assert info["density"] == pytest.approx(2.33, rel=1e-2)  # g/cm³
    assert info["elements"] == ["Si"] and info["composition"] == {"Si": 2}


def test_describe_reference_hfo2():
    path = REFERENCE / "hfo2_full.json"
    if not path.is_file():
        pytest.skip("shared/reference is not available")
    info = describe(as_atoms(path))
    assert info["reduced_formula"] == "HfO2" and info["spacegroup_number"] == 14


def test_describe_is_tolerant(monkeypatch):
    molecule = Atoms("H2O", positions=[[0, 0, 0], [0.96, 0, 0], [-0.24, 0.93, 0]])
    info = describe(molecule)
    assert info["volume"] is None and info["spacegroup"] is None and info["natoms"] == 3
    import spglib

    def broken(*args, **kwargs):
        raise RuntimeError("spglib exploded")

    monkeypatch.setattr(spglib, "get_symmetry_dataset", broken)
    info = describe(bulk("Cu"))
    assert info["spacegroup"] is None and info["formula"] == "Cu"
