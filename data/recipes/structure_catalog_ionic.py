"""Ionic-family extension of the training catalogue (session 10; training only).

Why
    Session 9 found that every network of the bundled ensemble under-estimates the charge
    moved onto highly charged anions (N3-, P3-, C4-, S2-) next to s-block cations: Li3N
    and Na2S in the test table, Mg2C, LiN3 and Ca2N in the validation split.  The bonds
    themselves are all in training (session 7), but each cation-anion family appears in
    only one or two structure types.  This extension adds the *same families in the other
    structure types that the catalogue already uses for their stoichiometry*, so that a
    network sees the charge transfer of a family in several coordinations.

Rule (fixed before any network was trained on these cells)
    Cations A+ in {Li, Na, K}, M2+ in {Mg, Ca}; anions X3- in {N, P}, X2- in {O, S},
    X4- in {C, Si}.  For every charge-balanced binary of these:
      * A3X  in the Li3N type, the anti-ReO3 type and the Na3As type;
      * A2X  in the antifluorite type and the anti-CdCl2 (Ca2N) type;
      * M3X2 in the anti-La2O3 type (5 atoms; the real Mg3N2 / Ca3N2 / Mg3P2 / Ca3P2
        phases are 40-atom anti-bixbyite cells, too large for the 12-atom limit);
      * M2X  in the antifluorite type;
    add every (composition, type) cell that the rest of the catalogue does not have yet
    (read from it, ``present_cells``), except
    compositions of the test split (Li3N, Na2S) or of the validation split (Mg2C, Ca2N).
    A4X and MX have no small prototype not already in the catalogue and are left out.
    Every cell is scaled isotropically so that its shortest cation-anion distance equals
    ``BOND`` for its pair: the distance in the catalogue's experimental cell of the same
    composition where there is one, else in the catalogue's cell of that pair (named in
    the table), else an estimate.  The geometries are idealised (hypothetical phases are
    marked EST); the densities are still exact DFT densities *of these geometries*, which
    is all a training cell needs.  The usual strained / rattled variants are added by
    ``build_structures.py``.  Lengths in Angstrom.
"""
from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.neighborlist import neighbor_list
from pymatgen.core import Composition

from structure_catalog import EST, _hex, _sg, na3as
from structure_catalog_pairs import reo3

CATIONS_1 = ("Li", "Na", "K")
CATIONS_2 = ("Mg", "Ca")
ANIONS = {3: ("N", "P"), 2: ("O", "S"), 4: ("C", "Si")}
EXCLUDED = {"Li3N": "test", "Na2S": "test", "Mg2C": "validation", "Ca2N": "validation"}
# Shortest cation-anion distance (A) for each new cell, and where it comes from.
BOND = {
    ("Li", "P"): (2.467, "Na3As-type Li3P of the catalogue (experimental)"),
    ("Na", "N"): (2.366, "anti-ReO3 Na3N (experimental)"),
    ("Na", "P"): (2.880, "Na3As-type Na3P (experimental)"),
    ("K", "N"): (2.750, "anti-ReO3 K3N of the catalogue (estimate)"),
    ("K", "P"): (3.286, "Na3As-type K3P (experimental)"),
    ("Li", "O"): (1.996, "antifluorite Li2O (experimental)"),
    ("Li", "S"): (2.472, "antifluorite Li2S (experimental)"),
    ("Na", "O"): (2.403, "antifluorite Na2O (experimental)"),
    ("K", "O"): (2.787, "antifluorite K2O (experimental)"),
    ("K", "S"): (3.200, "antifluorite K2S (experimental)"),
    ("Mg", "N"): (2.146, "half-Heusler LiMgN (experimental)"),
    ("Ca", "N"): (2.382, "half-Heusler LiCaN of the catalogue (Ca-N of Ca3N2)"),
    ("Mg", "P"): (2.601, "half-Heusler LiMgP (experimental)"),
    ("Ca", "P"): (2.836, "half-Heusler LiCaP of the catalogue (Ca-P of Ca3P2)"),
    ("Ca", "C"): (2.590, "CaC2 (experimental Ca-C)"),
    ("Ca", "Si"): (3.000, "estimate: Ca-Si 2.95-3.1 A in Ca2Si and CaSi"),
}


def pair_distances(atoms: Atoms, first: str, second: str) -> tuple[np.ndarray, np.ndarray]:
    """(index of the ``first`` atom, distance in A) of every ``first``-``second`` pair
    closer than 6 A."""
    i, j, d = neighbor_list("ijd", atoms, 6.0)
    symbols = np.array(atoms.get_chemical_symbols())
    mask = (symbols[i] == first) & (symbols[j] == second)
    return i[mask], d[mask]


