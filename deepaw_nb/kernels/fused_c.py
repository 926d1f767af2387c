"""Build, check and call the fused C message kernel (``fused_messages.c``) on CPUs.

The C file is compiled on first use with the system C compiler (``$CC``, else ``cc`` or
``gcc``; ``-O3 -march=native``) into a per-user cache, keyed by the source, the compiler and
the CPU, and loaded with :mod:`ctypes` (which releases the GIL during calls, so chunk worker
threads run in parallel).  Nothing is downloaded.  Every load is checked against plain torch
operations on random data; a missing compiler, a failed build or a failed check leaves the
kernel unavailable, and the fast kernel then uses its torch path (same values).  Set
``DEEPAW_NB_FUSED=0`` to never build or use it.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import torch

SOURCE = Path(__file__).with_name("fused_messages.c")
FLAGS = ("-O3", "-march=native", "-fPIC", "-shared", "-std=c99")
_I64, _PTR = ctypes.c_int64, ctypes.c_void_p
_ARGTYPES = [_I64, _I64, _I64, _I64, _PTR, _I64, _PTR, _PTR, _PTR, _PTR, _PTR, _PTR, _I64]
#: Most harmonics one degree group may have (l <= 4 when groups are single degrees).
MAX_HARMONICS = 9

_lock = threading.Lock()
_state: dict[str, object] = {}


def cache_dir() -> Path:
    """Where built libraries are kept: ``$DEEPAW_NB_CACHE``, else ``~/.cache/deepaw-nb``."""
    explicit = os.environ.get("DEEPAW_NB_CACHE")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "deepaw-nb"


def _compiler() -> str | None:
    for name in (os.environ.get("CC"), "cc", "gcc", "clang"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def _cpu_signature() -> str:
    """CPU model and feature flags (a ``-march=native`` build must not move between CPUs)."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return platform.machine() + platform.processor()
    keep = [line for line in lines if line.startswith(("model name", "flags", "Features"))]
    return platform.machine() + "\n".join(sorted(set(keep)))


def _build(compiler: str) -> Path:
    source = SOURCE.read_bytes()
    version = subprocess.run([compiler, "--version"], capture_output=True, text=True, timeout=30, check=False).stdout
    key = hashlib.sha256(source + version.encode() + " ".join(FLAGS).encode() + _cpu_signature().encode()).hexdigest()
    target = cache_dir() / f"fused_messages-{key[:16]}.so"
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    # Build under a temporary name in the same folder, then rename: concurrent builders and
    # interrupted builds never leave a half-written library behind.
    handle, partial_path = tempfile.mkstemp(prefix=".fused_messages-", suffix=".so", dir=target.parent)
    os.close(handle)
    try:
        done = subprocess.run(
            [compiler, *FLAGS, "-o", partial_path, str(SOURCE)], capture_output=True, text=True, timeout=120, check=False
        )
        if done.returncode != 0:  # e.g. a compiler without -march=native: build portably
            portable = [flag for flag in FLAGS if flag != "-march=native"]
            done = subprocess.run(
                [compiler, *portable, "-o", partial_path, str(SOURCE)], capture_output=True, text=True, timeout=120, check=False
            )
        if done.returncode != 0:
            raise RuntimeError(done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "compiler failed")
        os.replace(partial_path, target)
    finally:
        if os.path.exists(partial_path):
            os.remove(partial_path)
    return target


def _load() -> ctypes.CDLL | None:
    if os.environ.get("DEEPAW_NB_FUSED", "1").strip() in ("0", "false", "no", "off"):
        _state["reason"] = "disabled by DEEPAW_NB_FUSED=0"
        return None
    compiler = _compiler()
    if compiler is None:
        _state["reason"] = "no C compiler found (set CC)"
        return None
    try:
        library = ctypes.CDLL(str(_build(compiler)))
        _state["library"] = library
        function = library.deepaw_fused_messages
        function.argtypes = _ARGTYPES
        function.restype = None
        if not _self_check(function):
            _state["reason"] = "built library failed its check against torch"
            return None
    except (OSError, RuntimeError, subprocess.SubprocessError) as error:
        _state["reason"] = f"build failed: {error}"
        return None
    return function


