"""Build the deepaw-nb reference structure list, its train/test/validation split and examples.

What it does
    Takes the parent crystals of ``structure_catalog.py`` and adds derived
    variants (isotropic +-4 % strain, +4 % uniaxial strain along Cartesian z,
    seeded random displacements of at most 0.08 Angstrom, single vacancies in
    small supercells), assigns every structure to the training or the held-out
    test split, and writes

    * ``data/reference/structures.json``  ids, metadata and ASE-style atoms dicts
      (``numbers``, ``positions`` [Angstrom], ``cell`` [Angstrom], ``pbc``) at full
      float precision, plus a sha256 ``hash`` of each structure;
    * ``data/reference/split.json``       held-out compositions / structures, and the
      validation compositions (``structure_catalog_validation.py``);
    * ``data/examples/{HfO2_monoclinic,Si_diamond,TiO2_rutile}.{cif,vasp}``.

How to run (project python, from the repository root; takes a few seconds)
    python data/recipes/build_structures.py
    python data/recipes/build_structures.py --check   # verify files are current

It is deterministic (fixed seeds, no symmetry search), so re-running it
reproduces the committed files exactly; nothing to resume.
"""
from __future__ import annotations

import argparse
import functools
import hashlib
import json
import os
import sys

import numpy as np
from ase import Atoms
from ase.build import bulk, make_supercell
from ase.io import write
from pymatgen.core import Composition

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from structure_catalog import parents  # noqa: E402
from structure_catalog_validation import validation_parents  # noqa: E402
from variants_compressed import compressed_variants  # noqa: E402

ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
REF = os.path.join(ROOT, "data", "reference")
EXAMPLES = os.path.join(ROOT, "data", "examples")
SEED = 20240611
MAX_ATOMS = 12
RATTLE_MAX = 0.08   # Angstrom, maximum displacement of any atom
STRAIN = 0.04       # 4 %

# Whole compositions held out of training (all their prototypes and variants).
HELD_OUT_COMPOSITIONS = {
    "CaF2": "fluorite", "MgF2": "rutile", "AlN": "wurtzite (+ zincblende)",
    "ZrN": "rocksalt (metallic nitride)", "KCl": "rocksalt (ionic halide)",
    "CaZrO3": "perovskite", "GaP": "zincblende", "ZrS2": "CdI2 layered",
    "MgB2": "AlB2 layered boride", "Li3N": "Li3N type", "LiZnP": "half-Heusler",
    "Na2S": "antifluorite",
}
# Single structures held out although other polymorphs of the same composition
# are in training: the benchmark cell of the project.
HELD_OUT_STRUCTURES = {"HfO2_monoclinic": "12-atom P2_1/c benchmark cell; cubic and "
                                          "tetragonal HfO2 stay in training"}
EXAMPLE_IDS = ["HfO2_monoclinic", "Si_diamond", "TiO2_rutile"]


def _seed(tag: str) -> np.random.Generator:
    """Deterministic generator for one structure (independent of list order)."""
    k = int(hashlib.sha256(tag.encode()).hexdigest()[:8], 16)
    return np.random.default_rng([SEED, k])


def rattle(atoms: Atoms, tag: str) -> Atoms:
    """Displace every atom by a random vector: uniform direction, length uniform
    in [0.25, 1] * RATTLE_MAX (Angstrom)."""
    rng = _seed("rattle:" + tag)
    d = rng.normal(size=(len(atoms), 3))
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    d *= rng.uniform(0.25 * RATTLE_MAX, RATTLE_MAX, size=(len(atoms), 1))
    out = atoms.copy()
    out.positions += d
    out.wrap(eps=1e-9)
    return out


def strained(atoms: Atoms, eps: np.ndarray) -> Atoms:
    """Apply the deformation (1 + eps) to the cell, atoms follow (fixed fractional)."""
    out = atoms.copy()
    out.set_cell(np.array(atoms.cell) @ (np.eye(3) + eps).T, scale_atoms=True)
    return out


@functools.cache
def _excluded_compositions() -> frozenset[str]:
    """Reduced formulas of the test and validation compositions."""
    return frozenset(HELD_OUT_COMPOSITIONS) | {
        Composition(p["atoms"].get_chemical_formula()).reduced_formula for p in validation_parents()}


