"""Run checkpoints: finished batches saved to disk so a killed run resumes where it stopped.

A run checkpoint is a directory holding ``run.json`` (what is being computed: structure, grid,
model, precision, kernel, symmetry plan — as a fingerprint) and one ``.npy`` file per finished
batch, each written atomically.  Resuming loads every saved batch and computes only the gaps,
so several processes (e.g. Dask tasks for blocks of one huge grid) can fill one checkpoint and
a final run assembles it.  A directory that belongs to a different run is refused rather than
mixed in.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import numpy as np

from deepaw_nb.errors import OutputError
from deepaw_nb.io.atomic import atomic_write

_BATCH_FILE = re.compile(r"^values_(\d{12})_(\d{12})\.npy$")
RUN_FILE = "run.json"


def fingerprint(**parts: Any) -> str:
    """SHA-256 of the JSON form of everything that determines a run's values."""
    def plain(value: Any) -> Any:
        if isinstance(value, np.ndarray):
            return hashlib.sha256(np.ascontiguousarray(value).tobytes()).hexdigest() + str(value.shape)
        if isinstance(value, dict):
            return {k: plain(v) for k, v in sorted(value.items())}
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        return value

    return hashlib.sha256(json.dumps(plain(parts), sort_keys=True, default=str).encode()).hexdigest()


class RunCheckpoint:
    """Persistence of finished batches for one run.

    Args:
        directory: where batches are kept (created if its parent exists).
        key: the run's :func:`fingerprint`.
        total: number of probes of the run.
    """

    def __init__(self, directory: str | Path, key: str, total: int) -> None:
        self.directory = Path(directory).expanduser()
        self.key = key
        self.total = int(total)
        if not self.directory.parent.is_dir():
            raise OutputError(f"cannot create {self.directory}: {self.directory.parent} does not exist; create it first")
        self.directory.mkdir(exist_ok=True)
        run_file = self.directory / RUN_FILE
        if not run_file.is_file():
            strangers = [p.name for p in self.directory.iterdir() if not _ours(p.name)]
            if strangers:
                raise OutputError(f"{self.directory} is not empty and is not a deepaw-nb run checkpoint; use an empty directory")
            # Several workers may start the same run at once: each writes the same content
            # atomically, and the check below sees one complete file.
            with atomic_write(run_file, mode="w", overwrite=True) as handle:
                json.dump({"format": "deepaw-nb-run/1", "key": key, "total": self.total}, handle)
        try:
            stored = json.loads(run_file.read_text())
        except json.JSONDecodeError:
            stored = {}
        if stored.get("key") != key or stored.get("total") != self.total:
            raise OutputError(
                f"{self.directory} holds the checkpoint of a different run; use a new checkpoint_dir for this one"
            )

    def _batches(self) -> list[tuple[int, int, Path]]:
        found = []
        for path in self.directory.iterdir():
            match = _BATCH_FILE.match(path.name)
            if match:
                found.append((int(match.group(1)), int(match.group(2)), path))
        return sorted(found)

    def load_into(self, values: np.ndarray) -> np.ndarray:
        """Copy every readable saved batch into ``values``; return the (total,) mask of restored probes."""
        restored = np.zeros(self.total, dtype=bool)
        for start, stop, path in self._batches():
            if stop > self.total or start >= stop:
                continue
            try:
                batch = np.load(path, allow_pickle=False)
            except (OSError, ValueError):
                continue  # unreadable: those probes are computed again
            if batch.shape != (stop - start,):
                continue
            values[start:stop] = batch
            restored[start:stop] = True
        return restored

    def save_batch(self, start: int, stop: int, values: np.ndarray) -> None:
        """Save one finished batch (atomic)."""
        path = self.directory / f"values_{start:012d}_{stop:012d}.npy"
        with atomic_write(path, mode="wb", overwrite=True) as handle:
            np.save(handle, np.asarray(values, dtype=np.float32), allow_pickle=False)


def _ours(name: str) -> bool:
    """Files a run checkpoint itself creates (run file, batches, atomic-write temporaries)."""
    return name == RUN_FILE or bool(_BATCH_FILE.match(name)) or name.startswith(".")


def missing_ranges(restored: np.ndarray, lo: int = 0, hi: int | None = None) -> list[tuple[int, int]]:
    """Contiguous ``(start, stop)`` ranges of ``lo..hi`` not marked in ``restored``."""
    hi = len(restored) if hi is None else hi
    gaps = ~restored[lo:hi]
    if not gaps.any():
        return []
    edges = np.flatnonzero(np.diff(np.concatenate(([0], gaps.view(np.int8), [0]))))
    return [(lo + int(a), lo + int(b)) for a, b in zip(edges[::2], edges[1::2])]
