"""Tabulated radial weights (deepaw_nb/kernels/radial_table.py) against the radial MLP."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import REFERENCE, load_reference_model, reference_cases
from test_kernels import _assert_close, _inputs

import deepaw_nb
from deepaw_nb import DeviceError
from deepaw_nb.kernels import (
    FastProbeModel,
    build_probe_kernel,
    describe_kernel,
    fused_c,
    radial_table,
)

FUSED = fused_c.kernel() is not None and radial_table.function() is not None
needs_c = pytest.mark.skipif(not FUSED, reason=f"fused C library unavailable: {fused_c.unavailable_reason()}")
CASES = reference_cases()


def _bundled_kernels() -> list[FastProbeModel]:
    model = deepaw_nb.load_model()
    return [build_probe_kernel(member.probe_model, "fast") for member in model.members]  # type: ignore[misc]


def test_tables_of_the_bundled_networks_match_their_radial_mlps() -> None:
    """Cubic Hermite tables reproduce the float64 radial weights to near float32 rounding."""
    for kernel in _bundled_kernels():
        for layer in kernel.layers:
            table = radial_table.build_table(kernel.basis, layer.first, layer.second_blocked)
            assert table.coefficients.shape[:3] == (layer.second_blocked.shape[0], radial_table.DEFAULT_INTERVALS, 4)
            assert radial_table.table_error(table, kernel.basis, layer.first, layer.second_blocked) < 1e-6


def test_coarse_tables_are_measurably_worse() -> None:
    """The error check can fail: 8 intervals over 4 Å do not resolve the Gaussian basis."""
    kernel = _bundled_kernels()[0]
    layer = kernel.layers[0]
    coarse = radial_table.build_table(kernel.basis, layer.first, layer.second_blocked, intervals=8)
    assert radial_table.table_error(coarse, kernel.basis, layer.first, layer.second_blocked) > 1e-3
    with pytest.raises(ValueError, match="at least one interval"):
        radial_table.build_table(kernel.basis, layer.first, layer.second_blocked, intervals=0)


@needs_c
def test_c_function_equals_the_torch_evaluation_including_clamped_ends() -> None:
    g = torch.Generator().manual_seed(1)
    table = radial_table.RadialTable(torch.randn(5, 11, 4, fused_c.BLOCK, generator=g), 0.25)
    lengths = torch.cat([torch.rand(300, generator=g) * 2.75, torch.tensor([0.0, 2.75, 2.7499999, 2.9])])
    out = torch.empty(5, lengths.numel(), fused_c.BLOCK)
    radial_table.fill_weights(radial_table.function(), table, lengths, out)
    torch.testing.assert_close(out, radial_table.reference_weights(table, lengths), rtol=1e-5, atol=1e-5)


@needs_c
@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_fast_kernel_with_tables_matches_the_radial_mlp_and_the_fixture(case: dict) -> None:
    expected = np.load(REFERENCE / f"{case['name']}_expected.npz")
    context, batch = _inputs(
        case["name"], expected["positions"], expected["cell"], expected["atomic_numbers"], expected["probe_xyz"]
    )
    probe_model = load_reference_model(case["name"]).f_nonlocal.probe_model
    with_tables = FastProbeModel(probe_model, fused=True, radial_table=True).eval()
    without = FastProbeModel(probe_model, fused=True, radial_table=False).eval()
    assert with_tables.radial_lookup(torch.device("cpu")) is not None
    assert without.radial_lookup(torch.device("cpu")) is None
    with torch.no_grad():
        density, representation = with_tables(with_tables.prepare(context), *batch)
        mlp_density, mlp_representation = without(without.prepare(context), *batch)
    # Same weights, radial MLP replaced by its table: float32-rounding-level agreement.
    assert float((density - mlp_density).abs().max() / mlp_density.abs().max()) < 1e-5
    assert float((representation - mlp_representation).abs().max() / mlp_representation.abs().max()) < 1e-5
    _assert_close(density, expected["density_nonlocal"], "density vs fixture")
    _assert_close(representation, expected["representation"], "representation vs fixture")


@needs_c
def test_budget_environment_and_provenance(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    cpu = torch.device("cpu")
    kernel = _bundled_kernels()[0]
    assert kernel.radial_lookup(cpu) is not None
    assert "radial weights from cubic tables (512 intervals)" in describe_kernel(kernel)
    monkeypatch.setenv("DEEPAW_NB_RADIAL_TABLE", "0")
    assert kernel.radial_lookup(cpu) is None and "cubic tables" not in describe_kernel(kernel)
    monkeypatch.delenv("DEEPAW_NB_RADIAL_TABLE")
    monkeypatch.setattr(radial_table, "TABLE_BUDGET", 1024)  # too small: the radial MLP runs
    assert FastProbeModel(_bundled_probe_model(), fused=True).radial_lookup(cpu) is None
    assert FastProbeModel(_bundled_probe_model(), fused=True, radial_table=True).radial_lookup(cpu) is not None
    assert FastProbeModel(_bundled_probe_model(), fused=False, radial_table=None).radial_lookup(cpu) is None


def test_tables_required_without_the_c_library_is_a_clear_error(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    kernel = FastProbeModel(_bundled_probe_model(), radial_table=True)
    monkeypatch.setattr(radial_table, "function", lambda: None)
    monkeypatch.setattr(FastProbeModel, "fused_function", lambda self, device: (lambda *a: None))
    with pytest.raises(DeviceError, match="radial table C function is not available"):
        kernel.radial_lookup(torch.device("cpu"))


@needs_c
def test_predictions_with_and_without_tables_agree(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """End to end on the bundled ensemble (symmetry off, a small grid)."""
    from ase.build import bulk

    atoms = bulk("MgO", "rocksalt", a=4.21)
    model = deepaw_nb.load_model()
    fast = deepaw_nb.predict(atoms, model=model, grid=(10, 10, 10), symmetry=False, progress=False)
    monkeypatch.setenv("DEEPAW_NB_RADIAL_TABLE", "0")
    plain = deepaw_nb.predict(atoms, model=model, grid=(10, 10, 10), symmetry=False, progress=False)
    a, b = fast.to_numpy(), plain.to_numpy()
    assert np.abs(a - b).max() / np.abs(b).max() < 1e-5


def _bundled_probe_model():  # type: ignore[no-untyped-def]
    return deepaw_nb.load_model().members[0].probe_model
