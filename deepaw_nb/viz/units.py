"""Density units used by the plotting functions.

Densities inside deepaw-nb are always electrons per cubic ångström (e/Å³).  VESTA and
many VASP users think in electrons per cubic bohr (e/bohr³), so figures can show and
accept values in either unit.  One bohr is ``ase.units.Bohr`` = 0.529177 Å, so

    ρ[e/bohr³] = ρ[e/Å³] · Bohr³ ≈ 0.1482 · ρ[e/Å³].
"""

from __future__ import annotations

from typing import Union

import numpy as np
from ase.units import Bohr

from deepaw_nb.errors import DeepawError

__all__ = ["DENSITY_UNITS", "convert_density_units", "normalize_unit", "unit_label"]

#: Canonical unit names accepted everywhere in :mod:`deepaw_nb.viz`.
DENSITY_UNITS = ("e/A3", "e/bohr3")

# Spellings people type (lower-cased, spaces removed) -> canonical name.
_ALIASES = {
    "e/a3": "e/A3",
    "e/å3": "e/A3",
    "e/å^3": "e/A3",
    "e/a^3": "e/A3",
    "e/å³": "e/A3",
    "e/a³": "e/A3",
    "e/ang3": "e/A3",
    "e/angstrom3": "e/A3",
    "e/bohr3": "e/bohr3",
    "e/bohr^3": "e/bohr3",
    "e/bohr³": "e/bohr3",
    "e/a03": "e/bohr3",
}

# Multiply a density in the canonical unit by this to get e/Å³.
_TO_E_PER_A3 = {"e/A3": 1.0, "e/bohr3": 1.0 / Bohr**3}

_LABELS = {"e/A3": "e/Å³", "e/bohr3": "e/bohr³"}

Number = Union[float, np.ndarray]


def normalize_unit(unit: str) -> str:
    """Return the canonical spelling (``"e/A3"`` or ``"e/bohr3"``) of a density unit.

    Raises :class:`~deepaw_nb.errors.DeepawError` for anything else.
    """
    key = str(unit).replace(" ", "").lower()
    try:
        return _ALIASES[key]
    except KeyError:
        raise DeepawError(
            f"unknown density unit {unit!r}; use 'e/A3' (e/Å³) or 'e/bohr3' (e/bohr³)"
        ) from None


def unit_label(unit: str) -> str:
    """Pretty label of a density unit for axis and colour-bar titles (``"e/Å³"``)."""
    return _LABELS[normalize_unit(unit)]


def convert_density_units(values: Number, from_unit: str, to_unit: str) -> Number:
    """Convert densities between e/Å³ and e/bohr³.

    Parameters
    ----------
    values:
        A number or array of densities expressed in ``from_unit``.
    from_unit, to_unit:
        ``"e/A3"`` or ``"e/bohr3"`` (a few common spellings such as ``"e/Å³"`` are
        accepted too).

    Returns
    -------
    The densities in ``to_unit``; a Python float for scalar input, otherwise an array.
    """
    factor = _TO_E_PER_A3[normalize_unit(from_unit)] / _TO_E_PER_A3[normalize_unit(to_unit)]
    if np.isscalar(values):
        return float(values) * factor  # type: ignore[arg-type]
    return np.asarray(values, dtype=float) * factor