def variants_for(name: str, atoms: Atoms) -> list[tuple[str, Atoms]]:
    """Derived structures of one parent; fewer (and no symmetry-free ones) for
    larger cells to keep the GPAW cost bounded.  Training parents containing Li also get
    the compressed variants of ``variants_compressed.py``."""
    n = len(atoms)
    out = []
    if name in HELD_OUT_STRUCTURES or n > 8:
        return out
    iso = np.eye(3) * STRAIN
    if n <= 4:
        out.append(("strain_iso+4", strained(atoms, iso)))
    out.append(("strain_iso-4", strained(atoms, -iso)))
    if n <= 4:
        out.append(("strain_z+4", strained(atoms, np.diag([0, 0, STRAIN]))))
    out.append(("rattle", rattle(atoms, name)))
    return out + compressed_variants(atoms, _excluded_compositions())


def vacancies() -> list[tuple[str, str, Atoms, str]]:
    """(parent name, variant, atoms, note): one atom removed from a small supercell."""
    cat = {p["name"]: p["atoms"] for p in parents()}
    specs = [
        ("Si_diamond", bulk("Si", "diamond", a=5.43, cubic=True), "Si", "8-atom cube"),
        ("MgO_rocksalt", bulk("MgO", "rocksalt", a=4.212, cubic=True), "O", "8-atom cube"),
        ("LiF_rocksalt", bulk("LiF", "rocksalt", a=4.027, cubic=True), "Li", "8-atom cube"),
        ("TiN_rocksalt", bulk("TiN", "rocksalt", a=4.240, cubic=True), "N", "8-atom cube"),
        ("Al_fcc", make_supercell(cat["Al_fcc"], 2 * np.eye(3)), "Al", "2x2x2 primitive"),
        ("ZnO_wurtzite", make_supercell(cat["ZnO_wurtzite"], np.diag([2, 1, 1])), "O",
         "2x1x1 wurtzite"),
        ("TiO2_rutile", make_supercell(cat["TiO2_rutile"], np.diag([1, 1, 2])), "O",
         "1x1x2 rutile"),
        ("HfO2_fluorite", bulk("HfO2", "fluorite", a=5.08, cubic=True), "O", "12-atom cube"),
    ]
    out = []
    for parent, sc, sym, note in specs:
        idx = [a.index for a in sc if a.symbol == sym][0]
        del sc[idx]
        sc.wrap(eps=1e-9)
        out.append((parent, "vacancy_" + sym, sc, note + ", first %s removed" % sym))
    return out


def atoms_dict(atoms: Atoms) -> dict:
    """ASE-style dict at full precision (Angstrom)."""
    return {"numbers": [int(z) for z in atoms.numbers],
            "positions": atoms.positions.tolist(),
            "cell": np.array(atoms.cell).tolist(),
            "pbc": [bool(p) for p in atoms.pbc]}


def structure_hash(d: dict) -> str:
    """sha256 over numbers and positions/cell rounded to 1e-8 Angstrom."""
    text = json.dumps({"numbers": d["numbers"],
                       "positions": [["%.8f" % x for x in r] for r in d["positions"]],
                       "cell": [["%.8f" % x for x in r] for r in d["cell"]]})
    return hashlib.sha256(text.encode()).hexdigest()


