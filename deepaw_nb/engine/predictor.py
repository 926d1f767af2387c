"""The predictor: a model kept resident on a device, streaming probe batches through it."""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from ase import Atoms

from deepaw_nb.engine.batching import BatchSizer
from deepaw_nb.engine.device import effective_precision, precision_context, resolve_device, resolve_precision
from deepaw_nb.engine.memory import default_budget_bytes, free_memory_bytes
from deepaw_nb.engine.progress import CancelSignal, ProgressCallback
from deepaw_nb.engine.resume import RunCheckpoint, missing_ranges
from deepaw_nb.engine.stream import EdgeSource, StreamOutput, is_out_of_memory, run_stream
from deepaw_nb.engine.timing import StageTimer
from deepaw_nb.errors import DeepawError
from deepaw_nb.graph import Edges, atom_edges
from deepaw_nb.kernels import build_probe_kernel, describe_kernel, prepare_atoms, resolve_kernel
from deepaw_nb.model import AtomContext, DensityModel


@dataclass
class StructureContext:
    """A structure's once-computed state on the device.

    Attributes:
        kernel_input: what the probe kernel reads (an :class:`AtomContext`, or the fast kernel's
            per-structure tables; one of these per member for an ensemble).
        atomic_numbers: (N,) atomic numbers on the device, for the free-atom term.
        atom_scalars: (N, C) per-atom bond-charge scalars, or None for a model without them.
    """

    kernel_input: AtomContext | Any
    atomic_numbers: torch.Tensor
    atom_scalars: torch.Tensor | None = None


