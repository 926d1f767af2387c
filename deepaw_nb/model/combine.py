"""``ensemble_of``: several loaded density models -> one model predicting their mean (or median) density."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from deepaw_nb.errors import CheckpointError
from deepaw_nb.model.density_model import DensityModel, ModelInfo
from deepaw_nb.model.ensemble import check_combine
from deepaw_nb.model.free_atoms import FreeAtomDensity


def _same_free_atoms(a: FreeAtomDensity | None, b: FreeAtomDensity | None) -> bool:
    if a is None or b is None:
        return a is b
    da, db = a.to_dict(), b.to_dict()
    if da.keys() != db.keys() or da["tables"].keys() != db["tables"].keys():
        return False
    tables_equal = all(torch.equal(da["tables"][k], db["tables"][k]) for k in da["tables"])
    return tables_equal and torch.equal(da["radii"], db["radii"]) and da["cutoff"] == db["cutoff"]


def ensemble_of(
    models: Sequence[DensityModel],
    name: str | None = None,
    description: str | None = None,
    combine: str = "mean",
) -> DensityModel:
    """One model whose density is the mean (or ``combine="median"``) of ``models``' densities (e/Å³).

    The models must have been trained for the same target: the same free-atom baseline (or
    none), one cutoff, and no ``F_local``.  An ensemble member may itself be an ensemble; its
    networks then join the new one (every network gets the same weight, under this ``combine``).  The result supports
    the elements all members support.

    Raises:
        CheckpointError: fewer than two networks, members that cannot be combined, or an
            unknown ``combine``; the message says which.
    """
    try:
        check_combine(combine)
    except ValueError as exc:
        raise CheckpointError(str(exc)) from None
    networks = [network for model in models for network in model.members]
    if len(networks) < 2:
        raise CheckpointError("ensemble_of needs at least two networks; pass two or more models")
    first = models[0]
    for i, model in enumerate(models):
        label = f"model {i} ({model.info.name})"
        if model.f_local is not None:
            raise CheckpointError(f"{label} has an F_local; an ensemble averages F_nonlocal networks only")
        if model.cutoff != first.cutoff:
            raise CheckpointError(f"{label} has cutoff {model.cutoff} Å, model 0 {first.cutoff} Å; members must share one")
        if not _same_free_atoms(model.free_atoms, first.free_atoms):
            raise CheckpointError(
                f"{label} was trained against other free-atom tables than model 0; "
                "average only models trained for the same target"
            )
        if (model.bond_charge is None) != (first.bond_charge is None) or (
            model.bond_charge is not None and not model.bond_charge.same_as(first.bond_charge)
        ):
            raise CheckpointError(
                f"{label} has another bond-charge baseline than model 0; average only models trained for the same target"
            )
    known = [set(m.info.species) for m in models if m.info.species is not None]
    species = tuple(sorted(set.intersection(*known))) if known else None
    digests = {f"member {i} {role}": digest for i, m in enumerate(models) for role, digest in m.info.sha256.items()}
    info = ModelInfo(
        name=name or "+".join(m.info.name for m in models),
        sha256=digests,
        species=species,
        description=description or f"{combine} of {len(networks)} networks: " + "; ".join(m.info.name for m in models),
    )
    return DensityModel(networks, None, info, first.free_atoms, first.bond_charge, combine=combine)
