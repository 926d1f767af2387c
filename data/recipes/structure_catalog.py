"""Catalogue of the parent crystal structures of the deepaw-nb reference set.

Every entry is a small (1-12 atom) cell built programmatically with ASE from
literature (mostly room-temperature experimental) lattice constants; a few
high-temperature or hypothetical phases use estimated constants.  No structure
is relaxed: the reference densities are computed at exactly these geometries,
so the numbers only need to be physically sensible, not PBE minima.

Units: lengths in Angstrom, angles in degrees, internal coordinates fractional.

Used by ``data/recipes/build_structures.py`` (project python, ase >= 3.23).
Each entry of ``parents()`` is a dict with keys
``name`` (unique id stem), ``prototype``, ``atoms`` (``ase.Atoms``, wrapped
into the cell) and ``source`` (short note on where the numbers come from).
"""
from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.build import bulk
from ase.spacegroup import crystal

EXP = "experimental lattice constant (room temperature, approx.)"
EST = "estimated lattice constant (high-T / hypothetical phase)"

# Monoclinic HfO2 (P2_1/c, baddeleyite type): the 12-atom benchmark cell of the
# project, identical (to float precision) to ../shared/reference/hfo2_full.json.
HFO2_MONO = dict(
    cellpar=[5.1157, 5.1727, 5.2927, 90.0, 99.18, 90.0],
    basis=[(0.2759, 0.0412, 0.2078), (0.0699, 0.3317, 0.3432),
           (0.4502, 0.7568, 0.4797)],
)
# Monoclinic ZrO2 (Howard, Hill & Reichert, Acta Cryst. B44, 116 (1988)).
ZRO2_MONO = dict(
    cellpar=[5.1505, 5.2116, 5.3173, 90.0, 99.23, 90.0],
    basis=[(0.2754, 0.0395, 0.2083), (0.0700, 0.3317, 0.3447),
           (0.4496, 0.7569, 0.4792)],
)


def _sg(symbols, basis, sg, cellpar, setting=1) -> Atoms:
    """Primitive cell of a space-group crystal (ASE ``crystal``), wrapped."""
    atoms = crystal(symbols, basis=basis, spacegroup=sg, cellpar=cellpar,
                    setting=setting, primitive_cell=True)
    atoms.wrap(eps=1e-9)
    return atoms


def _hex(a, c):
    return [a, a, c, 90, 90, 120]


def _tet(a, c):
    return [a, a, c, 90, 90, 90]


def rutile(m, x, a, c, u):
    """Rutile (P4_2/mnm, 6 atoms); ``u`` is the anion x parameter."""
    return _sg([m, x], [(0, 0, 0), (u, u, 0)], 136, _tet(a, c))


def perovskite(a_site, b_site, x, a):
    """Ideal cubic perovskite ABX3 (Pm-3m, 5 atoms), lattice constant ``a``."""
    return _sg([a_site, b_site, x], [(0, 0, 0), (.5, .5, .5), (.5, .5, 0)],
               221, [a] * 3 + [90] * 3)


def alb2(m, a, c):
    """AlB2 type MB2 (P6/mmm, 3 atoms)."""
    return _sg([m, "B"], [(0, 0, 0), (1 / 3, 2 / 3, .5)], 191, _hex(a, c))


def cdi2(m, x, a, c, z=0.25):
    """CdI2 (1T) type MX2 layer crystal (P-3m1, 3 atoms)."""
    return _sg([m, x], [(0, 0, 0), (1 / 3, 2 / 3, z)], 164, _hex(a, c))


def brucite(m, a, c, zo, zh):
    """Brucite type M(OH)2 (P-3m1, 5 atoms)."""
    return _sg([m, "O", "H"], [(0, 0, 0), (1 / 3, 2 / 3, zo), (1 / 3, 2 / 3, zh)],
               164, _hex(a, c))


