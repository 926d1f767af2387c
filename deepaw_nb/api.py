"""The public entry points: ``predict`` (a density grid) and ``predict_points`` (any points)."""

from __future__ import annotations

import platform
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from deepaw_nb.engine.predictor import Predictor
from deepaw_nb.engine.progress import CancelSignal, ProgressCallback
from deepaw_nb.engine.resume import RunCheckpoint, fingerprint
from deepaw_nb.engine.sources import (
    grid_subset_source,
    points_source,
    whole_grid_source,
)
from deepaw_nb.engine.timing import StageTimer
from deepaw_nb.errors import DeepawError, StructureError
from deepaw_nb.grid import check_grid_memory, resolve_grid_shape
from deepaw_nb.model import DensityModel, load_model
from deepaw_nb.result import DensityResult
from deepaw_nb.symmetry import grid_symmetry, no_reduction

#: Predictors kept alive between calls so a model is loaded and moved to a device once.
_PREDICTORS: OrderedDict[tuple, Predictor] = OrderedDict()
_MAX_PREDICTORS = 2
_DEFAULT_MODEL: list[DensityModel] = []


def _resolve_model(model: DensityModel | str | Path | None, timer: StageTimer) -> DensityModel:
    if isinstance(model, DensityModel):
        return model
    with timer.stage("model load"):
        if model is None:
            if not _DEFAULT_MODEL:
                _DEFAULT_MODEL.append(load_model())
            return _DEFAULT_MODEL[0]
        if isinstance(model, (str, Path)):
            return load_model(model)
    raise DeepawError(f"model={type(model).__name__} is not a model; pass load_model(...) or a checkpoint path")


def get_predictor(
    model: DensityModel, device: str = "auto", precision: str = "fp32", compile: bool = False, kernel: str = "fast"
) -> Predictor:
    """A cached :class:`Predictor` for this model, device, precision, compile and kernel setting."""
    key = (id(model), str(device), str(precision).lower(), bool(compile), str(kernel).strip().lower())
    predictor = _PREDICTORS.get(key)
    if predictor is None or predictor.model is not model:
        predictor = Predictor(model, device=device, precision=precision, compile=compile, kernel=kernel)
        _PREDICTORS[key] = predictor
        while len(_PREDICTORS) > _MAX_PREDICTORS:
            _PREDICTORS.popitem(last=False)
    _PREDICTORS.move_to_end(key)
    return predictor


def _prepare_structure(structure: Any, model: DensityModel, timer: StageTimer):  # type: ignore[no-untyped-def]
    from deepaw_nb.structure import as_atoms, validate_structure

    with timer.stage("structure preparation"):
        atoms = as_atoms(structure)
        validate_structure(atoms)
        model.check_species(list(atoms.numbers))
        atoms.wrap()
    return atoms


def _versions() -> dict[str, str]:
    import ase
    import e3nn

    from deepaw_nb import __version__

    return {
        "deepaw_nb": __version__,
        "torch": torch.__version__,
        "e3nn": e3nn.__version__,
        "ase": ase.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
    }


def _provenance(model: DensityModel, predictor: Predictor, stream: Any, batch_size: int | str) -> dict[str, Any]:
    return {
        "model": {
            "name": model.info.name,
            "sha256": dict(model.info.sha256),
            "config": model.config.to_dict(),
            "members": [config.to_dict() for config in model.configs],
            "combine": model.combine if model.is_ensemble else None,
            "f_local": model.f_local is not None,
            "free_atoms": model.free_atoms is not None,
            "free_atoms_source": model.free_atoms.source if model.free_atoms is not None else None,
            "bond_charge": model.bond_charge is not None,
        },
        **predictor.describe(),
        "batch_size": batch_size,
        "batch_sizes_used": sorted(set(stream.batch_sizes)),
        "bytes_per_probe": stream.bytes_per_probe,
        "versions": _versions(),
    }


