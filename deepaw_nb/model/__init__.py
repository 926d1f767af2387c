"""DeePAW networks: ``F_nonlocal`` (e3nn), ``F_local`` (native KAN), checkpoint loading."""

from deepaw_nb.model.config import ModelConfig
from deepaw_nb.model.density_model import DensityModel, ModelInfo
from deepaw_nb.model.ensemble import EnsembleContext, ProbeEnsemble
from deepaw_nb.model.f_nonlocal import AtomContext, FNonlocal
from deepaw_nb.model.free_atoms import FreeAtomDensity
from deepaw_nb.model.kan import FLocal
from deepaw_nb.model.loading import default_model_path, load_model

__all__ = [
    "AtomContext",
    "DensityModel",
    "EnsembleContext",
    "FLocal",
    "FNonlocal",
    "FreeAtomDensity",
    "ModelConfig",
    "ModelInfo",
    "ProbeEnsemble",
    "default_model_path",
    "load_model",
]