class Predictor:
    """Runs a :class:`DensityModel` on one device at one precision, model kept resident.

    Args:
        model: the loaded model (moved to ``device``; keep using this predictor for many
            structures to avoid moving it again).
        device: ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
        precision: ``"fp32"``, ``"tf32"`` (CUDA matmuls), ``"bf16"`` or ``"fp16"`` (autocast of the
            probe model; the once-per-structure atom model always runs in fp32).
        compile: ``torch.compile`` the probe model; on failure it warns and runs eagerly.
        memory_budget: bytes one batch may use (default: a share of free memory).
        kernel: ``"fast"`` (exact reformulation, :mod:`deepaw_nb.kernels`) or ``"e3nn"`` (the
            e3nn modules themselves) for the probe model.
    """

    def __init__(
        self,
        model: DensityModel,
        device: str | torch.device = "auto",
        precision: str = "fp32",
        compile: bool = False,
        memory_budget: int | None = None,
        kernel: str = "fast",
    ) -> None:
        self.device = resolve_device(device)
        self.precision = resolve_precision(precision, self.device)
        start = time.perf_counter()
        self.model = model.to(self.device).eval()
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        self.load_seconds = time.perf_counter() - start
        self.memory_budget = memory_budget
        self.compile_requested = bool(compile)
        self.compile_error: str | None = None
        self.kernel = resolve_kernel(kernel)
        self._probe_eager = build_probe_kernel(self.model.probe_model, self.kernel)
        self._probe_model = self._probe_eager
        if compile and self.kernel == "fast":
            # Its tile loops depend on the data, so it runs eagerly even under torch.compile.
            self.compile_error = "not applied: the fast kernel runs eagerly; use kernel='e3nn' to compile"
        elif compile:
            self._probe_model = self._compiled(self._probe_model)

    def _compiled(self, module: torch.nn.Module) -> Callable:
        try:
            return torch.compile(module, dynamic=True)
        except Exception as exc:  # noqa: BLE001 - any compiler failure means: run eagerly
            self._compile_failed(exc)
            return module

    def _compile_failed(self, exc: BaseException) -> None:
        self.compile_error = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"
        warnings.warn(f"torch.compile failed ({self.compile_error}); running the probe model eagerly", stacklevel=3)
        self._probe_model = self._probe_eager

    @property
    def compiled(self) -> bool:
        return self.compile_requested and self.compile_error is None

    # ---- per structure ---------------------------------------------------------------------
    def atom_context(self, atoms: Atoms, timer: StageTimer) -> StructureContext:
        """Atom graph and atom model (fp32), once per structure, on the device.

        The returned context holds what the probe kernel reads: the :class:`AtomContext`, or
        for ``kernel="fast"`` its per-structure tables (``kernel.prepare(context)``).
        """
        with timer.stage("atom graph"):
            edges = atom_edges(atoms.positions, np.asarray(atoms.cell), self.model.cutoff)
        with timer.stage("atom model"), torch.no_grad():
            numbers = torch.as_tensor(atoms.numbers, dtype=torch.long, device=self.device)
            src, dst, vec = self._to_device(edges)
            kernel_input = prepare_atoms(self._probe_eager, self.model.atom_context(numbers, src, dst, vec))
            return StructureContext(kernel_input, numbers, self.model.atom_scalars(numbers, src, dst, vec))

    def _to_device(self, edges: Edges) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        tensors = (
            torch.from_numpy(np.ascontiguousarray(edges.sender)),
            torch.from_numpy(np.ascontiguousarray(edges.receiver)),
            torch.from_numpy(edges.vectors.astype(np.float32)),
        )
        if self.device.type != "cuda":
            return tensors
        return tuple(t.pin_memory().to(self.device, non_blocking=True) for t in tensors)  # type: ignore[return-value]

    # ---- batches ---------------------------------------------------------------------------
    def _evaluate(
        self, context: StructureContext, edges: Edges, count: int, timer: StageTimer, want_representation: bool
    ) -> tuple[np.ndarray, np.ndarray | None]:
        with timer.stage("host→device"):
            src, dst, vec = self._to_device(edges)
        with torch.no_grad(), precision_context(self.precision, self.device):
            with timer.stage("probe model"):
                density, representation = self._run_probe_model(context.kernel_input, src, dst, vec, count)
            with timer.stage("F_local"):
                if self.model.f_local is not None:
                    density = density.float() + self.model.f_local(representation).float()
        with torch.no_grad(), timer.stage("free atoms"):  # fp32 always: it is most of ρ near nuclei
            free = self.model.baseline_density(context.atomic_numbers, context.atom_scalars, src, dst, vec, count)
            if free is not None:
                density = density.float() + free
        with timer.stage("device→host"):
            values = density.float().cpu().numpy()
            rep = representation.float().cpu().numpy() if want_representation else None
        return values, rep

    def _run_probe_model(self, context, src, dst, vec, count):  # type: ignore[no-untyped-def]
        try:
            return self._probe_model(context, src, dst, vec, count)
        except Exception as exc:  # noqa: BLE001
            if self._probe_model is self._probe_eager or is_out_of_memory(exc):
                raise
            self._compile_failed(exc)
            return self._probe_model(context, src, dst, vec, count)

    def stream(
        self,
        context: StructureContext,
        edge_source: EdgeSource,
        total: int,
        timer: StageTimer,
        batch_size: int | str = "auto",
        progress: bool | ProgressCallback | None = True,
        cancel: CancelSignal = None,
        want_representation: bool = False,
        resume: RunCheckpoint | None = None,
        probe_range: tuple[int, int] | None = None,
    ) -> StreamOutput:
        """Evaluate probes 0..total-1 in batches (see :func:`deepaw_nb.engine.stream.run_stream`).

        With ``resume``, batches already saved in that run checkpoint are loaded instead of
        computed, and every new batch is saved as soon as it is finished.  ``probe_range``
        ``(lo, hi)`` evaluates only those probes (one block of a run split across workers);
        the others stay NaN unless restored from ``resume``.
        """
        budget = self.memory_budget or default_budget_bytes(self.device)
        lo, hi = (0, total) if probe_range is None else probe_range
        if not 0 <= lo <= hi <= total:
            raise DeepawError(f"probe_range {probe_range} is outside 0..{total}; pass (lo, hi) with 0 ≤ lo ≤ hi ≤ {total}")
        density = np.full(total, np.nan, dtype=np.float32)
        restored = resume.load_into(density) if resume is not None else np.zeros(total, dtype=bool)
        todo = missing_ranges(restored, lo, hi)
        sizer = BatchSizer(batch_size, max(1, sum(b - a for a, b in todo)), budget, free_memory_bytes(self.device))
        representation = (
            np.empty((total, self.model.representation_dim), dtype=np.float32) if want_representation else None
        )
        if representation is not None and restored.any():
            raise DeepawError("representations are not checkpointed; resume without return_representation")

        def evaluate(edges: Edges, count: int) -> tuple[np.ndarray, np.ndarray | None]:
            return self._evaluate(context, edges, count, timer, want_representation)

        out = run_stream(
            evaluate, edge_source, sizer, timer, self.device, density, representation,
            todo=todo, progress=progress, cancel=cancel,
            on_batch=resume.save_batch if resume is not None else None,
        )
        out.resumed = int(restored.sum())
        out.done = int(np.isfinite(density).sum())
        return out

    def describe(self) -> dict:
        """Provenance of the run settings."""
        return {
            "device": str(self.device),
            "device_name": torch.cuda.get_device_name(self.device) if self.device.type == "cuda" else "cpu",
            "precision": self.precision,
            "effective_precision": effective_precision(self.precision, self.device),
            "compile": self.compiled,
            "compile_error": self.compile_error,
            "kernel": self.kernel,
            "kernel_backend": describe_kernel(self._probe_eager, self.device),
        }