def predict(
    structure: Any,
    model: DensityModel | str | Path | None = None,
    grid: tuple[int, int, int] | None = None,
    encut: float | None = None,
    spacing: float | None = None,
    batch_size: int | str = "auto",
    precision: str = "fp32",
    device: str = "auto",
    compile: bool = False,
    progress: bool | ProgressCallback | None = True,
    cancel: CancelSignal = None,
    kernel: str = "fast",
    symmetry: bool = True,
    checkpoint_dir: str | Path | None = None,
    probe_range: tuple[int, int] | None = None,
) -> DensityResult:
    """Predict the electron density (e/Å³) on a grid of a periodic structure.

    Args:
        structure: a file path (CIF, POSCAR, extended XYZ, CHGCAR, ASE db ``file.db@id``), an
            ``ase.Atoms`` or a pymatgen ``Structure``.
        model: a loaded model, a checkpoint path, or ``None`` for the bundled default model.
        grid / encut / spacing: the grid as ``(nx, ny, nz)``, from VASP's ENCUT rule (eV), or
            from a spacing in Å (at most one; default: the grid module's default spacing).
        batch_size: probes per batch, or ``"auto"`` for the largest that fits memory.
        precision: ``"fp32"``, ``"tf32"``, ``"bf16"`` or ``"fp16"``.
        device: ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
        compile: ``torch.compile`` the probe model (falls back to eager with a warning).
        progress: tqdm bar (True), nothing (False) or ``callback(done, total, elapsed_s)``.
        cancel: ``threading.Event`` or callable; when set, the run stops after the current batch
            and the result holds the finished part (``result.filled_fraction``).
        kernel: ``"fast"`` (exact fast probe model, default) or ``"e3nn"`` (the e3nn modules).
        symmetry: evaluate only symmetry-irreducible grid points and copy the rest (exact; used
            when the space-group operations map the grid onto itself, else every point is
            evaluated — ``result.provenance["symmetry"]`` says which and why).
        checkpoint_dir: save finished batches there; a run killed midway and started again with
            the same arguments resumes instead of starting over.
        probe_range: ``(lo, hi)``: evaluate only model evaluations ``lo..hi-1`` of this run (of
            :func:`count_evaluations` in all) and save them in ``checkpoint_dir``, which it
            requires.  Splits one huge grid across processes or Dask workers; a last call
            without ``probe_range`` assembles the full result from the checkpoint.
    """
    if probe_range is not None and checkpoint_dir is None:
        raise DeepawError("probe_range needs checkpoint_dir (the block is saved there for the assembling run)")
    start = time.perf_counter()
    timer = StageTimer()
    density_model = _resolve_model(model, timer)
    atoms = _prepare_structure(structure, density_model, timer)
    with timer.stage("structure preparation"):
        shape, plan = _grid_plan(atoms, grid, encut, spacing, symmetry)
    predictor = get_predictor(density_model, device, precision, compile, kernel)
    timer = _rebind_timer(timer, predictor)
    context = predictor.atom_context(atoms, timer)
    cell = np.asarray(atoms.cell)
    if plan.used:
        source = grid_subset_source(atoms.positions, cell, shape, plan.representatives, density_model.cutoff)
    else:
        source = whole_grid_source(atoms.positions, cell, shape, density_model.cutoff)
    resume = None
    if checkpoint_dir is not None:
        key = fingerprint(
            numbers=atoms.numbers, positions=atoms.positions, cell=cell, shape=shape, model=density_model.info.sha256,
            config=density_model.config.to_dict(), settings=predictor.describe(), symmetry=plan.used,
        )
        resume = RunCheckpoint(checkpoint_dir, key, plan.num_evaluations)
    stream = predictor.stream(
        context, source, plan.num_evaluations, timer, batch_size, progress, cancel, resume=resume,
        probe_range=probe_range,
    )
    with timer.stage("assembly"):
        density = plan.expand(stream.density, shape) if plan.used else stream.density.reshape(shape)
        filled = int(np.isfinite(density).sum())
    provenance = _provenance(density_model, predictor, stream, batch_size)
    provenance.update(
        {
            "grid_shape": shape,
            "interrupted": stream.interrupted,
            "symmetry": plan.describe(),
            "out_of_memory_retries": stream.out_of_memory_retries,
            "events": stream.events,
            "resumed_probes": stream.resumed,
        }
    )
    return DensityResult(
        density=density,
        atoms=atoms,
        timings=timer.as_dict(),
        provenance=provenance,
        filled_probes=filled,
        wall_time=time.perf_counter() - start,
        overlapped_stages=tuple(sorted(timer.overlapped)),
    )


def _grid_plan(atoms: Any, grid: Any, encut: float | None, spacing: float | None, symmetry: bool):  # type: ignore[no-untyped-def]
    """Grid shape and symmetry plan of a run (validated, memory-checked)."""
    shape = resolve_grid_shape(np.asarray(atoms.cell), grid=grid, encut=encut, spacing=spacing)
    check_grid_memory(shape, cell=np.asarray(atoms.cell))
    plan = grid_symmetry(atoms, shape) if symmetry else no_reduction(shape, "turned off (symmetry=False)")
    return shape, plan


def count_evaluations(
    structure: Any,
    grid: tuple[int, int, int] | None = None,
    encut: float | None = None,
    spacing: float | None = None,
    symmetry: bool = True,
) -> int:
    """How many model evaluations :func:`predict` makes with these arguments (no model needed).

    That is the number of grid points, or of symmetry-irreducible ones when the reduction
    applies; ``probe_range`` blocks are ranges of ``0..count_evaluations(...)``.
    """
    from deepaw_nb.structure import as_atoms, validate_structure

    atoms = as_atoms(structure)
    validate_structure(atoms)
    atoms.wrap()
    return _grid_plan(atoms, grid, encut, spacing, symmetry)[1].num_evaluations


def _rebind_timer(timer: StageTimer, predictor: Predictor) -> StageTimer:
    """Carry the times so far into a timer that synchronises the predictor's device."""
    bound = StageTimer(predictor.device)
    for name, seconds in timer.as_dict().items():
        bound.add(name, seconds)
    return bound


def predict_points(
    structure: Any,
    points: np.ndarray,
    model: DensityModel | str | Path | None = None,
    return_representation: bool = False,
    batch_size: int | str = "auto",
    precision: str = "fp32",
    device: str = "auto",
    compile: bool = False,
    progress: bool | ProgressCallback | None = False,
    cancel: CancelSignal = None,
    kernel: str = "fast",
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Density (e/Å³) at arbitrary Cartesian points (N, 3) in Å; shape (N,).

    With ``return_representation=True`` also returns the probe representation (N, D) that
    ``F_local`` reads.  Other options are those of :func:`predict`.
    """
    timer = StageTimer()
    density_model = _resolve_model(model, timer)
    atoms = _prepare_structure(structure, density_model, timer)
    pts = np.asarray(points, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 3 or not np.isfinite(pts).all():
        raise StructureError(f"points must be a finite (N, 3) array of Cartesian Å, got shape {pts.shape}")
    predictor = get_predictor(density_model, device, precision, compile, kernel)
    timer = _rebind_timer(timer, predictor)
    context = predictor.atom_context(atoms, timer)
    edge_source = points_source(atoms.positions, np.asarray(atoms.cell), pts, density_model.cutoff)
    stream = predictor.stream(
        context, edge_source, len(pts), timer, batch_size, progress, cancel, want_representation=return_representation
    )
    if return_representation:
        return stream.density, stream.representation
    return stream.density
