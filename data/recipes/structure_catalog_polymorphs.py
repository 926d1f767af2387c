"""Polymorph extension of the training catalogue (session 11; training only).

Why
    After session 10 the held-out compounds of two common families are still among the
    weaker ones (AlN, GaP ~2.0-2.1 % NMAE; the layered ZrS2 3.8 %), while most training
    compositions of those families appear in one or two of the family's structure types
    only.  This extension gives every composition of the two families the family's other
    structure types, so that a network sees each bond in several coordinations.

Rule (fixed before any network was trained on these cells)
    * Octet AB compounds: (B, Al, Ga) x (N, P) and (Mg, Zn, Ca) x (O, S), each in the
      zincblende, wurtzite and rocksalt types.
    * Layered MX2: (Ti, Zr, Hf) x S and (Mg, Ca, Zn, Ti) x Cl, each in the CdI2 (1T) and
      CdCl2 types.
    A cell is added when the composition has at least one cell in the rest of the
    catalogue (the *source* cell), the (composition, type) cell is not there yet, and the
    composition is neither in the test split nor in the validation split.
    Geometry, from the source cell (the earliest one in catalogue order):
    * AB: the shortest cation-anion distance d of the source; a tetrahedral cell (zincblende,
      or ideal wurtzite u = 3/8, c/a = sqrt(8/3)) gets d_tet, a rocksalt cell d_oct, with
      d_oct = OCT_OVER_TET x d_tet.  OCT_OVER_TET = 1.08 is the ratio of the catalogue's own
      rocksalt and zincblende GaN (2.110 / 1.949 A) and of wurtzite / rocksalt ZnO
      (1.98 / 2.14 A), the usual zero-pressure ratio.
    * MX2: the same layer (in-plane a, M-X distance) and the same layer spacing as the
      source, stacked the other way (one layer per cell in CdI2, three in CdCl2).
    The geometries are idealised (hypothetical phases are marked EST); the densities are
    exact DFT densities of these geometries, which is all a training cell needs.  The usual
    strained / rattled variants are added by ``build_structures.py``.  Lengths in Angstrom.
"""
from __future__ import annotations

import math

from ase import Atoms
from pymatgen.core import Composition

from structure_catalog import EST, _b, _hex, _sg, cdi2
from structure_catalog_ionic import (pair_distances, present_cells, scaled_to_bond,
                                     shortest_distance)

OCTET = [(("B", "Al", "Ga"), ("N", "P")), (("Mg", "Zn", "Ca"), ("O", "S"))]
OCTET_TYPES = ("zincblende", "wurtzite", "rocksalt")
LAYERED = [(("Ti", "Zr", "Hf"), ("S",)), (("Mg", "Ca", "Zn", "Ti"), ("Cl",))]
LAYERED_TYPES = ("CdI2", "CdCl2")
# Compositions of the test split (build_structures.HELD_OUT_COMPOSITIONS) and of the
# validation split (structure_catalog_validation) that the rule reaches.
EXCLUDED = {"AlN": "test", "GaP": "test", "ZrS2": "test", "CaCl2": "validation"}
OCT_OVER_TET = 1.08


def octet_cell(kind: str, cation: str, anion: str, bond: float) -> Atoms:
    """AB cell of ``kind`` whose shortest cation-anion distance is ``bond`` (A)."""
    formula = cation + anion
    if kind == "rocksalt":
        return _b(formula, "rocksalt", 2 * bond)
    if kind == "zincblende":
        return _b(formula, "zincblende", 4 * bond / math.sqrt(3))
    ideal = _b(formula, "wurtzite", 1.0, c=math.sqrt(8 / 3), u=0.375)
    return scaled_to_bond(ideal, cation, anion, bond)


def coordination(atoms: Atoms, cation: str, anion: str) -> int:
    """Number of ``anion`` neighbours of the first ``cation`` atom within 5 % of the
    shortest cation-anion distance."""
    i, d = pair_distances(atoms, cation, anion)
    d = d[i == atoms.get_chemical_symbols().index(cation)]
    return int((d < 1.05 * d.min()).sum())


