"""Reading DeePAW checkpoints safely and fitting them to our modules.

Checkpoints are always read with ``torch.load(..., weights_only=True)`` (no pickled code is
ever executed) onto the CPU (the published ``F_local`` was saved from a GPU).  Derived buffers
(e3nn's Clebsch-Gordan tables ``*._w3j_*`` and ``*.output_mask``) are ignored; every learned
tensor must be present with the right shape, and the error names the keys that are not.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import pickle
import re
import types
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import e3nn
import e3nn.math._normalize_activation as _moments
import torch

from deepaw_nb.errors import CheckpointError, InputFileError
from deepaw_nb.model.config import ModelConfig
from deepaw_nb.model.f_nonlocal import FNonlocal
from deepaw_nb.model.kan import FLocal
from deepaw_nb.model.shapes import learned_shapes, mismatches

_DERIVED = re.compile(r"(\._w3j_|output_mask$)")
_WRAPPER_KEYS = ("state_dict", "model_state_dict", "model")
_PREFIXES = ("module.", "_orig_mod.")
_MAX_LISTED = 4


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file (provenance of loaded weights)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_checkpoint(path: str | Path) -> Any:
    """Load a checkpoint file safely (weights only, onto the CPU).

    Raises:
        InputFileError: the file is missing or not a file.
        CheckpointError: it is not a torch file, or it contains Python objects / code.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise InputFileError(f"checkpoint {path} not found; pass the path of an existing .pth/.pt file")
    try:
        with warnings.catch_warnings():
            # torch warns about the pickle protocol byte of non-torch files before failing;
            # the CheckpointError below says what is wrong in one line instead.
            warnings.filterwarnings("ignore", message="Detected pickle protocol", category=UserWarning)
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        reason = str(exc).strip().splitlines()[0][:120] if str(exc).strip() else "unsafe content"
        raise CheckpointError(
            f"{path.name} holds Python objects, not plain tensors ({reason}); refused for safety — "
            "re-save it with torch.save(model.state_dict(), path)"
        ) from None
    except Exception as exc:  # noqa: BLE001 — arbitrary bytes make the unpickler raise anything (IndexError, KeyError, ...)
        first = str(exc).strip().splitlines()[0][:120] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(
            f"{path.name} is not a readable torch checkpoint ({first}); check the file is complete"
        ) from None


def as_state_dict(obj: Any, what: str) -> dict[str, torch.Tensor]:
    """The tensor mapping inside a loaded checkpoint (unwrapping training wrappers/prefixes)."""
    if isinstance(obj, Mapping):
        for key in _WRAPPER_KEYS:
            if isinstance(obj.get(key), Mapping):
                obj = obj[key]
                break
    if not isinstance(obj, Mapping) or not obj:
        raise CheckpointError(f"{what} is not a state dict; save it with torch.save(model.state_dict(), path)")
    state = {}
    for key, value in obj.items():
        if not isinstance(key, str) or not isinstance(value, torch.Tensor):
            raise CheckpointError(
                f"{what} has a non-tensor entry {key!r}; save only model.state_dict()"
            )
        for prefix in _PREFIXES:
            if key.startswith(prefix):
                key = key[len(prefix) :]
        state[key] = value
    return state


