"""Write a trained ``F_nonlocal`` (plus its free-atom baseline) as a deepaw-nb model file."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from deepaw_nb.io.atomic import atomic_write
from deepaw_nb.model import FNonlocal
from deepaw_nb.model.bond_charge import BondChargeDensity
from deepaw_nb.model.checkpoint import learned_only
from deepaw_nb.model.ensemble import check_combine
from deepaw_nb.model.free_atoms import FreeAtomDensity
from deepaw_nb.model.loading import (
    BUNDLE_FORMAT,
    COMBINED_ENSEMBLE_FORMAT,
    ENSEMBLE_FORMAT,
)


def _plain(value: Any) -> Any:
    """Metadata reduced to what ``torch.load(weights_only=True)`` accepts (str/int/float/...)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, bool):
        return value
    for kind in (str, int, float):  # subclasses (numpy scalars, TorchVersion) become plain types
        if isinstance(value, kind):
            return kind(value)
    if hasattr(value, "item"):
        return value.item()
    return str(value)


def _network_entry(network: FNonlocal) -> dict[str, Any]:
    state = {k: v.detach().cpu().clone() for k, v in learned_only(network.state_dict()).items()}
    return {"config": network.config.to_dict(), "f_nonlocal": state}


def save_bundle(
    path: str | Path,
    model: FNonlocal | Sequence[FNonlocal],
    species: list[int],
    name: str,
    description: str,
    metadata: dict[str, Any] | None = None,
    overwrite: bool = True,
    free_atoms: FreeAtomDensity | None = None,
    bond_charge: BondChargeDensity | None = None,
    combine: str = "mean",
) -> Path:
    """Save ``model`` so that ``deepaw_nb.load_model(path)`` returns it ready to predict.

    The file is written atomically: readers see the old complete file or the new one.

    Args:
        path: output file (``.pt``).
        model: the trained network (its ``config`` is stored alongside the weights), or the
            networks of an ensemble, whose densities ``load_model`` averages (format /3).
        species: atomic numbers the model was trained on; others are refused at prediction.
        name: model name recorded in results.
        description: one line for tables and model cards.
        metadata: training provenance (steps, data, metrics); plain values only.
        overwrite: replace an existing file.
        free_atoms: the free-atom superposition the network's output is added to (a model
            trained on the residual ρ − ρ_atoms); ``None`` for a model of ρ itself.
        bond_charge: the fitted bond-charge term that is part of the baseline, if the network
            was trained on ρ − ρ_atoms − δρ_bond (needs ``free_atoms``).
        combine: how ``load_model`` combines an ensemble's densities, ``"mean"`` (format /3)
            or ``"median"`` (format /4, which older deepaw-nb versions refuse).
    """
    if bond_charge is not None and free_atoms is None:
        raise ValueError("a bond-charge baseline is added to free atoms; pass free_atoms too")
    networks = [model] if isinstance(model, FNonlocal) else list(model)
    if not networks:
        raise ValueError("save_bundle needs a network or a non-empty list of networks")
    entries = [_network_entry(network) for network in networks]
    check_combine(combine)
    if len(entries) == 1:
        layout: dict[str, Any] = {"format": BUNDLE_FORMAT, **entries[0]}
    elif combine == "mean":
        layout = {"format": ENSEMBLE_FORMAT, "members": entries}
    else:
        layout = {"format": COMBINED_ENSEMBLE_FORMAT, "members": entries, "combine": combine}
    bundle = {
        **layout,
        "name": name,
        "species": sorted(int(z) for z in species),
        "f_local": None,
        "free_atoms": free_atoms.to_dict() if free_atoms is not None else None,
        "bond_charge": bond_charge.to_dict() if bond_charge is not None else None,
        "description": description,
        "metadata": _plain(metadata or {}),
    }
    with atomic_write(path, "wb", overwrite=overwrite) as handle:
        torch.save(bundle, handle)
    return Path(path)
