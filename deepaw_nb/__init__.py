"""deepaw-nb: predict crystal electron densities with DeePAW-style equivariant networks.

Quick start::

    import deepaw_nb
    result = deepaw_nb.predict("data/examples/HfO2_monoclinic.cif")
    print(result.timing_table())
    result.to_chgcar("CHGCAR")
"""

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

from deepaw_nb.api import get_predictor, predict, predict_points  # noqa: E402
from deepaw_nb.engine.predictor import Predictor  # noqa: E402
from deepaw_nb.model import DensityModel, ModelConfig, load_model  # noqa: E402
from deepaw_nb.result import Comparison, DensityResult  # noqa: E402

__all__ = [
    "CheckpointError",
    "Comparison",
    "DeepawError",
    "DensityModel",
    "DensityResult",
    "DeviceError",
    "GridError",
    "InputFileError",
    "ModelConfig",
    "OutputError",
    "Predictor",
    "StructureError",
    "UnsupportedElementError",
    "__version__",
    "get_predictor",
    "load_model",
    "predict",
    "predict_points",
]
