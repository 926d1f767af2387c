"""deepaw-nb: predict crystal electron densities with DeePAW-style equivariant networks."""

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
]