def kernel():  # type: ignore[no-untyped-def]
    """The loaded C function, or ``None`` (see :func:`unavailable_reason`); built once."""
    with _lock:
        if "function" not in _state:
            _state["function"] = _load()
    return _state["function"]


def library_function(name: str, argtypes: list, check) -> object | None:  # type: ignore[no-untyped-def,type-arg]
    """Another C function ``name`` of the same library, returned once ``check(function)`` has
    passed (cached until :func:`reload`); ``None`` when the library is unavailable or the
    check fails."""
    if kernel() is None:
        return None
    with _lock:
        key = f"function:{name}"
        if key not in _state:
            function = getattr(_state["library"], name)
            function.argtypes = argtypes
            function.restype = None
            _state[key] = function if check(function) else None
    return _state[key]


def reload() -> None:
    """Forget the loaded kernel: the next :func:`kernel` call builds/loads it again (after
    changing ``DEEPAW_NB_FUSED``, ``CC`` or ``DEEPAW_NB_CACHE``)."""
    with _lock:
        _state.clear()


def unavailable_reason() -> str | None:
    """Why the fused kernel is not used (``None`` if it is)."""
    return None if kernel() is not None else str(_state.get("reason", "unknown"))


#: Columns per block; must equal BLOCK in fused_messages.c (the self-check would fail).
BLOCK = 32


@dataclass(frozen=True)
class BlockLayout:
    """How one degree group's columns are cut into blocks of :data:`BLOCK` (see the C file).

    ``weights``: (blocks,) int64, the weight block of each block; ``gather``: (blocks * BLOCK,)
    the plan-table column of every blocked column (``columns`` = a zero padding column);
    ``unblock``: (columns,) where each plan column sits among the blocked ones;
    ``weight_width``: the group's weight columns (its widest slot).
    """

    weights: torch.Tensor
    gather: torch.Tensor
    unblock: torch.Tensor
    columns: int
    weight_width: int

    @property
    def blocks(self) -> int:
        return int(self.weights.numel())


