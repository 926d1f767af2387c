"""Predicting many structures: locally, or one task per structure on a Dask cluster.

On a cluster a structure with more model evaluations than ``block_size`` is split: one task
per block of probes (each saves its values in a run checkpoint under
``<out_dir>/.blocks/<name>``), then one task that assembles the checkpoint, computes any block
that failed, and writes the outputs.

Each structure's density goes to ``<out_dir>/<name>.CHGCAR`` (and optionally ``<name>.npz``);
``<out_dir>/manifest.json`` records status, timings and errors per structure and is rewritten
atomically after every structure, so a killed run loses nothing finished.  Running again skips
what is done.  A failing structure is recorded as failed and the others go on.
"""

from __future__ import annotations

import json
import re
import shutil
import time
import traceback
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from deepaw_nb.errors import DeepawError, OutputError

MANIFEST = "manifest.json"
FORMATS = ("chgcar", "npz")
_SUFFIX = {"chgcar": ".CHGCAR", "npz": ".npz"}
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._+-]+")
#: Models loaded by a worker process, by checkpoint path (one load per worker).
_WORKER_MODELS: dict[str, Any] = {}


def _name_of(structure: Any, index: int) -> str:
    if isinstance(structure, (str, Path)):
        path, _, selection = str(structure).partition("@")
        base = Path(path).stem + (f"_{selection}" if selection else "")
    else:
        info = getattr(structure, "info", {}) or {}
        formula = structure.get_chemical_formula() if hasattr(structure, "get_chemical_formula") else getattr(structure, "formula", "structure")
        base = str(info.get("name") or f"{formula}_{index}")
    return _SAFE_NAME.sub("_", base).strip("._") or f"structure_{index}"


def named_structures(structures: Iterable[Any] | Mapping[str, Any]) -> list[tuple[str, Any]]:
    """(unique, file-safe name, structure) pairs from a list or a {name: structure} mapping."""
    items = list(structures.items()) if isinstance(structures, Mapping) else [
        (_name_of(s, i), s) for i, s in enumerate(structures)
    ]
    seen: dict[str, int] = {}
    named = []
    for name, structure in items:
        name = _SAFE_NAME.sub("_", str(name)).strip("._") or "structure"
        count = seen.get(name, 0)
        seen[name] = count + 1
        named.append((name if count == 0 else f"{name}_{count + 1}", structure))
    return named


def _outputs(out_dir: Path, name: str, formats: tuple[str, ...]) -> dict[str, Path]:
    return {fmt: out_dir / f"{name}{_SUFFIX[fmt]}" for fmt in formats}


def _worker_model(model: Any) -> Any:
    from deepaw_nb.model import load_model

    if model is None or isinstance(model, (str, Path)):
        key = str(model)
        if key not in _WORKER_MODELS:
            _WORKER_MODELS[key] = load_model(model)
        return _WORKER_MODELS[key]
    return model


def run_block(structure: Any, model: Any, run_dir: str, lo: int, hi: int, options: dict) -> dict:
    """Evaluate probes ``lo..hi`` of one structure into the run checkpoint ``run_dir``.

    Never raises: a failed block is reported and left to the assembling task to compute.
    """
    from deepaw_nb.api import predict

    start = time.perf_counter()
    try:
        predict(structure, model=_worker_model(model), progress=False, checkpoint_dir=run_dir,
                probe_range=(lo, hi), **options)
        status, error = "done", None
    except Exception as exc:  # noqa: BLE001 - the assembling task recomputes a failed block
        status, error = "failed", traceback.format_exception_only(type(exc), exc)[-1].strip()
    return {"range": [lo, hi], "status": status, "error": error, "wall_time": time.perf_counter() - start}


