"""Validation compositions of the reference catalogue (session 9; never trained on).

Why
    Every choice about the bundled ensemble (which networks to ship, how to combine
    them) needs data that no network was trained on and that is not the held-out test
    table.  The per-network validation splits cannot serve: each seed draws its own
    10 % of the *training* structures, so every network has trained on the others'
    validation cells, and those cells have compositions seen in training.  These
    parents form a third split, ``validation``: whole compositions that are in neither
    the training nor the test split, used only to make such choices.

Rule
    Chosen in session 9 before any network was evaluated on them: one small cell
    (<= 6 atoms) per composition, in a prototype or chemistry family that the test
    table also covers (rocksalt, antifluorite, rutile, perovskite, intermetallic,
    alkali azide, layered nitride), from compounds that exist (experimental or
    quenched high-pressure lattice constants) except where marked ``EST``.  Only the
    pristine cells are computed (no strained / rattled variants); each gets a full
    grid.  Nothing is relaxed.  Lengths in Angstrom, internal coordinates fractional.
"""
from __future__ import annotations

from structure_catalog import EST, EXP, _b, _hex, _sg, rutile


def validation_parents() -> list[dict]:
    """Return the validation parent structures (deterministic order)."""
    out: list[dict] = []

    def add(name, prototype, atoms, source=EXP):
        out.append({"name": name, "prototype": prototype, "atoms": atoms, "source": source})

    add("TiO_rocksalt", "rocksalt", _b("TiO", "rocksalt", 4.18),
        EXP + " (cubic high-temperature TiO, vacancies ignored)")
    add("Mg2C_antifluorite", "antifluorite", _b("CMg2", "fluorite", 5.45),
        EXP + " (antifluorite Mg2C quenched from high pressure, a ~ 5.45 A)")
    add("CaCl2_rutile", "rutile", rutile("Ca", "Cl", 6.30, 4.17, 0.30),
        EST + " (tetragonal idealisation of orthorhombic CaCl2, Ca-Cl 2.67-2.74 A)")
    add("CaSiO3_perovskite", "perovskite",
        _sg(["Ca", "Si", "O"], [(.5, .5, .5), (0, 0, 0), (.5, 0, 0)], 221,
            [3.57] * 3 + [90] * 3),
        EST + " (cubic CaSiO3, davemaoite, at ~zero pressure)")
    add("Al3Zr_L12", "L1_2", _sg(["Zr", "Al"], [(0, 0, 0), (0, .5, .5)], 221,
                                 [4.08] * 3 + [90] * 3),
        EXP + " (metastable L1_2 Al3Zr precipitates, a ~ 4.08 A)")
    # beta-NaN3 geometry of the training catalogue scaled to LiN3's volume per
    # formula unit (43.9 A^3, density 1.85 g/cm3), azide N-N bond kept at 1.18 A.
    a, c = 3.31, 13.85
    add("LiN3_rhombohedral", "NaN3", _sg(["Li", "N", "N"], [(0, 0, 0), (0, 0, .5),
                                                           (0, 0, .5 - 1.18 / c)],
                                         166, _hex(a, c)),
        EST + " (NaN3-type LiN3; real LiN3 is the monoclinic variant of this packing)")
    add("Ca2N_antiCdCl2", "anti-CdCl2", _sg(["N", "Ca"], [(0, 0, 0), (0, 0, .2673)],
                                             166, _hex(3.62, 19.10)),
        EXP + " (layered electride Ca2N, R-3m, Ca 6c z = 0.2673)")
    return out