def learned_only(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Drop derived buffers that any e3nn build recomputes itself."""
    return {k: v for k, v in state.items() if not _DERIVED.search(k)}


def _count_layers(state: Mapping[str, torch.Tensor]) -> int:
    pattern = re.compile(r"^atom_model\.interaction_block\.convolutions\.(\d+)\.sc\.weight$")
    return len({int(m.group(1)) for k in state if (m := pattern.match(k))})


def _mul_candidates(scalar_copies: int, lmax: int) -> list[int]:
    """Total multiplicities whose l = 0 blocks have ``scalar_copies`` channels, best guess first."""
    centre = scalar_copies * (lmax + 1)
    lo, hi = math.floor((scalar_copies - 0.5) * (lmax + 1)), math.ceil((scalar_copies + 0.5) * (lmax + 1))
    others = [m for m in range(max(lo, 1), hi + 1) if m != centre]
    return [centre] + sorted(others, key=lambda m: abs(m - centre))


def _muls_from_first_probe_layer(numel: int, lmax: int, limit: int = 5000) -> list[int]:
    """Total multiplicities consistent with the first probe layer's self connection.

    That layer maps the probe's single 0e input onto its scalars plus one gate per gated
    block (one reachable parity per l), so its weight count is sum_l round(mul/(lmax+1)/(2l+1)).
    This second estimate keeps inference working when the read-out is the damaged tensor.
    """
    def count(mul: int) -> int:
        return sum(round(mul / (lmax + 1) / (2 * l + 1)) for l in range(lmax + 1))

    seen: set[tuple[int, ...]] = set()
    found = []
    for mul in range(1, limit):
        signature = tuple(round(mul / (lmax + 1) / (2 * l + 1)) for l in range(lmax + 1))
        if count(mul) == numel and signature not in seen:
            seen.add(signature)
            found.append(mul)
    return found


def infer_config(state: Mapping[str, torch.Tensor], **explicit: Any) -> ModelConfig:
    """Configuration of an ``F_nonlocal`` state dict, from its tensor shapes.

    ``mul``, ``lmax``, ``num_interactions``, ``num_basis``, ``radial_hidden`` and
    ``num_species`` follow from the shapes; ``cutoff`` (Å) and ``num_neighbors`` do not appear in
    a state dict and default to DeePAW's 4.0 and 20 unless given.  Explicit values are checked.
    """
    unknown = set(explicit) - set(ModelConfig.__dataclass_fields__)
    if unknown:
        raise CheckpointError(
            f"unknown model option(s) {sorted(unknown)}; use {sorted(ModelConfig.__dataclass_fields__)}"
        )
    learned = learned_only(state)
    try:
        fc0 = learned["atom_model.interaction_block.convolutions.0.fc.layer0.weight"]
        lin1 = learned["atom_model.interaction_block.convolutions.0.lin1.weight"]
        readout = learned["probe_model.readout.weight"]
        probe_sc = learned["probe_model.interaction_block.convolutions.0.sc.weight"]
    except KeyError as exc:
        raise CheckpointError(
            f"this is not a DeePAW F_nonlocal state dict (no {exc.args[0]}); pass the F_nonlocal checkpoint"
        ) from None
    base = {
        "num_interactions": _count_layers(learned),
        "num_basis": fc0.shape[0],
        "radial_hidden": fc0.shape[1],
        "num_species": round(math.sqrt(lin1.numel())),
    }
    base.update({k: v for k, v in explicit.items() if k not in ("mul", "lmax")})
    lmax_options = [explicit["lmax"]] if "lmax" in explicit else list(range(0, 9))
    state_shapes = {k: tuple(v.shape) for k, v in learned.items()}
    best: tuple[ModelConfig, list[str]] | None = None
    for lmax in lmax_options:
        if "mul" in explicit:
            muls = [explicit["mul"]]
        else:
            muls = _mul_candidates(readout.numel(), lmax)
            muls += [m for m in _muls_from_first_probe_layer(probe_sc.numel(), lmax) if m not in muls]
        for mul in muls:
            config = ModelConfig(mul=mul, lmax=lmax, **base)
            problems = mismatches(state_shapes, learned_shapes(config))
            if not problems:
                return config
            if best is None or len(problems) < len(best[1]):
                best = (config, problems)
    assert best is not None
    config, problems = best
    listed = "; ".join(problems[:_MAX_LISTED]) + (f"; and {len(problems) - _MAX_LISTED} more" if len(problems) > _MAX_LISTED else "")
    raise CheckpointError(
        f"checkpoint does not fit any F_nonlocal architecture (closest mul={config.mul}, lmax={config.lmax}: "
        f"{listed}); check the file is an F_nonlocal state dict and the explicit options you passed"
    )


@contextlib.contextmanager
def quick_e3nn_construction() -> Iterator[None]:
    """Build e3nn modules without opt_einsum's contraction-path search, and with e3nn's
    activation moments computed once per function (both restored afterwards).

    e3nn's code generation spends most of a network's construction searching einsum paths.
    Measured on the 2-core CPU (mul 64, lmax 2): loading one network 6.2 s -> 1.6 s, while the
    e3nn kernel ran as fast as before with densities equal to 5e-7 e/Å³; the fast kernel does
    not use these einsums at all.  Every activation e3nn normalises draws 10^6 seeded normal
    numbers to estimate its second moment (``e3nn.math._normalize_activation.moment``): ~30 %
    of loading the 4-network bundled model.  The estimate is a pure function of the activation
    (fixed seed), so :func:`_cached_moment` returns the identical number from a cache.
    """
    before = e3nn.get_optimization_defaults()
    e3nn.set_optimization_defaults(optimize_einsums=False)
    original = _moments.moment
    _moments.moment = _cached_moment
    try:
        yield
    finally:
        _moments.moment = original
        e3nn.set_optimization_defaults(**before)


#: e3nn's activation moments by (function, order, dtype, device); plain functions only.
_MOMENT_CACHE: dict[tuple, torch.Tensor] = {}
_ORIGINAL_MOMENT = _moments.moment


def _cached_moment(f, n, dtype=None, device=None):  # type: ignore[no-untyped-def]
    """``e3nn.math._normalize_activation.moment``, memoised for plain (stateless) functions."""
    if not isinstance(f, (types.FunctionType, types.BuiltinFunctionType)):
        return _ORIGINAL_MOMENT(f, n, dtype=dtype, device=device)
    key = (f, n, dtype, str(device))
    if key not in _MOMENT_CACHE:
        _MOMENT_CACHE[key] = _ORIGINAL_MOMENT(f, n, dtype=dtype, device=device)
    return _MOMENT_CACHE[key].clone()


def build_f_nonlocal(state: Mapping[str, torch.Tensor], config: ModelConfig) -> FNonlocal:
    """An ``FNonlocal`` with every learned tensor of ``state`` loaded (derived buffers rebuilt)."""
    with quick_e3nn_construction():
        model = FNonlocal(config)
    learned = learned_only(state)
    own = learned_only(model.state_dict())
    problems = mismatches({k: tuple(v.shape) for k, v in learned.items()}, {k: tuple(v.shape) for k, v in own.items()})
    if problems:
        raise CheckpointError(f"checkpoint does not fit {config}: {'; '.join(problems[:_MAX_LISTED])}")
    model.load_state_dict(learned, strict=False)
    return model.eval()


def build_f_local(state: Mapping[str, torch.Tensor], representation_dim: int) -> FLocal:
    """An ``FLocal`` from a DeePAW ``F_local`` state dict (pykan ``MultKAN`` inside).

    Symbolic KAN branches cannot be evaluated from a state dict (their formulas are not stored);
    they must be switched off (all ``symbolic_fun.*.mask`` zero), as in the published weights.
    """
    try:
        args = FLocal.shape_from_state_dict(state)
    except KeyError:
        raise CheckpointError(
            "this is not a DeePAW F_local state dict (no mlp.weight / kan.act_fun.0.coef); pass the F_local checkpoint"
        ) from None
    if args["input_dim"] != representation_dim:
        raise CheckpointError(
            f"F_local expects {args['input_dim']}-long probe representations but F_nonlocal makes "
            f"{representation_dim}; use the F_local trained with this F_nonlocal"
        )
    active = [k for k, v in state.items() if "symbolic_fun" in k and k.endswith(".mask") and bool(v.any())]
    if active:
        raise CheckpointError(
            f"F_local uses symbolic KAN branches ({active[0]} is non-zero), which a state dict cannot "
            "describe; re-save the KAN with its symbolic masks zeroed"
        )
    model = FLocal(**args)
    spline_state = {k: v for k, v in state.items() if "symbolic_fun" not in k}
    problems = mismatches(
        {k: tuple(v.shape) for k, v in spline_state.items()},
        {k: tuple(v.shape) for k, v in model.state_dict().items()},
    )
    if problems:
        raise CheckpointError(f"F_local checkpoint does not fit: {'; '.join(problems[:_MAX_LISTED])}")
    model.load_state_dict(spline_state)
    return model.eval()
