"""The optional cuEquivariance backend (kernel="cueq"): exact against e3nn on every reference case.

On this CPU machine cuEquivariance runs its pure-torch fallback, which is what these tests
check; on a lent GPU ``benchmarks/gpu_check.py`` checks the fused CUDA kernels the same way.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import deepaw_nb
from conftest import REFERENCE, load_reference_model, reference_cases
from deepaw_nb import DeviceError
from deepaw_nb.kernels import build_probe_kernel, prepare_atoms
from deepaw_nb.kernels.cueq import cueq_available
from test_kernels import FAST, _assert_close, _inputs

CASES = reference_cases()
needs_cueq = pytest.mark.skipif(not cueq_available(), reason="cuequivariance-torch not installed")


@needs_cueq
@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_cueq_kernel_matches_e3nn_and_reference(case: dict) -> None:
    expected = np.load(REFERENCE / f"{case['name']}_expected.npz")
    context, batch = _inputs(
        case["name"], expected["positions"], expected["cell"], expected["atomic_numbers"], expected["probe_xyz"]
    )
    probe_model = load_reference_model(case["name"]).f_nonlocal.probe_model
    cueq = build_probe_kernel(probe_model, "cueq")
    with torch.no_grad():
        density, representation = probe_model(context, *batch)
        cueq_density, cueq_representation = cueq(prepare_atoms(cueq, context), *batch)
    _assert_close(cueq_density, density, "density vs e3nn")
    _assert_close(cueq_representation, representation, "representation vs e3nn")
    _assert_close(cueq_density, expected["density_nonlocal"], "density vs fixture")


@needs_cueq
def test_cueq_through_the_api_and_provenance() -> None:
    model = load_reference_model("si_l2")
    atoms = deepaw_nb.as_atoms(REFERENCE / "si_l2.json")
    points = np.random.default_rng(0).random((300, 3)) @ np.asarray(atoms.cell)
    cueq = deepaw_nb.predict_points(atoms, points, model=model, device="cpu", kernel="cueq")
    reference = deepaw_nb.predict_points(atoms, points, model=model, device="cpu", kernel="e3nn")
    assert float(np.abs(cueq - reference).max() / np.abs(reference).max()) <= FAST
    backend = deepaw_nb.get_predictor(model, "cpu", "fp32", kernel="cueq").describe()["kernel_backend"]
    assert backend == "cuEquivariance (naive)"


def test_missing_cueq_is_a_clear_error(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import deepaw_nb.kernels.cueq as cueq_module

    monkeypatch.setattr(cueq_module, "cueq_available", lambda: False)
    model = load_reference_model("si_l2")
    with pytest.raises(DeviceError, match="pip install cuequivariance-torch"):
        build_probe_kernel(model.f_nonlocal.probe_model, "cueq")