def half_heusler(x, y, z, a):
    """Filled tetrahedral (half-Heusler) XYZ, F-43m, 3 atoms: Y 4a, Z 4c, X 4b."""
    return _sg([y, z, x], [(0, 0, 0), (.25, .25, .25), (.5, .5, .5)], 216,
               [a] * 3 + [90] * 3)


def na3as(a_site, x, a, c, z):
    """Na3As type A3X (P6_3/mmc, 8 atoms)."""
    return _sg([x, a_site, a_site], [(1 / 3, 2 / 3, .25), (0, 0, .25),
                                     (1 / 3, 2 / 3, z)], 194, _hex(a, c))


def tetragonal_fluorite(m, a, c, dz):
    """Tetragonal MO2 (P4_2/nmc, 6 atoms): fluorite with O columns shifted +-dz
    (fractional, along c).  Built explicitly in the a_t = a_c/sqrt(2) cell."""
    frac = [(0, 0, 0), (.5, .5, .5),
            (0, .5, .25 + dz), (0, .5, .75 + dz),
            (.5, 0, .25 - dz), (.5, 0, .75 - dz)]
    atoms = Atoms([m, m, "O", "O", "O", "O"], scaled_positions=frac,
                  cell=np.diag([a, a, c]), pbc=True)
    atoms.wrap(eps=1e-9)
    return atoms


def quartz(a, c, x_si, o_xyz):
    """Alpha-quartz SiO2 (P3_221, 9 atoms) with the symmetry operations of the
    origin choice used by Levien et al. (1980), which differs from ASE's default
    origin for space group 154 and therefore is applied explicitly here."""
    ops = [lambda x, y, z: (x, y, z), lambda x, y, z: (y, x, 2 / 3 - z),
           lambda x, y, z: (-y, x - y, 2 / 3 + z), lambda x, y, z: (-x, -x + y, 1 / 3 - z),
           lambda x, y, z: (-x + y, -x, 1 / 3 + z), lambda x, y, z: (x - y, -y, -z)]
    symbols, frac = [], []
    for sym, site in [("Si", (x_si, 0.0, 0.0)), ("O", o_xyz)]:
        for op in ops:
            f = np.mod(np.array(op(*site), dtype=float), 1.0)
            if not any(np.allclose(f, g, atol=1e-6) for g in frac):
                symbols.append(sym)
                frac.append(f)
    atoms = Atoms(symbols, scaled_positions=frac, cell=_hex(a, c), pbc=True)
    atoms.wrap(eps=1e-9)
    return atoms


def _b(name, proto, a=None, **kw):
    atoms = bulk(name, proto, a=a, **kw)
    atoms.wrap(eps=1e-9)
    return atoms


