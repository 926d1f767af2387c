#!/usr/bin/python3
"""Radial free-atom pseudo densities of GPAW's PBE setups -> ``data/reference/free_atoms.npz``.

What it writes
    ``radii``: uniform radius grid 0 … 5 Å (step 0.005 Å); one array per element symbol:
    f_Z(r) in e/Å³, the spherical density of the neutral free atom that GPAW 22.8 uses in its
    initial guess (``Density.initialize_from_atomic_densities``):

        f_Z(r) = Σ_j f_j · (φ̃_j(r) r^l_j)² / 4π  +  ñ_c(r) / √4π

    with the setup's reference occupations f_j (``calculate_initial_occupation_numbers``,
    spin-paired, no Hund's rule), its bound pseudo partial waves φ̃_j (GPAW's basis when no
    ``basis=`` is given: ``setup.basis.tosplines()``) and its smooth pseudo-core density ñ_c.
    GPAW stores a radial function g(r) such that the 3-D function is g(r) r^l Y_lm; Y_00 =
    1/√4π, and summing |Y_lm|² over m gives (2l+1)/4π.

Check (measured when the file was made, see ``data/recipes/README.md``): summed over atoms
and lattice images on GPAW's fine grid, these tables reproduce GPAW's stored initial guess
``density_atoms`` to 0.4–0.6 % NMAE; the difference is GPAW's global rescaling of the initial
guess to a neutral cell (after one common scale factor the NMAE is 0.01–0.09 %).

How to run (Debian's gpaw + gpaw-data; seconds)
    /usr/bin/python3 data/recipes/free_atom_densities.py
"""
import os
import sys

import numpy as np
from gpaw.setup import create_setup
from gpaw.xc import XC

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = os.path.join(ROOT, "data", "reference", "free_atoms.npz")
ELEMENTS = ["H", "Li", "B", "C", "N", "O", "F", "Na", "Mg", "Al", "Si", "P", "S", "Cl",
            "K", "Ca", "Ti", "Zn", "Ga", "Zr", "Hf"]
BOHR = 0.52917721067  # Å, the value GPAW 22.8 / ASE use
RADII = np.arange(1001) * 0.005  # Å


def radial_density(symbol, xc):
    """f_Z on ``RADII`` in e/Å³, and the setup's valence count."""
    setup = create_setup(symbol, xc)
    occupations = setup.calculate_initial_occupation_numbers(0.0, False, 0.0, 1)[0]
    r_bohr = RADII / BOHR
    density = np.zeros_like(RADII)
    first = 0
    for spline in setup.basis.tosplines():
        l = spline.get_angular_momentum_number()
        f = occupations[first:first + 2 * l + 1].sum()
        first += 2 * l + 1
        phi = spline.map(r_bohr) * r_bohr ** l
        density += f * phi ** 2 / (4 * np.pi)
    density += setup.nct.map(r_bohr) / np.sqrt(4 * np.pi)
    return density / BOHR ** 3, setup.Nv


def main():
    xc = XC("PBE")
    tables = {}
    for symbol in ELEMENTS:
        tables[symbol], valence = radial_density(symbol, xc)
        integral = np.trapz(4 * np.pi * RADII ** 2 * tables[symbol], RADII)
        print(f"{symbol:2s} valence {valence:5.1f}  integral of f(r) {integral:7.3f} e  f(0) {tables[symbol][0]:.3f} e/Å³")
    import gpaw
    source = (f"GPAW {gpaw.__version__} PBE setups: neutral free-atom pseudo density "
              "(initial-guess occupations, bound pseudo partial waves, smooth core)")
    tmp = OUT + ".tmp.npz"
    np.savez(tmp, radii=RADII, source=np.array(source), **{k: v.astype(np.float32) for k, v in tables.items()})
    os.replace(tmp, OUT)
    print("wrote", OUT)


if __name__ == "__main__":
    sys.exit(main())
