"""Tests of the reference-data recipe (data/recipes, data/reference, data/examples).

They need no GPAW: they rebuild the structure list with the project python and
check the committed files; checks of packed GPAW data are skipped until
``data/reference/index.json`` exists.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
RECIPES = REPO / "data" / "recipes"
REF = REPO / "data" / "reference"
ELEMENTS = ("H Li B C N O F Na Mg Al Si P S Cl K Ca Ti Zn Ga Zr Hf").split()
N_POLYMORPHS = 19   # parents added by the session 11 polymorph rule (the catalogue's tail)


def _atoms(record: dict):
    """ASE Atoms of one structures.json record (Angstrom, periodic)."""
    from ase import Atoms

    a = record["atoms"]
    return Atoms(numbers=a["numbers"], positions=a["positions"], cell=a["cell"], pbc=True)


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, RECIPES / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def builder():
    return _load("build_structures")


@pytest.fixture(scope="module")
def built(builder):
    return builder.build()


def test_build_is_deterministic(builder, built):
    recs, split = built
    recs2, split2 = builder.build()
    assert [r["hash"] for r in recs] == [r["hash"] for r in recs2]
    assert json.dumps(split, sort_keys=True) == json.dumps(split2, sort_keys=True)


def test_committed_files_are_current(builder):
    s_text, split_text, _ = builder.payloads()
    assert (REF / "structures.json").read_text() == s_text
    assert (REF / "split.json").read_text() == split_text


def test_structure_count_sizes_and_elements(built):
    from ase.data import chemical_symbols

    recs, _ = built
    assert len(recs) >= 150
    assert all(1 <= len(r["atoms"]["numbers"]) <= 12 for r in recs)
    seen = {chemical_symbols[z] for r in recs for z in r["atoms"]["numbers"]}
    assert set(ELEMENTS) <= seen
    assert len({r["id"] for r in recs}) == len(recs)


def test_no_atoms_too_close(built):
    from ase.neighborlist import neighbor_list

    for r in built[0]:
        d = neighbor_list("d", _atoms(r), 2.0)
        assert d.size == 0 or d.min() > 0.85, r["id"]  # shortest bond: O-H ~0.92 A


def test_split_has_no_composition_overlap(built):
    recs, split = built
    comp = {r["id"]: r["composition"] for r in recs}
    parent = {r["id"]: r["parent"] for r in recs}
    train, test, validation = set(split["train"]), set(split["test"]), set(split["validation"])
    assert not train & test and not validation & (train | test)
    assert train | test | validation == set(comp)
    held = set(split["held_out_compositions"])
    assert {comp[i] for i in train}.isdisjoint(held)
    # the only shared composition is that of an explicitly held-out structure
    shared = {comp[i] for i in train} & {comp[i] for i in test}
    assert shared == {comp[s] for s in split["held_out_structures"]} == {"HfO2"}
    assert {parent[i] for i in test} - {parent[s] for s in split["held_out_structures"]} \
        == {parent[i] for i in test if comp[i] in held}
    # 12 of 100 compositions when the split was drawn; session 7 added 25 training-only
    # compositions and kept the held-out set fixed so that numbers stay comparable.
    assert 0.08 <= len(held) / split["n_compositions"] <= 0.15
    protos = {r["prototype"] for r in recs if r["id"] in test}
    assert {"fluorite", "rutile", "wurtzite", "rocksalt", "perovskite"} <= protos


def test_validation_compositions_are_in_neither_training_nor_test(built):
    """The session 9 selection set: whole compositions, pristine cells, none trained on."""
    recs, split = built
    by_id = {r["id"]: r for r in recs}
    validation = split["validation"]
    assert len(validation) >= 5
    assert all(by_id[i]["variant"] == "pristine" for i in validation)
    comps = {by_id[i]["composition"] for i in validation}
    others = {r["composition"] for r in recs if r["id"] not in set(validation)}
    assert comps.isdisjoint(others), comps & others
    assert not comps & set(split["held_out_compositions"])


def test_every_bond_of_a_held_out_structure_occurs_in_training(built):
    """The session 7 pair-coverage rule: no held-out pristine cell has a bonded element pair
    that no training cell has (so the held-out table measures new compounds, not new bonds)."""
    pairs_of = _load("structure_catalog_pairs").bonded_pairs
    recs, split = built
    train, test = set(split["train"]), set(split["test"])

    def pairs(r):
        return pairs_of(_atoms(r))

    seen = set().union(*(pairs(r) for r in recs if r["id"] in train and r["variant"] == "pristine"))
    for r in recs:
        if r["id"] in test and r["variant"] == "pristine":
            assert pairs(r) <= seen, (r["id"], pairs(r) - seen)


def test_ionic_extension_follows_its_rule(built):
    """Session 10: s-block ionic families in more structure types, training only, never a
    test or validation composition, each cell sized by its stated cation-anion bond."""

    ionic = _load("structure_catalog_ionic")
    recs, split = built
    train = set(split["train"])
    held_out = set(split["held_out_compositions"]) | set(ionic.EXCLUDED)
    by_id = {r["id"]: r for r in recs}
    catalogue = _load("structure_catalog").parents()
    # the ionic extension comes just before the session-11 polymorph extension (the tail)
    base = catalogue[:-20 - N_POLYMORPHS]
    extension = catalogue[-20 - N_POLYMORPHS:-N_POLYMORPHS]
    present = ionic.present_cells(base)
    cells = ionic.candidate_cells(present)
    assert [f"{f}_{k.replace('-', '')}" for f, k, _, _ in cells] == [p["name"] for p in extension]
    assert ionic.ionic_parents(catalogue) == []  # applied again, the rule adds nothing
    assert ("Li3P", "Na3As") in present and ("Li3P", "anti-ReO3") not in present
    assert not {c[0] for c in cells} & held_out
    assert not {c[:2] for c in cells} & present
    for formula, kind, cation, anion in cells:
        name = f"{formula}_{kind.replace('-', '')}"
        rec = by_id[name]
        assert rec["id"] in train and rec["prototype"] == kind
        assert ionic.shortest_distance(_atoms(rec), cation, anion) == pytest.approx(
            ionic.BOND[(cation, anion)][0], abs=1e-6)
        assert all(by_id[i]["id"] in train for i in by_id if by_id[i]["parent"] == name)


def test_polymorph_extension_follows_its_rule(built):
    """Session 11: octet AB compounds in zincblende / wurtzite / rocksalt and layered MX2 in
    CdI2 / CdCl2, training only, never a test or validation composition, geometry taken
    from the composition's own catalogue cell."""
    poly = _load("structure_catalog_polymorphs")
    ionic = _load("structure_catalog_ionic")
    recs, split = built
    by_id = {r["id"]: r for r in recs}
    held_out = set(split["held_out_compositions"]) | set(poly.EXCLUDED)
    catalogue = _load("structure_catalog").parents()
    base, extension = catalogue[:-N_POLYMORPHS], catalogue[-N_POLYMORPHS:]
    cells = poly.candidate_cells(base)
    assert [f"{f}_{k}" for f, k, _, _ in cells] == [p["name"] for p in extension]
    assert poly.polymorph_parents(catalogue) == []      # applied again, the rule adds nothing
    assert not {c[0] for c in cells} & held_out
    assert {"AlN", "GaP", "ZrS2"} <= set(split["held_out_compositions"])
    assert "CaCl2" in {r["composition"] for r in recs if r["id"] in split["validation"]}

    def atoms_of(name: str):
        return _atoms(by_id[name])

    for formula, kind, cation, anion in cells:
        name = f"{formula}_{kind}"
        assert by_id[name]["prototype"] == kind and name in split["train"]
        assert all(i in split["train"] for i in by_id if by_id[i]["parent"] == name)
        if kind in poly.LAYERED_TYPES:   # same layer and spacing as the source cell
            source = next(p["name"] for p in base if p["name"].startswith(formula + "_"))
            assert poly.layer_geometry(atoms_of(name), cation, anion) == pytest.approx(
                poly.layer_geometry(atoms_of(source), cation, anion), abs=1e-6)
        else:
            assert poly.coordination(atoms_of(name), cation, anion) == (6 if kind == "rocksalt" else 4)
    bond = {n: ionic.shortest_distance(atoms_of(n), *pair) for n, pair in [
        ("MgO_rocksalt", ("Mg", "O")), ("MgO_zincblende", ("Mg", "O")), ("MgO_wurtzite", ("Mg", "O")),
        ("ZnO_wurtzite", ("Zn", "O")), ("ZnO_rocksalt", ("Zn", "O")),
        ("GaN_zincblende", ("Ga", "N")), ("GaN_rocksalt", ("Ga", "N"))]}
    assert bond["MgO_zincblende"] == pytest.approx(bond["MgO_rocksalt"] / poly.OCT_OVER_TET)
    assert bond["MgO_wurtzite"] == pytest.approx(bond["MgO_zincblende"])
    assert bond["ZnO_rocksalt"] == pytest.approx(bond["ZnO_wurtzite"] * poly.OCT_OVER_TET)
    # the stated ratio is the catalogue's own GaN pair
    assert bond["GaN_rocksalt"] / bond["GaN_zincblende"] == pytest.approx(poly.OCT_OVER_TET, abs=0.005)


