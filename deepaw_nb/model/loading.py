"""``load_model``: DeePAW checkpoints or the bundled default model -> :class:`DensityModel`."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from deepaw_nb.errors import CheckpointError, InputFileError
from deepaw_nb.model.bond_charge import BondChargeDensity
from deepaw_nb.model.checkpoint import (
    as_state_dict,
    build_f_local,
    build_f_nonlocal,
    file_sha256,
    infer_config,
    read_checkpoint,
)
from deepaw_nb.model.config import ModelConfig
from deepaw_nb.model.density_model import DensityModel, ModelInfo
from deepaw_nb.model.ensemble import COMBINE_RULES
from deepaw_nb.model.f_nonlocal import FNonlocal
from deepaw_nb.model.free_atoms import FreeAtomDensity
from deepaw_nb.model.shapes import representation_dim

#: Format tag of deepaw-nb's own single-file models (config + weights + species + card line;
#: version 2 adds optional free-atom density tables for models trained on the residual).
BUNDLE_FORMAT = "deepaw-nb-model/2"
#: Format tag of an ensemble file: ``members``, a list of {config, f_nonlocal} entries, in
#: place of the single ``config`` and ``f_nonlocal`` (single networks are still written as /2,
#: so older deepaw-nb versions keep reading them).
ENSEMBLE_FORMAT = "deepaw-nb-model/3"
#: Format tag of an ensemble whose densities are combined by another rule than the mean: /3
#: plus ``combine`` (``"median"``).  A new tag, so that older versions refuse the file instead
#: of silently averaging it; mean ensembles are still written as /3.
COMBINED_ENSEMBLE_FORMAT = "deepaw-nb-model/4"
#: Formats this version reads (version 1 files have no free-atom tables).
READABLE_FORMATS = ("deepaw-nb-model/1", BUNDLE_FORMAT, ENSEMBLE_FORMAT, COMBINED_ENSEMBLE_FORMAT)
#: Where bundled models live in a source checkout.
BUNDLED_MODEL_DIR = Path(__file__).resolve().parents[2] / "data" / "models"
#: File name (without suffix) of the default bundled model.
DEFAULT_MODEL_NAME = "deepaw-nb-small"


#: Environment variable naming a model file to use instead of the bundled default.
MODEL_ENV = "DEEPAW_NB_MODEL"


def default_model_path() -> Path:
    """Path of the default model: ``$DEEPAW_NB_MODEL`` if set, else the bundled model file."""
    override = os.environ.get(MODEL_ENV, "").strip()
    if override:
        return Path(override).expanduser()
    return BUNDLED_MODEL_DIR / f"{DEFAULT_MODEL_NAME}.pt"


def _is_bundle(obj: Any, path: Path) -> bool:
    if not isinstance(obj, Mapping) or "format" not in obj:
        return False
    tag = str(obj["format"])
    if tag.startswith("deepaw-nb-model/") and tag not in READABLE_FORMATS:
        raise CheckpointError(
            f"{path.name} is a {tag} file, newer than this deepaw-nb reads ({', '.join(READABLE_FORMATS)}); "
            "upgrade deepaw-nb"
        )
    return tag in READABLE_FORMATS


def _networks(bundle: Mapping[str, Any], path: Path, overrides: dict[str, Any]) -> list[FNonlocal]:
    entries = bundle["members"] if bundle["format"] in (ENSEMBLE_FORMAT, COMBINED_ENSEMBLE_FORMAT) else [bundle]
    if not entries:
        raise CheckpointError(f"{path.name} is an ensemble file without members; re-export it")
    networks = []
    for i, entry in enumerate(entries):
        what = path.name if len(entries) == 1 else f"{path.name} member {i}"
        config = ModelConfig(**{**entry["config"], **overrides})
        networks.append(build_f_nonlocal(as_state_dict(entry["f_nonlocal"], what), config))
    return networks


def _from_bundle(bundle: Mapping[str, Any], path: Path, overrides: dict[str, Any]) -> DensityModel:
    try:
        networks = _networks(bundle, path, overrides)
        f_local = None
        if bundle.get("f_local"):
            f_local = build_f_local(as_state_dict(bundle["f_local"], path.name), networks[0].representation_dim)
        species = tuple(int(z) for z in bundle["species"]) if bundle.get("species") else None
        free_atoms = FreeAtomDensity.from_dict(bundle["free_atoms"]) if bundle.get("free_atoms") else None
        bond_charge = BondChargeDensity.from_dict(bundle["bond_charge"]) if bundle.get("bond_charge") else None
        combine = str(bundle["combine"]) if bundle["format"] == COMBINED_ENSEMBLE_FORMAT else "mean"
        if combine not in COMBINE_RULES:
            raise CheckpointError(
                f"{path.name} combines its networks by {combine!r}, which this deepaw-nb does not know "
                f"({', '.join(COMBINE_RULES)}); upgrade deepaw-nb"
            )
    except (KeyError, TypeError) as exc:
        raise CheckpointError(f"{path.name} is an incomplete deepaw-nb model file (missing {exc}); re-export it") from None
    info = ModelInfo(
        name=str(bundle.get("name", path.stem)),
        sha256={"model": file_sha256(path)},
        species=species,
        description=str(bundle.get("description", "")),
    )
    return DensityModel(networks, f_local, info, free_atoms, bond_charge, combine=combine)


def load_model(
    f_nonlocal: str | Path | None = None,
    f_local: str | Path | None = None,
    *,
    name: str | None = None,
    species: list[int] | tuple[int, ...] | None = None,
    **config: Any,
) -> DensityModel:
    """Load a density model, ready for :func:`deepaw_nb.predict`.

    Args:
        f_nonlocal: path of a DeePAW ``F_nonlocal`` state dict, or of a deepaw-nb model file.
            ``None`` loads the default model: the file named by ``$DEEPAW_NB_MODEL`` if set,
            else the bundled model.
        f_local: optional path of the matching DeePAW ``F_local`` (KAN) state dict.
        name: name recorded in results (default: the file stem).
        species: atomic numbers the model supports (default: whatever the file records).
        **config: architecture options (``mul``, ``lmax``, ``cutoff`` in Å, ``num_neighbors``, ...).
            Shapes determine most of them; ``cutoff`` and ``num_neighbors`` default to DeePAW's
            4.0 Å and 20 because a state dict does not contain them.
    """
    if f_nonlocal is None:
        if f_local is not None:
            raise CheckpointError("f_local was given without f_nonlocal; pass both DeePAW checkpoints")
        path = default_model_path()
        if not path.is_file() and os.environ.get(MODEL_ENV, "").strip():
            raise InputFileError(f"${MODEL_ENV} points to {path}, which does not exist; fix or unset it")
        if not path.is_file():
            raise InputFileError(
                f"the bundled default model {path.name} is not available in this installation; "
                "pass your DeePAW checkpoints: load_model('f_nonlocal.pth', 'f_local.pth')"
            )
        f_nonlocal = path
    path = Path(f_nonlocal).expanduser()
    raw = read_checkpoint(path)
    if _is_bundle(raw, path):
        if f_local is not None:
            raise CheckpointError(f"{path.name} already contains its F_local; do not pass f_local")
        model = _from_bundle(raw, path, config)
    else:
        state = as_state_dict(raw, path.name)
        model_config = infer_config(state, **config)
        sha = {"f_nonlocal": file_sha256(path)}
        local = None
        if f_local is not None:
            # F_local is checked first: it is quick, and the e3nn modules of F_nonlocal are not.
            local_path = Path(f_local).expanduser()
            local_state = as_state_dict(read_checkpoint(local_path), local_path.name)
            local = build_f_local(local_state, representation_dim(model_config))
            sha["f_local"] = file_sha256(local_path)
        net = build_f_nonlocal(state, model_config)
        info = ModelInfo(name=name or path.stem, sha256=sha, species=None, description="DeePAW checkpoint")
        model = DensityModel(net, local, info)
    if name or species is not None:
        info = model.info
        model.info = ModelInfo(
            name=name or info.name,
            sha256=info.sha256,
            species=tuple(int(z) for z in species) if species is not None else info.species,
            description=info.description,
        )
    return model