def run_one(name: str, structure: Any, model: Any, out_dir: str, formats: tuple[str, ...], overwrite: bool, options: dict, blocks: list | None = None) -> dict:
    """Predict one structure and write its files; never raises (errors go in the record).

    ``blocks``: records of :func:`run_block` tasks that filled ``options["checkpoint_dir"]``
    (only passed so that a scheduler runs this task after them; kept in the record).
    """
    from deepaw_nb.api import predict
    from deepaw_nb.io.atomic import atomic_write

    start = time.perf_counter()
    record: dict[str, Any] = {
        "name": name,
        "source": str(structure) if isinstance(structure, (str, Path)) else None,
        "skipped": False,
    }
    try:
        result = predict(structure, model=_worker_model(model), progress=False, **options)
        if not result.complete:
            raise DeepawError(f"stopped at {100 * result.filled_fraction:.1f} % of the grid")
        paths = _outputs(Path(out_dir), name, formats)
        if "chgcar" in paths:
            result.to_chgcar(paths["chgcar"], overwrite=overwrite)
        if "npz" in paths:
            with atomic_write(paths["npz"], mode="wb", overwrite=overwrite) as handle:
                np.savez_compressed(
                    handle, density=result.density, numbers=result.atoms.numbers,
                    positions=result.atoms.positions, cell=np.asarray(result.atoms.cell),
                )
        record.update(
            status="done",
            outputs={fmt: p.name for fmt, p in paths.items()},
            grid_shape=list(result.grid_shape),
            electrons=result.electron_count(),
            timings=result.timings,
            model=result.provenance.get("model", {}).get("name"),
        )
        if blocks is not None:
            record["blocks"] = blocks
            record["probes_from_blocks"] = result.provenance.get("resumed_probes")
            shutil.rmtree(options["checkpoint_dir"], ignore_errors=True)  # the outputs now hold it all
    except DeepawError as exc:
        record.update(status="failed", error=str(exc))
    except Exception as exc:  # noqa: BLE001 - one structure must never stop the others
        last = traceback.format_exception_only(type(exc), exc)[-1].strip()
        record.update(status="failed", error=f"unexpected {last}")
    record["wall_time"] = time.perf_counter() - start
    return record


class _Manifest:
    def __init__(self, out_dir: Path) -> None:
        self.path = out_dir / MANIFEST
        self.entries: dict[str, dict] = {}
        if self.path.is_file():
            try:
                self.entries = json.loads(self.path.read_text()).get("structures", {})
            except (json.JSONDecodeError, AttributeError):
                raise OutputError(f"{self.path} is not a deepaw-nb manifest; choose an empty out_dir") from None

    def done(self, name: str, out_dir: Path, formats: tuple[str, ...]) -> bool:
        entry = self.entries.get(name, {})
        return entry.get("status") == "done" and all(p.is_file() for p in _outputs(out_dir, name, formats).values())

    def save(self) -> None:
        from deepaw_nb.io.atomic import atomic_write

        with atomic_write(self.path, mode="w", overwrite=True) as handle:
            json.dump({"format": "deepaw-nb-manifest/1", "structures": self.entries}, handle, indent=1, default=str)