def test_compressed_lithium_variants_follow_their_rule(built):
    """Session 12: every training parent with Li and no covalent unit (and only those) gets
    isotropic compressions to 0.94 and 0.90 of its lattice; never a test or validation
    composition."""
    rule = _load("variants_compressed")
    recs, split = built
    by_id = {r["id"]: r for r in recs}
    squeezed = [r for r in recs if r["variant"].startswith("compress_iso")]
    excluded = set(split["held_out_compositions"]) | {
        by_id[i]["composition"] for i in split["validation"]}

    li_parents = {r["parent"] for r in recs if r["variant"] == "pristine" and r["id"] in split["train"]
                  and 3 in r["atoms"]["numbers"] and r["n_atoms"] <= 8}
    covalent = {p for p in li_parents if rule.has_covalent_unit(_atoms(by_id[p]))}
    assert covalent == {"LiOH_tetragonal", "Li2O2_hexagonal", "LiBC_hexagonal", "LiC6_GIC"}
    assert {r["parent"] for r in squeezed} == li_parents - covalent and len(squeezed) == 44
    assert {r["variant"] for r in squeezed} == {"compress_iso-6", "compress_iso-10"}
    assert not {r["composition"] for r in squeezed} & excluded
    assert all(r["id"] in split["train"] for r in squeezed)
    for r in squeezed:
        parent = by_id[r["parent"]]["atoms"]
        scale = 0.94 if r["variant"] == "compress_iso-6" else 0.90
        assert np.allclose(np.array(r["atoms"]["cell"]), scale * np.array(parent["cell"]), atol=1e-12)
        assert np.allclose(np.array(r["atoms"]["positions"]), scale * np.array(parent["positions"]),
                           atol=1e-12)
        assert r["atoms"]["numbers"] == parent["numbers"]
    assert rule.variant_name(0.9) == "compress_iso-10"
    # the test composition Li3N is reached by the lithium condition but not compressed
    assert not [r for r in recs if r["composition"] == "Li3N" and "compress" in r["variant"]]


