"""deepaw-nb: predict crystal electron densities with DeePAW-style equivariant networks.

Quick start::

    import deepaw_nb
    result = deepaw_nb.predict("data/examples/HfO2_monoclinic.cif")
    print(result.timing_table())
    result.to_chgcar("CHGCAR")

The heavy parts (torch, e3nn) are imported on first use of the names that need them, so
``import deepaw_nb`` and ``deepaw-nb --help`` stay fast.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from deepaw_nb.errors import (
    CheckpointError,
    DeepawError,
    DeviceError,
    GridError,
    InputFileError,
    OutputError,
    StructureError,
    UnsupportedElementError,
)

__version__ = "0.1.0"

#: Public name -> module that defines it (imported lazily).
_LAZY = {
    "predict": "deepaw_nb.api",
    "predict_points": "deepaw_nb.api",
    "get_predictor": "deepaw_nb.api",
    "count_evaluations": "deepaw_nb.api",
    "predict_many": "deepaw_nb.many",
    "Predictor": "deepaw_nb.engine.predictor",
    "DensityModel": "deepaw_nb.model",
    "ModelConfig": "deepaw_nb.model",
    "load_model": "deepaw_nb.model",
    "DensityResult": "deepaw_nb.result",
    "Comparison": "deepaw_nb.result",
    "as_atoms": "deepaw_nb.structure",
    "describe": "deepaw_nb.structure",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'deepaw_nb' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "CheckpointError",
    "DeepawError",
    "DeviceError",
    "GridError",
    "InputFileError",
    "OutputError",
    "StructureError",
    "UnsupportedElementError",
    "__version__",
    *sorted(_LAZY),
]