def block_layout(slots: list[tuple[int, int]]) -> BlockLayout:
    """Blocks of the slots ``[(first column, width), ...]`` of a group (plan.py)."""
    weights, gather = [], []
    columns = sum(w for _, w in slots)
    for start, slot_width in slots:
        for j0 in range(0, slot_width, BLOCK):
            valid = min(BLOCK, slot_width - j0)
            weights.append(j0 // BLOCK)
            gather.extend([start + j0 + j for j in range(valid)] + [columns] * (BLOCK - valid))
    gather_t = torch.tensor(gather, dtype=torch.long)
    unblock = torch.empty(columns, dtype=torch.long)
    real = gather_t < columns
    unblock[gather_t[real]] = torch.nonzero(real).flatten()
    return BlockLayout(torch.tensor(weights, dtype=torch.long), gather_t, unblock, columns,
                       max((w for _, w in slots), default=0))


def blocked_table(table: torch.Tensor, layout: BlockLayout) -> torch.Tensor:
    """(atoms, K, columns) plan table -> (blocks, atoms, K, BLOCK), zero-padded."""
    atoms, rows, _ = table.shape
    padded = torch.cat([table, table.new_zeros(atoms, rows, 1)], dim=2)
    return padded[:, :, layout.gather].view(atoms, rows, layout.blocks, BLOCK).permute(2, 0, 1, 3).contiguous()


def blocked_weights(w: torch.Tensor, layout: BlockLayout) -> torch.Tensor:
    """(n, >= weight_width) radial weights of a group -> (weight blocks, n, BLOCK), zero-padded."""
    n = w.shape[0]
    count = -(-layout.weight_width // BLOCK)
    padded = torch.nn.functional.pad(w[:, : layout.weight_width], (0, count * BLOCK - layout.weight_width))
    return padded.view(n, count, BLOCK).transpose(0, 1).contiguous()


def blocked_sums(probes: int, layout: BlockLayout, like: torch.Tensor) -> torch.Tensor:
    """Zeroed (blocks, probes, BLOCK) probe sums for :func:`fused_messages`."""
    return like.new_zeros(layout.blocks, probes, BLOCK)


def unblocked_sums(sums: torch.Tensor, layout: BlockLayout) -> torch.Tensor:
    """(blocks, probes, BLOCK) sums -> (probes, columns) in the plan's slot layout."""
    probes = sums.shape[1]
    return sums.transpose(0, 1).reshape(probes, layout.blocks * BLOCK)[:, layout.unblock]


def fused_messages(  # type: ignore[no-untyped-def]
    function,
    sums: torch.Tensor,
    y: torch.Tensor,
    src: torch.Tensor,
    dst: torch.Tensor,
    table: torch.Tensor,
    weights: torch.Tensor,
    layout: BlockLayout,
) -> None:
    """``sums[b, dst[e], j] += W[b, e, j] * sum_k y[e, k] * A[b, src[e], k, j]`` (the C file).

    ``y`` (n, K <= MAX_HARMONICS) may be a column slice of wider rows; ``table`` is
    :func:`blocked_table`, ``weights`` :func:`blocked_weights` of the same tile, ``sums``
    :func:`blocked_sums`; ``src``/``dst`` (n,) contiguous int64.  Shapes are not re-checked
    here (hot path): the callers are the fast kernel, which checks the degree groups when it
    is built, and the self-check.
    """
    n, rows = y.shape
    function(
        n, rows, table.shape[1], layout.blocks, y.data_ptr(), y.stride(0), src.data_ptr(), dst.data_ptr(),
        table.data_ptr(), weights.data_ptr(), layout.weights.data_ptr(), sums.data_ptr(), sums.shape[1],
    )


def reference_messages(
    out: torch.Tensor,
    y: torch.Tensor,
    src: torch.Tensor,
    dst: torch.Tensor,
    table: torch.Tensor,
    w: torch.Tensor,
    slots: list[tuple[int, int]],
) -> None:
    """The same sum with plain torch operations on the plan table (for checks)."""
    t = torch.einsum("ek,ekc->ec", y, table[src])
    for start, width in slots:
        t[:, start : start + width] *= w[:, :width]
    out.index_add_(0, dst, t)


def _self_check(function) -> bool:  # type: ignore[no-untyped-def]
    """Compare the C kernel with :func:`reference_messages` on random data (odd sizes)."""
    g = torch.Generator().manual_seed(0)
    atoms, rows, n, probes = 3, 5, 41, 7
    slots = [(0, 70), (70, 45), (115, 3)]
    columns = 118
    layout = block_layout(slots)
    y = torch.randn(n, rows + 2, generator=g)[:, 1 : rows + 1]  # a column slice, like a degree group
    w = torch.randn(n, 80, generator=g)[:, 4:]
    src = torch.randint(0, atoms, (n,), generator=g)
    dst = torch.sort(torch.randint(0, probes, (n,), generator=g)).values
    table = torch.randn(atoms, rows, columns, generator=g)
    sums = blocked_sums(probes, layout, y)
    fused_messages(function, sums, y, src, dst, blocked_table(table, layout), blocked_weights(w, layout), layout)
    got = unblocked_sums(sums, layout)
    want = torch.zeros(probes, columns)
    reference_messages(want, y, src, dst, table, w, slots)
    return bool(torch.allclose(got, want, rtol=1e-5, atol=1e-5 * float(want.abs().max())))