def test_packing_keeps_entries_whose_raw_file_is_gone(tmp_path, monkeypatch):
    """The raw GPAW cache is git-ignored: re-packing after new calculations must keep the
    committed entries (intact file, same structure and split) and drop stale ones."""
    pack = _load("pack_reference")
    monkeypatch.setattr(pack, "REF", str(tmp_path))
    (tmp_path / "probes").mkdir()
    path = tmp_path / "probes" / "X.npz"
    pack.save_npz(str(path), {"structure_hash": np.array("abc")})
    entry = dict(id="X", split="train", file="probes/X.npz", sha256=pack.sha256(str(path)))
    assert pack.reusable_entry({"hash": "abc"}, "train", entry) == entry
    assert pack.reusable_entry({"hash": "abd"}, "train", entry) is None   # other structure
    assert pack.reusable_entry({"hash": "abc"}, "test", entry) is None    # split changed
    assert pack.reusable_entry({"hash": "abc"}, "train", None) is None
    path.write_bytes(path.read_bytes() + b"x")                             # damaged file
    assert pack.reusable_entry({"hash": "abc"}, "train", entry) is None


def test_hfo2_benchmark_matches_shared_reference(built):
    ref = REPO.parent / "shared" / "reference" / "hfo2_full.json"
    if not ref.is_file():
        pytest.skip("shared reference fixtures not present")
    from ase.io import read

    atoms = read(ref)
    rec = {r["id"]: r for r in built[0]}["HfO2_monoclinic"]
    assert rec["atoms"]["numbers"] == atoms.numbers.tolist()
    np.testing.assert_allclose(rec["atoms"]["cell"], atoms.cell[:], atol=1e-10)
    np.testing.assert_allclose(rec["atoms"]["positions"], atoms.positions, atol=1e-10)