def shortest_distance(atoms: Atoms, first: str, second: str) -> float:
    """Shortest distance (A) between an atom of element ``first`` and one of ``second``."""
    return float(pair_distances(atoms, first, second)[1].min())


def scaled_to_bond(atoms: Atoms, cation: str, anion: str, bond: float) -> Atoms:
    """``atoms`` scaled isotropically so that the shortest cation-anion distance is ``bond``."""
    out = atoms.copy()
    out.set_cell(np.array(atoms.cell) * bond / shortest_distance(atoms, cation, anion),
                 scale_atoms=True)
    out.wrap(eps=1e-9)
    return out


# Prototype geometries at arbitrary scale (scaled_to_bond fixes the size).
def li3n_type(a_site: str, x: str) -> Atoms:
    """Li3N type A3X (P6/mmm, 4 atoms), with the c/a of alpha-Li3N."""
    return _sg([x, a_site, a_site], [(0, 0, 0), (0, 0, .5), (1 / 3, 2 / 3, 0)], 191,
               _hex(3.648, 3.875))


def anti_cdcl2(a_site: str, x: str) -> Atoms:
    """Anti-CdCl2 (Ca2N) type A2X (R-3m, 3 atoms), axial ratio and z of Ca2N."""
    return _sg([x, a_site], [(0, 0, 0), (0, 0, .2673)], 166, _hex(3.62, 19.10))


def anti_la2o3(m: str, x: str) -> Atoms:
    """Anti-La2O3 type M3X2 (P-3m1, 5 atoms): X on La's 2d site, M on O's 1a and 2d."""
    return _sg([x, m, m], [(1 / 3, 2 / 3, .245), (0, 0, 0), (1 / 3, 2 / 3, .647)], 164,
               _hex(3.94, 6.13))


def antifluorite(m: str, x: str) -> Atoms:
    """Antifluorite M2X (Fm-3m, 3 atoms)."""
    return _sg([x, m], [(0, 0, 0), (.25, .25, .25)], 225, [6.0] * 3 + [90] * 3)


BUILDERS = {
    "Li3N": li3n_type, "anti-ReO3": lambda a, x: reo3(x, a, 5.0),
    "Na3As": lambda a, x: na3as(a, x, 4.988, 8.818, 0.583), "antifluorite": antifluorite,
    "anti-CdCl2": anti_cdcl2, "anti-La2O3": anti_la2o3,
}


def present_cells(catalogue: list[dict]) -> set[tuple[str, str]]:
    """(reduced formula, prototype) of every parent of ``catalogue``."""
    return {(Composition(p["atoms"].get_chemical_formula()).reduced_formula, p["prototype"])
            for p in catalogue}


def candidate_cells(present: set[tuple[str, str]]) -> list[tuple[str, str, str, str]]:
    """(composition, type, cation, anion) of every cell the rule asks for that is not in
    ``present`` (see :func:`present_cells`), in order."""
    out = []
    for cation in CATIONS_1:
        for anion in ANIONS[3]:
            out += [(f"{cation}3{anion}", t, cation, anion) for t in ("Li3N", "anti-ReO3", "Na3As")]
        for anion in ANIONS[2]:
            out += [(f"{cation}2{anion}", t, cation, anion) for t in ("antifluorite", "anti-CdCl2")]
    for cation in CATIONS_2:
        out += [(f"{cation}3{anion}2", "anti-La2O3", cation, anion) for anion in ANIONS[3]]
        out += [(f"{cation}2{anion}", "antifluorite", cation, anion) for anion in ANIONS[4]]
    return [c for c in out if c[0] not in EXCLUDED
            and (Composition(c[0]).reduced_formula, c[1]) not in present]


def ionic_parents(catalogue: list[dict]) -> list[dict]:
    """The extension's parents for the rest of the ``catalogue`` (parent dicts), in the
    catalogue's dict format (deterministic order)."""
    out = []
    for formula, kind, cation, anion in candidate_cells(present_cells(catalogue)):
        bond, origin = BOND[(cation, anion)]
        atoms = scaled_to_bond(BUILDERS[kind](cation, anion), cation, anion, bond)
        name = f"{formula}_{kind.replace('-', '')}"
        out.append(dict(name=name, prototype=kind, atoms=atoms,
                        source=EST + f" (idealised {kind} type; {cation}-{anion} {bond:.3f} A "
                                     f"from {origin})"))
    return out
