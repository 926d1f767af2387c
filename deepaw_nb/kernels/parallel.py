"""Running independent probe chunks on several CPU threads instead of intra-op threading.

The fast kernel issues many small operations per tile.  With PyTorch's intra-op (OpenMP)
threading every one of them opens a parallel region whose barrier waits for all threads, and
on a shared machine a descheduled thread stalls each of those barriers.  Chunks of probes are
independent, so here each worker thread takes whole chunks and runs its operations on one
intra-op thread (PyTorch releases the GIL inside operations).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TypeVar

import torch

T = TypeVar("T")


@contextmanager
def single_intra_op_thread() -> Iterator[None]:
    """Set ``torch.set_num_threads(1)`` for the duration (process-wide; restored afterwards)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def map_chunks(function: Callable[[T], None], chunks: Sequence[T], workers: int) -> None:
    """Call ``function(chunk)`` for every chunk, on ``workers`` threads when that is > 1.

    Grad mode is thread-local in PyTorch, so the caller's is carried into the workers.
    """
    if workers <= 1 or len(chunks) <= 1:
        for chunk in chunks:
            function(chunk)
        return
    grad = torch.is_grad_enabled()

    def run(chunk: T) -> None:
        with torch.set_grad_enabled(grad):
            function(chunk)

    with single_intra_op_thread(), ThreadPoolExecutor(max_workers=workers, thread_name_prefix="deepaw-kernel") as pool:
        for future in [pool.submit(run, chunk) for chunk in chunks]:
            future.result()