def build() -> tuple[list[dict], dict]:
    """All structure records and the split (pure function, deterministic)."""
    recs = []

    def add(sid, parent, prototype, variant, atoms, source):
        assert 1 <= len(atoms) <= MAX_ATOMS, (sid, len(atoms))
        d = atoms_dict(atoms)
        comp = Composition(parent_formula[parent]).reduced_formula
        recs.append(dict(id=sid, parent=parent, composition=comp,
                         formula=atoms.get_chemical_formula(mode="metal"),
                         n_atoms=len(atoms), prototype=prototype, variant=variant,
                         source=source, hash=structure_hash(d), atoms=d))

    cat = parents()
    parent_formula = {p["name"]: p["atoms"].get_chemical_formula() for p in cat}
    proto = {p["name"]: p["prototype"] for p in cat}
    for p in cat:
        add(p["name"], p["name"], p["prototype"], "pristine", p["atoms"], p["source"])
        for var, atoms in variants_for(p["name"], p["atoms"]):
            add(p["name"] + "__" + var, p["name"], p["prototype"], var, atoms,
                "derived from " + p["name"])
    for parent, var, atoms, note in vacancies():
        add(parent + "__" + var, parent, proto[parent], var, atoms, note)
    validation_cat = validation_parents()
    parent_formula.update({p["name"]: p["atoms"].get_chemical_formula() for p in validation_cat})
    for p in validation_cat:  # pristine cells only: a selection set, not training data
        add(p["name"], p["name"], p["prototype"], "pristine", p["atoms"], p["source"])
    validation = [p["name"] for p in validation_cat]

    ids = [r["id"] for r in recs]
    assert len(set(ids)) == len(ids)
    comps = sorted({r["composition"] for r in recs if r["id"] not in set(validation)})
    missing = set(HELD_OUT_COMPOSITIONS) - set(comps)
    assert not missing, missing
    test = [r["id"] for r in recs if r["composition"] in HELD_OUT_COMPOSITIONS
            or r["parent"] in HELD_OUT_STRUCTURES]
    train = [i for i in ids if i not in set(test) | set(validation)]
    validation_comps = {r["composition"] for r in recs if r["id"] in set(validation)}
    assert validation_comps.isdisjoint(
        {r["composition"] for r in recs if r["id"] not in set(validation)}), validation_comps
    split = {
        "description": "Held-out test split by composition (parent compound, reduced "
                       "formula): every structure derived from a held-out composition is "
                       "in 'test'. In addition the monoclinic HfO2 benchmark cell is a "
                       "held-out *structure*: other HfO2 polymorphs remain in training.",
        "held_out_compositions": HELD_OUT_COMPOSITIONS,
        "held_out_structures": HELD_OUT_STRUCTURES,
        "n_compositions": len(comps),
        "n_held_out_compositions": len(HELD_OUT_COMPOSITIONS),
        "examples": EXAMPLE_IDS,
        "train": train, "test": test,
        "validation_description": "Compositions in neither 'train' nor 'test' (pristine "
                                  "cells, session 9): used only to choose which trained "
                                  "networks to ship and how to combine them.",
        "validation": validation,
    }
    return recs, split


def write_examples(recs: list[dict]) -> None:
    """CIF and VASP POSCAR files of the bundled example structures."""
    os.makedirs(EXAMPLES, exist_ok=True)
    by_id = {r["id"]: r for r in recs}
    for sid in EXAMPLE_IDS:
        d = by_id[sid]["atoms"]
        atoms = Atoms(numbers=d["numbers"], positions=d["positions"], cell=d["cell"],
                      pbc=d["pbc"])
        write(os.path.join(EXAMPLES, sid + ".cif"), atoms, format="cif")
        write(os.path.join(EXAMPLES, sid + ".vasp"), atoms, format="vasp", direct=True)


def payloads() -> tuple[str, str, list[dict]]:
    recs, split = build()
    doc = {"description": "deepaw-nb reference structures (data/recipes/build_structures.py)",
           "units": {"positions": "Angstrom", "cell": "Angstrom (rows = lattice vectors)"},
           "seed": SEED, "n_structures": len(recs), "structures": recs}
    return json.dumps(doc, indent=1) + "\n", json.dumps(split, indent=1) + "\n", recs


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Build structures.json and split.json")
    ap.add_argument("--check", action="store_true", help="only compare with files on disk")
    args = ap.parse_args(argv)
    s_text, split_text, recs = payloads()
    paths = {os.path.join(REF, "structures.json"): s_text,
             os.path.join(REF, "split.json"): split_text}
    if args.check:
        stale = [p for p, t in paths.items()
                 if not os.path.exists(p) or open(p).read() != t]
        print("stale: %s" % stale if stale else "up to date")
        return 1 if stale else 0
    os.makedirs(REF, exist_ok=True)
    for p, t in paths.items():
        with open(p + ".tmp", "w") as fh:
            fh.write(t)
        os.replace(p + ".tmp", p)
    write_examples(recs)
    split = json.loads(split_text)
    print("%d structures (%d train, %d test, %d validation), %d compositions"
          % (len(recs), len(split["train"]), len(split["test"]), len(split["validation"]),
             split["n_compositions"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
