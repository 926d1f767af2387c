"""Running a model over probe batches: devices, precision, batch sizing, timing, progress."""

from deepaw_nb.engine.device import PRECISIONS, resolve_device, resolve_precision
from deepaw_nb.engine.predictor import Predictor, StreamOutput
from deepaw_nb.engine.progress import Progress, cancel_requested, eta_seconds
from deepaw_nb.engine.timing import STAGES, StageTimer, format_timings

__all__ = [
    "PRECISIONS",
    "STAGES",
    "Predictor",
    "Progress",
    "StageTimer",
    "StreamOutput",
    "cancel_requested",
    "eta_seconds",
    "format_timings",
    "resolve_device",
    "resolve_precision",
]
