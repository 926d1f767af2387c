"""Shared fixtures: the reference DeePAW material in ../shared/reference and loaded models."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

# Helper modules imported by test files: rewrite their asserts too (pytest's rewriting only
# covers test files and conftest.py by default).
pytest.register_assert_rewrite("widget_support")

REPO = Path(__file__).resolve().parents[1]
REFERENCE = REPO.parent / "shared" / "reference"


def reference_cases() -> list[dict]:
    """Entries of the reference manifest with a ``name`` added (empty if shared/ is absent)."""
    manifest = REFERENCE / "manifest.json"
    if not manifest.is_file():
        return []
    cases = json.loads(manifest.read_text())
    for case in cases:
        case["name"] = case["checkpoint"].removesuffix("_f_nonlocal.pth")
    return cases


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    if not REFERENCE.is_dir():
        pytest.skip(f"reference fixtures not found at {REFERENCE}")
    return REFERENCE


_MODELS: dict[str, object] = {}


def load_reference_model(name: str, with_f_local: bool = False):  # type: ignore[no-untyped-def]
    """A reference checkpoint loaded once per test session (building e3nn modules is slow)."""
    from deepaw_nb import DensityModel, load_model

    key = f"{name}:{with_f_local}"
    if key not in _MODELS:
        if not REFERENCE.is_dir():
            pytest.skip(f"reference fixtures not found at {REFERENCE}")
        if with_f_local:
            _MODELS[key] = load_model(REFERENCE / f"{name}_f_nonlocal.pth", REFERENCE / "deepaw_f_local.pth")
        elif f"{name}:True" in _MODELS:
            # Share the (slow to build) e3nn modules with the F_local variant.
            full = _MODELS[f"{name}:True"]
            _MODELS[key] = DensityModel(full.f_nonlocal, None, full.info)
        else:
            _MODELS[key] = load_model(REFERENCE / f"{name}_f_nonlocal.pth")
    return _MODELS[key]


@pytest.fixture(scope="session")
def si_model():  # type: ignore[no-untyped-def]
    """The small reference model (mul 120, lmax 2): fast enough for engine tests."""
    return load_reference_model("si_l2")


@pytest.fixture(scope="session")
def si_atoms():  # type: ignore[no-untyped-def]
    import ase.io

    if not REFERENCE.is_dir():
        pytest.skip(f"reference fixtures not found at {REFERENCE}")
    return ase.io.read(REFERENCE / "si_l2.json")


@pytest.fixture(scope="module")
def one_torch_thread():  # type: ignore[no-untyped-def]
    """One torch thread for a test module: on a shared 2-core machine 2 OpenMP threads are many times slower."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