def layer_geometry(atoms: Atoms, metal: str, anion: str) -> tuple[float, float, float]:
    """(in-plane a, M-X distance, layer spacing) in A of an MX2 layer crystal."""
    a = shortest_distance(atoms, metal, metal)
    n_layers = atoms.get_chemical_symbols().count(metal)   # one M per layer and cell
    spacing = atoms.get_volume() / (n_layers * math.sqrt(3) / 2 * a * a)
    return a, shortest_distance(atoms, metal, anion), spacing


def layered_cell(kind: str, metal: str, anion: str, a: float, bond: float,
                 spacing: float) -> Atoms:
    """MX2 cell of ``kind`` (CdI2 or CdCl2) with in-plane ``a``, M-X ``bond`` and layer
    ``spacing`` (A)."""
    height = math.sqrt(bond * bond - a * a / 3)    # X above the M plane
    z = height / spacing                            # CdI2 z of the X site
    if kind == "CdI2":
        return cdi2(metal, anion, a, spacing, z)
    # CdCl2 (R-3m, hexagonal setting): X at (0, 0, u) lies at height z/3 of c = 3 spacings
    # above a M plane once moved by the centring vector (1/3, 2/3, 2/3).
    return _sg([metal, anion], [(0, 0, 0), (0, 0, (1 - z) / 3)], 166,
               _hex(a, 3 * spacing))


def _first_cells(catalogue: list[dict]) -> dict[str, Atoms]:
    """Reduced formula -> atoms of its earliest parent in ``catalogue``."""
    out: dict[str, Atoms] = {}
    for parent in catalogue:
        formula = Composition(parent["atoms"].get_chemical_formula()).reduced_formula
        out.setdefault(formula, parent["atoms"])
    return out


def candidate_cells(catalogue: list[dict]) -> list[tuple[str, str, str, str]]:
    """(composition, type, cation, anion) of every cell the rule asks for, in order."""
    present, sources = present_cells(catalogue), _first_cells(catalogue)
    out = []
    for families, kinds, fmt in [(OCTET, OCTET_TYPES, "{}{}"), (LAYERED, LAYERED_TYPES, "{}{}2")]:
        for cations, anions in families:
            for cation in cations:
                for anion in anions:
                    formula = Composition(fmt.format(cation, anion)).reduced_formula
                    out += [(formula, kind, cation, anion) for kind in kinds
                            if formula in sources and formula not in EXCLUDED
                            and (formula, kind) not in present]
    return out


def polymorph_parents(catalogue: list[dict]) -> list[dict]:
    """The extension's parents for the rest of the ``catalogue``, in its dict format."""
    sources = _first_cells(catalogue)
    out = []
    for formula, kind, cation, anion in candidate_cells(catalogue):
        source = sources[formula]
        if kind in OCTET_TYPES:
            bond = shortest_distance(source, cation, anion)
            if coordination(source, cation, anion) == 6:
                bond /= OCT_OVER_TET   # the source is octahedral (rocksalt)
            if kind == "rocksalt":
                bond *= OCT_OVER_TET
            atoms = octet_cell(kind, cation, anion, bond)
            note = f"{cation}-{anion} {bond:.3f} A"
        else:
            a, bond, spacing = layer_geometry(source, cation, anion)
            atoms = layered_cell(kind, cation, anion, a, bond, spacing)
            note = f"a {a:.3f} A, {cation}-{anion} {bond:.3f} A, layer spacing {spacing:.3f} A"
        atoms.wrap(eps=1e-9)
        out.append(dict(name=f"{formula}_{kind}", prototype=kind, atoms=atoms,
                        source=EST + f" (idealised {kind} type; {note} from the catalogue's "
                                     f"{formula} cell)"))
    return out
