"""The batch loop: prefetching graphs, measuring the first batches, backing off on OOM.

The probes to evaluate are given as ranges of flat indices (by default all of them), each
evaluated in contiguous batches.  The probe graph of the next
batch is built in a helper thread while the current batch runs.  A batch that runs out of
memory (CUDA or host) is halved and retried; the smaller size is kept for the rest of the run.
Cancellation is checked between batches; Ctrl-C keeps the finished batches.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, field

import numpy as np
import torch

from deepaw_nb.engine.batching import BatchSizer
from deepaw_nb.engine.memory import PeakMemory
from deepaw_nb.engine.progress import CancelSignal, Progress, ProgressCallback, cancel_requested
from deepaw_nb.engine.timing import StageTimer
from deepaw_nb.errors import DeepawError
from deepaw_nb.graph import Edges

EdgeSource = Callable[[int, int], Edges]
Evaluate = Callable[[Edges, int], tuple[np.ndarray, "np.ndarray | None"]]
#: ``on_batch(start, stop, values)`` after each finished batch (e.g. to persist it).
BatchHook = Callable[[int, int, np.ndarray], None]

_OOM_MARKERS = ("out of memory", "can't allocate memory", "not enough memory", "defaultcpuallocator")


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether an exception is an allocation failure (CUDA, host allocator, or Python)."""
    if isinstance(exc, (torch.OutOfMemoryError, MemoryError)):
        return True
    return isinstance(exc, RuntimeError) and any(m in str(exc).lower() for m in _OOM_MARKERS)


@dataclass
class StreamOutput:
    """Values of one streamed run over ``total`` probes (flat order)."""

    density: np.ndarray
    representation: np.ndarray | None
    done: int  # probes filled, restored ones included
    interrupted: bool
    batch_sizes: list[int]
    bytes_per_probe: float | None
    out_of_memory_retries: int = 0
    resumed: int = 0
    events: list[str] = field(default_factory=list)


def run_stream(
    evaluate: Evaluate,
    edge_source: EdgeSource,
    sizer: BatchSizer,
    timer: StageTimer,
    device: torch.device,
    density: np.ndarray,
    representation: np.ndarray | None = None,
    todo: list[tuple[int, int]] | None = None,
    progress: bool | ProgressCallback | None = True,
    cancel: CancelSignal = None,
    on_batch: BatchHook | None = None,
) -> StreamOutput:
    """Fill ``density[lo:hi]`` (and ``representation``) for each ``(lo, hi)`` of ``todo``.

    ``todo`` defaults to every probe; probes outside it count as already filled (restored
    from a run checkpoint, or another worker's block).
    """
    total = len(density)
    todo = [(0, total)] if todo is None else [(int(lo), int(hi)) for lo, hi in todo if hi > lo]
    remaining = sum(hi - lo for lo, hi in todo)
    bar = Progress(total, progress)
    if total - remaining:
        bar.update(total - remaining)
    out = StreamOutput(density, representation, total - remaining, False, [], None, resumed=total - remaining)
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="deepaw-probe-graph")
    pending: tuple[int, int, Future] | None = None

    def fetch(lo: int, hi: int) -> tuple[int, int, Future]:
        def timed() -> tuple[Edges, float]:
            begin = time.perf_counter()
            return edge_source(lo, hi), time.perf_counter() - begin

        return lo, hi, pool.submit(timed)

    try:
        for index, (done, end) in enumerate(todo):
            following = todo[index + 1][0] if index + 1 < len(todo) else None
            while done < end:
                stop = min(done + sizer.next_size(), end)
                if pending is None or pending[:2] != (done, stop):
                    pending = fetch(done, stop)  # a stale prefetch (after a back-off) is dropped
                edges, graph_seconds = pending[2].result()
                timer.add("probe graph", graph_seconds, overlapped=True)
                ahead = sizer.following_size()
                if ahead is not None and stop < end:
                    pending = fetch(stop, min(stop + ahead, end))
                elif ahead is not None and following is not None:
                    pending = fetch(following, min(following + ahead, todo[index + 1][1]))
                else:
                    pending = None
                measuring = sizer.calibrating
                meter = PeakMemory(device) if measuring else nullcontext()
                began = time.perf_counter()
                try:
                    with meter:
                        values, rep = evaluate(edges, stop - done)
                except Exception as exc:  # noqa: BLE001 - only allocation failures are handled
                    if not is_out_of_memory(exc):
                        raise
                    _back_off(sizer, stop - done, device, out)
                    continue
                if isinstance(meter, PeakMemory):
                    sizer.record(stop - done, meter.peak, time.perf_counter() - began)
                with timer.stage("assembly"):
                    density[done:stop] = values
                    if representation is not None and rep is not None:
                        representation[done:stop] = rep
                if on_batch is not None:
                    on_batch(done, stop, values)
                out.batch_sizes.append(stop - done)
                out.done += stop - done
                bar.update(stop - done)
                done = stop
                more = done < end or index + 1 < len(todo)
                if more and cancel_requested(cancel):
                    out.interrupted = True
                    return out
    except KeyboardInterrupt:
        out.interrupted = True
    finally:
        bar.close()
        pool.shutdown(wait=True, cancel_futures=True)
        out.bytes_per_probe = sizer.per_probe
    return out


def _back_off(sizer: BatchSizer, failed: int, device: torch.device, out: StreamOutput) -> None:
    """Halve the batch after an out-of-memory failure (or give up at one probe)."""
    if device.type == "cuda":
        torch.cuda.empty_cache()
    if failed <= 1:
        raise DeepawError(
            f"out of memory evaluating a single probe on {device}; free memory on the device or use device='cpu'"
        )
    smaller = max(1, failed // 2)
    sizer.shrink(smaller)
    out.out_of_memory_retries += 1
    out.events.append(f"out of memory at {failed} probes; retrying with {smaller}")