def parents() -> list[dict]:
    """Return the parent structures (deterministic order)."""
    out: list[dict] = []

    def add(name, prototype, atoms, source=EXP):
        out.append(dict(name=name, prototype=prototype, atoms=atoms, source=source))

    # --- elemental solids ---------------------------------------------------
    for el, a in [("Li", 3.49), ("Na", 4.23), ("K", 5.23)]:
        add(f"{el}_bcc", "bcc", _b(el, "bcc", a), EXP + " (low T)")
    for el, a in [("Al", 4.05), ("Ca", 5.588)]:
        add(f"{el}_fcc", "fcc", _b(el, "fcc", a))
    for el, a, c in [("Mg", 3.209, 5.211), ("Ti", 2.951, 4.686),
                     ("Zn", 2.665, 4.947), ("Zr", 3.232, 5.147),
                     ("Hf", 3.195, 5.051)]:
        add(f"{el}_hcp", "hcp", _b(el, "hcp", a, c=c))
    for el, a in [("Ti", 3.31), ("Zr", 3.57)]:
        add(f"{el}_bcc", "bcc", _b(el, "bcc", a), EST + " (beta phase)")
    add("Si_diamond", "diamond", _b("Si", "diamond", 5.43))
    add("C_diamond", "diamond", _b("C", "diamond", 3.567))
    add("C_graphite", "graphite", _sg(["C", "C"], [(0, 0, .25), (1 / 3, 2 / 3, .25)],
                                      194, _hex(2.464, 6.711)))
    add("P_black", "black-P", _sg(["P"], [(0, 0.10168, 0.08056)], 64,
                                  [3.3136, 10.478, 4.3763, 90, 90, 90]))
    add("Ga_alpha", "alpha-Ga", _sg(["Ga"], [(0, 0.1549, 0.0810)], 64,
                                    [4.5192, 7.6586, 4.5258, 90, 90, 90]))

    # --- rocksalt -------------------------------------------------------------
    for f, a in [("LiF", 4.027), ("NaF", 4.634), ("KF", 5.347), ("LiCl", 5.130),
                 ("NaCl", 5.640), ("KCl", 6.293), ("MgO", 4.212), ("CaO", 4.811),
                 ("MgS", 5.203), ("CaS", 5.689), ("LiH", 4.083), ("NaH", 4.880),
                 ("KH", 5.700), ("TiC", 4.328), ("TiN", 4.240), ("ZrC", 4.698),
                 ("ZrN", 4.578), ("HfC", 4.638), ("HfN", 4.525)]:
        add(f"{f}_rocksalt", "rocksalt", _b(f, "rocksalt", a))

    # --- zincblende / wurtzite --------------------------------------------------
    for f, a, src in [("BN", 3.615, EXP), ("BP", 4.538, EXP), ("AlP", 5.451, EXP),
                      ("GaP", 5.451, EXP), ("ZnS", 5.409, EXP), ("SiC", 4.360, EXP),
                      ("AlN", 4.38, EST), ("GaN", 4.50, EXP)]:
        add(f"{f}_zincblende", "zincblende", _b(f, "zincblende", a), src)
    for f, a, c, u in [("ZnO", 3.250, 5.207, 0.382), ("GaN", 3.189, 5.185, 0.377),
                       ("AlN", 3.112, 4.982, 0.382), ("ZnS", 3.811, 6.234, 0.375),
                       ("SiC", 3.076, 5.048, 0.375)]:
        add(f"{f}_wurtzite", "wurtzite", _b(f, "wurtzite", a, c=c, u=u))

    # --- fluorite / antifluorite (name = cation first in ASE order) ------------
    for f, ase_name, a, src in [
            ("CaF2", "CaF2", 5.463, EXP), ("ZrO2", "ZrO2", 5.09, EST),
            ("HfO2", "HfO2", 5.08, EST), ("TiH2", "TiH2", 4.454, EXP),
            ("ZrH2", "ZrH2", 4.78, EST), ("Li2O", "OLi2", 4.619, EXP),
            ("Li2S", "SLi2", 5.708, EXP), ("Na2O", "ONa2", 5.55, EXP),
            ("Na2S", "SNa2", 6.539, EXP), ("K2O", "OK2", 6.436, EXP),
            ("K2S", "SK2", 7.391, EXP), ("Mg2Si", "SiMg2", 6.351, EXP)]:
        proto = "fluorite" if f[-1] == "2" else "antifluorite"
        add(f"{f}_{proto}", proto, _b(ase_name, "fluorite", a), src)

    # --- rutile ---------------------------------------------------------------
    for f, m, x, a, c, u in [("TiO2", "Ti", "O", 4.594, 2.959, 0.3049),
                             ("MgF2", "Mg", "F", 4.621, 3.052, 0.3030),
                             ("ZnF2", "Zn", "F", 4.704, 3.132, 0.3030),
                             ("SiO2", "Si", "O", 4.180, 2.666, 0.3062),
                             ("MgH2", "Mg", "H", 4.501, 3.010, 0.3044)]:
        add(f"{f}_rutile", "rutile", rutile(m, x, a, c, u))

    # --- cubic perovskites ------------------------------------------------------
    for f, aa, bb, x, a, src in [("CaTiO3", "Ca", "Ti", "O", 3.84, EST),
                                 ("KMgF3", "K", "Mg", "F", 3.989, EXP),
                                 ("NaMgF3", "Na", "Mg", "F", 3.84, EST),
                                 ("KZnF3", "K", "Zn", "F", 4.055, EXP),
                                 ("CaZrO3", "Ca", "Zr", "O", 4.02, EST),
                                 ("CaHfO3", "Ca", "Hf", "O", 4.00, EST)]:
        add(f"{f}_perovskite", "perovskite", perovskite(aa, bb, x, a), src)

    # --- other oxides, incl. the ZrO2/HfO2 polymorphs ------------------------------
    add("TiO2_anatase", "anatase", _sg(["Ti", "O"], [(0, 0, 0), (0, 0, 0.2081)], 141,
                                       _tet(3.785, 9.514)))
    add("SiO2_quartz", "alpha-quartz", quartz(4.916, 5.4054, 0.4697, (0.4135, 0.2669, 0.1191)),
        "Levien, Prewitt & Weidner, Am. Mineral. 65, 920 (1980)")
    add("Al2O3_corundum", "corundum", _sg(["Al", "O"], [(0, 0, 0.35216),
                                                        (0.30624, 0, 0.25)],
                                          167, _hex(4.7589, 12.991)))
    add("ZrO2_tetragonal", "tetragonal-ZrO2", tetragonal_fluorite("Zr", 3.605, 5.180, 0.05),
        EST)
    add("HfO2_tetragonal", "tetragonal-ZrO2", tetragonal_fluorite("Hf", 3.578, 5.200, 0.05),
        EST)
    add("ZrO2_monoclinic", "baddeleyite", _sg(["Zr", "O", "O"], ZRO2_MONO["basis"], 14,
                                              ZRO2_MONO["cellpar"]),
        "Howard et al., Acta Cryst. B44, 116 (1988)")
    add("HfO2_monoclinic", "baddeleyite", _sg(["Hf", "O", "O"], HFO2_MONO["basis"], 14,
                                              HFO2_MONO["cellpar"]),
        "project benchmark cell (../shared/reference/hfo2_full.json)")

    # --- layered compounds ---------------------------------------------------------
    add("BN_hexagonal", "h-BN", _sg(["B", "N"], [(1 / 3, 2 / 3, .25), (1 / 3, 2 / 3, .75)],
                                    194, _hex(2.504, 6.661)))
    for f, m, a, c in [("MgB2", "Mg", 3.086, 3.524), ("AlB2", "Al", 3.005, 3.257),
                       ("TiB2", "Ti", 3.029, 3.229), ("ZrB2", "Zr", 3.170, 3.533),
                       ("HfB2", "Hf", 3.142, 3.476)]:
        add(f"{f}_AlB2", "AlB2", alb2(m, a, c))
    for f, m, a, c in [("TiS2", "Ti", 3.407, 5.695), ("ZrS2", "Zr", 3.662, 5.813),
                       ("HfS2", "Hf", 3.630, 5.837)]:
        add(f"{f}_CdI2", "CdI2", cdi2(m, "S", a, c))
    add("MgCl2_CdCl2", "CdCl2", _sg(["Mg", "Cl"], [(0, 0, 0), (0, 0, 0.2578)], 166,
                                    _hex(3.641, 17.67)))
    add("MgO2H2_brucite", "brucite", brucite("Mg", 3.142, 4.766, 0.2216, 0.4303))
    add("CaO2H2_brucite", "brucite", brucite("Ca", 3.589, 4.911, 0.2341, 0.4248))
    add("LiOH_tetragonal", "LiOH", _sg(["Li", "O", "H"], [(.75, .25, 0), (.25, .25, 0.1941),
                                                         (.25, .25, 0.4058)],
                                       129, _tet(3.549, 4.334), setting=2))
    add("LiAlO2_layered", "alpha-NaFeO2", _sg(["Al", "Li", "O"], [(0, 0, 0), (0, 0, .5),
                                                                  (0, 0, 0.2600)],
                                              166, _hex(2.80, 14.22)), EST)

    # --- nitrides, carbides, borides, phosphides, intermetallics ------------------
    add("Li3N_hexagonal", "Li3N", _sg(["N", "Li", "Li"], [(0, 0, 0), (0, 0, .5),
                                                          (1 / 3, 2 / 3, 0)],
                                      191, _hex(3.648, 3.875)))
    add("CaC2_tetragonal", "CaC2", _sg(["Ca", "C"], [(0, 0, 0), (0, 0, 0.406)], 139,
                                       _tet(3.89, 6.38)))
    add("CaB6_cubic", "CaB6", _sg(["Ca", "B"], [(0, 0, 0), (0.207, .5, .5)], 221,
                                  [4.145] * 3 + [90] * 3))
    add("Li3P_hexagonal", "Na3As", na3as("Li", "P", 4.273, 7.594, 0.583))
    add("Na3P_hexagonal", "Na3As", na3as("Na", "P", 4.988, 8.818, 0.583))
    add("TiAl_L10", "L1_0", _sg(["Ti", "Al"], [(0, 0, 0), (.5, .5, .5)], 123,
                                _tet(2.83, 4.07)))
    for f, x, y, z, a in [("LiZnP", "Li", "Zn", "P", 5.765), ("LiMgP", "Li", "Mg", "P", 6.006),
                          ("LiMgN", "Li", "Mg", "N", 4.955), ("LiZnN", "Li", "Zn", "N", 4.877)]:
        add(f"{f}_halfheusler", "half-Heusler", half_heusler(x, y, z, a))

    # --- extension (2026-12): training chemistries next to the weakest held-out
    # compositions (MgB2, Li3N, LiZnP, AlN).  None of these has a held-out
    # reduced composition; they add related bonding, not the held-out compounds.
    # MgB2 neighbours: metal layers intercalated between honeycomb sheets.
    add("LiBC_hexagonal", "LiBC", _sg(["Li", "B", "C"], [(0, 0, 0), (1 / 3, 2 / 3, .25),
                                                         (1 / 3, 2 / 3, .75)],
                                      194, _hex(2.752, 7.058)),
        EXP + "; Woerle et al., Z. Anorg. Allg. Chem. 621, 1153 (1995): "
              "Li 2a, B 2c, C 2d, B-C 1.59 A")
    add("CaB2_AlB2", "AlB2", alb2("Ca", 3.20, 4.00),
        EST + " (hypothetical AlB2-type CaB2; a, c guessed from the B-B bond "
              "and the Ca size)")
    add("LiC6_GIC", "LiC6", _sg(["Li", "C"], [(0, 0, 0), (1 / 3, 0, .5)], 191,
                                _hex(4.305, 3.706)),
        EXP + "; stage-1 graphite intercalation compound, P6/mmm, Li 1a, C 6k, "
              "AA graphene stacking")
    add("CaC6_GIC", "CaC6", _sg(["Ca", "C"], [(0, 0, 0), (1 / 3, 0, .5)], 166,
                                _hex(4.333, 13.572)),
        EXP + "; Emery et al., PRL 95, 087003 (2005): R-3m, Ca 3a, C 18g, "
              "rhombohedral primitive cell")
    # LiZnP neighbours: filled-tetrahedral (Nowotny-Juza) phases and Zintl-type
    # Li intermetallics (same builder convention as above: X at 4b, Y-Z zincblende).
    add("LiAlSi_halfheusler", "half-Heusler", half_heusler("Li", "Al", "Si", 5.93),
        EXP + " (Nowotny-Juza phase LiAlSi, a = 5.93 A)")
    add("LiGaSi_halfheusler", "half-Heusler", half_heusler("Li", "Ga", "Si", 5.95),
        EST + " (LiGaSi as a filled-tetrahedral phase, a ~ LiAlSi)")
    for f, m, a in [("LiAl", "Al", 6.37), ("LiGa", "Ga", 6.20)]:
        add(f"{f}_B32", "NaTl (B32)", _sg(["Li", m], [(0, 0, 0), (.5, .5, .5)], 227,
                                          [a] * 3 + [90] * 3),
            EXP + " (Zintl phase, NaTl type, Fd-3m origin 1: Li 8a, %s 8b)" % m)
    # Li3N neighbours: the Li3N prototype with P, and other alkali nitrides.
    add("Li3P_Li3N", "Li3N", _sg(["P", "Li", "Li"], [(0, 0, 0), (0, 0, .5),
                                                      (1 / 3, 2 / 3, 0)],
                                  191, _hex(4.38, 4.65)),
        EST + " (hypothetical Li3N-type Li3P: c/a of Li3N, volume of Na3As-type "
              "Li3P times the alpha/beta-Li3N volume ratio 1.29)")
    add("Na3N_antiReO3", "anti-ReO3", _sg(["N", "Na"], [(0, 0, 0), (.5, 0, 0)], 221,
                                           [4.733] * 3 + [90] * 3),
        EXP + "; Fischer & Jansen, Angew. Chem. Int. Ed. 41, 1755 (2002): "
              "a = 4.733 A, Na-N 2.37 A")
    add("NaN3_rhombohedral", "NaN3", _sg(["Na", "N", "N"], [(0, 0, 0), (0, 0, .5),
                                                            (0, 0, .5 - 1.18 / 15.24)],
                                          166, _hex(3.646, 15.24)),
        EXP + " (beta-NaN3, R-3m hexagonal axes, a, c consistent with the density "
              "1.846 g/cm3; azide N-N 1.18 A)")
    # AlN neighbours: other tetrahedral / octahedral III-V polymorphs.
    for f, a, c, src in [("BN", 2.550, 4.210, EXP),
                         ("AlP", 5.451 / 2 ** .5, 5.451 / 2 ** .5 * (8 / 3) ** .5, EST),
                         ("BP", 4.538 / 2 ** .5, 4.538 / 2 ** .5 * (8 / 3) ** .5, EST)]:
        add(f"{f}_wurtzite", "wurtzite", _b(f, "wurtzite", a, c=c, u=0.375),
            src + ("" if src == EXP else " (ideal wurtzite with the zincblende bond length)"))
    add("GaN_rocksalt", "rocksalt", _b("GaN", "rocksalt", 4.22),
        EST + " (high-pressure rocksalt GaN at ~zero pressure)")
    # Peroxide O-O bonds (Li-O chemistry next to Li3N/Li2O).
    add("Li2O2_hexagonal", "Li2O2", _sg(["Li", "Li", "O"], [(0, 0, 0), (1 / 3, 2 / 3, .25),
                                                            (1 / 3, 2 / 3, (1.5 + 1.55 / 7.650) / 2)],
                                        194, _hex(3.142, 7.650)),
        EXP + "; Foeppl (1957) / Cota & de la Mora, Acta Cryst. B61, 133 (2005): "
              "P6_3/mmc, Li 2a + 2c, O 4f with O-O 1.55 A")

    # --- extension (session 7): bonded element pairs that no training cell had
    from structure_catalog_pairs import pair_parents  # noqa: PLC0415 (it imports this module)
    out += pair_parents()
    # --- extension (session 10): s-block ionic families in more structure types
    from structure_catalog_ionic import ionic_parents  # noqa: PLC0415 (it imports this module)
    out += ionic_parents(out)
    # --- extension (session 11): octet AB and layered MX2 compositions in their sibling types
    from structure_catalog_polymorphs import polymorph_parents  # noqa: PLC0415 (it imports this module)
    out += polymorph_parents(out)
    return out
