"""Device and numeric-precision choices of a run."""

from __future__ import annotations

import re
from contextlib import ExitStack, contextmanager
from collections.abc import Iterator

import torch

from deepaw_nb.errors import DeviceError

PRECISIONS = ("fp32", "tf32", "bf16", "fp16")
_AUTOCAST_DTYPE = {"bf16": torch.bfloat16, "fp16": torch.float16}


def resolve_device(spec: str | torch.device = "auto") -> torch.device:
    """``"auto"`` (CUDA if present, else CPU), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``."""
    text = str(spec).strip().lower()
    if text == "auto":
        return torch.device("cuda", torch.cuda.current_device()) if torch.cuda.is_available() else torch.device("cpu")
    if text == "cpu":
        return torch.device("cpu")
    match = re.fullmatch(r"cuda(?::(\d+))?", text)
    if not match:
        raise DeviceError(f"device {spec!r} is not understood; use 'auto', 'cpu', 'cuda' or 'cuda:N'")
    if not torch.cuda.is_available():
        raise DeviceError(f"device {spec!r} asked for CUDA but no CUDA GPU is usable here; use device='cpu' or 'auto'")
    index = int(match.group(1) or torch.cuda.current_device())
    if index >= torch.cuda.device_count():
        raise DeviceError(
            f"device {spec!r} does not exist: this machine has {torch.cuda.device_count()} CUDA device(s); use cuda:0"
            + (f"..cuda:{torch.cuda.device_count() - 1}" if torch.cuda.device_count() > 1 else "")
        )
    return torch.device("cuda", index)


def resolve_precision(precision: str, device: torch.device) -> str:
    """Validated precision name.  ``tf32`` only changes anything on CUDA (Ampere or newer)."""
    name = str(precision).strip().lower()
    if name not in PRECISIONS:
        raise DeviceError(f"precision {precision!r} is not supported; use one of {', '.join(PRECISIONS)}")
    if name == "fp16" and device.type == "cpu" and not _cpu_autocast_supports(torch.float16):
        raise DeviceError("fp16 autocast is not available on the CPU in this torch build; use precision='bf16' or 'fp32'")
    return name


def _cpu_autocast_supports(dtype: torch.dtype) -> bool:
    try:
        with torch.autocast("cpu", dtype=dtype):
            torch.ones(2, 2) @ torch.ones(2, 2)
        return True
    except (RuntimeError, AssertionError):
        return False


def effective_precision(precision: str, device: torch.device) -> str:
    """What really runs: tf32 on a CPU is plain fp32."""
    return "fp32" if precision == "tf32" and device.type != "cuda" else precision


@contextmanager
def precision_context(precision: str, device: torch.device) -> Iterator[None]:
    """Autocast for bf16/fp16; TF32 matmuls allowed only for ``tf32`` (restored afterwards)."""
    with ExitStack() as stack:
        if device.type == "cuda":
            matmul, cudnn = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
            allow = precision == "tf32"
            torch.backends.cuda.matmul.allow_tf32 = allow
            torch.backends.cudnn.allow_tf32 = allow

            def restore() -> None:
                torch.backends.cuda.matmul.allow_tf32 = matmul
                torch.backends.cudnn.allow_tf32 = cudnn

            stack.callback(restore)
        if precision in _AUTOCAST_DTYPE:
            stack.enter_context(torch.autocast(device_type=device.type, dtype=_AUTOCAST_DTYPE[precision]))
        yield