def predict_many(
    structures: Iterable[Any] | Mapping[str, Any],
    out_dir: str | Path,
    model: Any = None,
    client: Any = None,
    formats: tuple[str, ...] = ("chgcar",),
    overwrite: bool = False,
    block_size: int | None = None,
    **options: Any,
) -> dict[str, dict]:
    """Predict every structure and write ``<out_dir>/<name>.CHGCAR`` plus a manifest.

    Args:
        structures: paths / ``ase.Atoms`` / pymatgen structures, or a ``{name: structure}`` dict.
        out_dir: output directory (created if its parent exists).
        model: ``None`` (bundled), a checkpoint path, or a loaded model (local runs only: on a
            cluster pass a path so each worker loads the model once).
        client: a ``dask.distributed.Client`` to run one task per structure on its workers;
            ``None`` runs here, one structure after another, with the model loaded once.
        formats: any of ``"chgcar"``, ``"npz"``.
        overwrite: replace existing outputs; otherwise structures already done are skipped.
        block_size: on a cluster, split a structure with more model evaluations than this
            (see :func:`deepaw_nb.count_evaluations`) into one task per block of probes, so one
            huge cell uses many workers.  ``None``: one task per structure.
        **options: passed to :func:`deepaw_nb.predict` (grid, spacing, batch_size, precision, ...).

    Returns:
        The manifest entries by name: ``status`` is ``done`` or ``failed`` (with ``error``);
        entries finished by an earlier run and skipped now carry ``skipped: True``.
    """
    if block_size is not None and (not isinstance(block_size, int) or block_size < 1):
        raise OutputError(f"block_size must be a positive number of probes, got {block_size!r}")
    if "checkpoint_dir" in options or "probe_range" in options:
        raise OutputError("predict_many manages checkpoint_dir and probe_range itself; use block_size instead")
    bad = [f for f in formats if f not in FORMATS]
    if bad or not formats:
        raise OutputError(f"unknown output format(s) {bad or formats}; choose from {FORMATS}")
    out = Path(out_dir).expanduser()
    if not out.parent.is_dir():
        raise OutputError(f"cannot create {out}: {out.parent} does not exist; create it first")
    out.mkdir(exist_ok=True)
    manifest = _Manifest(out)
    todo = []
    for name, structure in named_structures(structures):
        if not overwrite and manifest.done(name, out, formats):
            manifest.entries[name]["skipped"] = True
            continue
        todo.append((name, structure))
    if client is None:
        local_model = _worker_model(model)
        for name, structure in todo:
            manifest.entries[name] = run_one(name, structure, local_model, str(out), tuple(formats), overwrite, options)
            manifest.save()
    else:
        _run_on_cluster(client, todo, model, out, tuple(formats), overwrite, options, manifest, block_size)
    manifest.save()
    return manifest.entries


def _run_on_cluster(client, todo, model, out, formats, overwrite, options, manifest, block_size) -> None:  # type: ignore[no-untyped-def]
    from distributed import as_completed

    from deepaw_nb.model import DensityModel

    if isinstance(model, DensityModel):
        raise OutputError("on a Dask cluster pass the model as a checkpoint path (or None), so each worker loads it once")
    model_arg = str(model) if model is not None else None
    futures = []
    for name, structure in todo:
        key = f"deepaw-{name}-{time.time_ns()}"
        blocks = _block_ranges(structure, options, block_size)
        if not blocks:
            futures.append(client.submit(run_one, name, structure, model_arg, str(out), formats, overwrite, options,
                                         key=key, pure=False))
            continue
        run_dir = out / ".blocks" / name
        run_dir.parent.mkdir(exist_ok=True)
        if run_dir.exists() and overwrite:
            shutil.rmtree(run_dir)
        block_futures = [
            client.submit(run_block, structure, model_arg, str(run_dir), lo, hi, options, key=f"{key}-block-{lo}", pure=False)
            for lo, hi in blocks
        ]
        futures.append(client.submit(run_one, name, structure, model_arg, str(out), formats, overwrite,
                                     {**options, "checkpoint_dir": str(run_dir)}, block_futures, key=key, pure=False))
    for future in as_completed(futures):
        record = future.result()
        manifest.entries[record["name"]] = record
        manifest.save()


def _block_ranges(structure: Any, options: dict, block_size: int | None) -> list[tuple[int, int]]:
    """Probe blocks of one structure, or [] when it runs as a single task."""
    if block_size is None:
        return []
    from deepaw_nb.api import count_evaluations

    grid_options = {k: options[k] for k in ("grid", "encut", "spacing", "symmetry") if k in options}
    try:
        total = count_evaluations(structure, **grid_options)
    except DeepawError:
        return []  # the single task reports the error in the manifest
    if total <= block_size:
        return []
    return [(lo, min(lo + block_size, total)) for lo in range(0, total, block_size)]