def test_examples_match_structures(built):
    from ase.cell import Cell
    from ase.io import read

    recs = {r["id"]: r for r in built[0]}
    for sid in ("HfO2_monoclinic", "Si_diamond", "TiO2_rutile"):
        for ext in ("cif", "vasp"):
            atoms = read(REPO / "data" / "examples" / f"{sid}.{ext}")
            ref = recs[sid]["atoms"]
            assert atoms.numbers.tolist() == ref["numbers"], (sid, ext)
            # CIF stores only cell parameters (orientation is lost): compare those
            np.testing.assert_allclose(atoms.cell.cellpar(),
                                       Cell(ref["cell"]).cellpar(), atol=1e-4)
            frac = np.linalg.solve(np.array(ref["cell"]).T, np.array(ref["positions"]).T).T
            diff = atoms.get_scaled_positions() - frac
            assert np.abs(diff - np.round(diff)).max() < 1e-4, (sid, ext)


def test_index_files_exist_with_matching_sha256():
    index = REF / "index.json"
    if not index.is_file():
        pytest.skip("reference densities not packed yet")
    data = json.loads(index.read_text())
    split = json.loads((REF / "split.json").read_text())
    test_ids, validation_ids = set(split["test"]), set(split["validation"])
    for e in data["structures"]:
        path = REF / e["file"]
        assert path.is_file(), e["file"]
        assert hashlib.sha256(path.read_bytes()).hexdigest() == e["sha256"], e["file"]
        assert (e["split"] == "test") == (e["id"] in test_ids)
        assert (e["split"] == "validation") == (e["id"] in validation_ids)
        assert e["split"] != "validation" or e["kind"] == "grid", e["id"]
        assert abs(e["n_valence_check"] - e["n_valence"]) < 1e-2, e["id"]


def test_packed_arrays_are_consistent():
    index = REF / "index.json"
    if not index.is_file():
        pytest.skip("reference densities not packed yet")
    entries = json.loads(index.read_text())["structures"][:20]
    for e in entries:
        with np.load(REF / e["file"]) as z:
            assert z["density"].dtype == np.float32
            assert tuple(z["grid_shape"]) == tuple(e["grid_shape"])
            if e["kind"] == "grid":
                assert z["density"].shape == tuple(e["grid_shape"])
                vol = abs(np.linalg.det(z["cell"]))
                n = z["density"].sum(dtype=np.float64) * vol / z["density"].size
                assert abs(n - e["n_electrons"]) < 1e-3
            else:
                frac = z["frac_coords"]
                ijk = frac * z["grid_shape"]
                assert np.abs(ijk - np.round(ijk)).max() < 1e-3
                assert len(np.unique(np.round(ijk).astype(int), axis=0)) == len(frac)


def test_committed_data_stays_under_its_budget():
    """The issue caps everything under data/ (models included, the git-ignored cache not) at
    80 MB; every new training cell or model file has to fit."""
    size = _load("pack_reference").committed_size(str(REPO))
    assert size < 80e6, f"data/ is {size / 1e6:.2f} MB, over the 80 MB budget"
