"""The engine on the small reference model: batching, progress, cancellation, precision."""

from __future__ import annotations

import threading
import warnings

import numpy as np
import pytest
import torch

import deepaw_nb
from deepaw_nb import DeviceError, GridError
from deepaw_nb.engine import STAGES, Predictor, eta_seconds
from deepaw_nb.engine.batching import BatchSizer
from deepaw_nb.grid import cartesian_grid_points

GRID = (12, 12, 12)


@pytest.fixture(scope="module")
def reference_result(si_model, si_atoms):  # type: ignore[no-untyped-def]
    return deepaw_nb.predict(si_atoms, model=si_model, symmetry=False, grid=GRID, batch_size=500, device="cpu", progress=False)


def test_result_shape_timings_and_provenance(reference_result) -> None:  # type: ignore[no-untyped-def]
    result = reference_result
    assert result.grid_shape == GRID and result.complete and result.filled_fraction == 1.0
    assert np.isfinite(result.density).all() and result.density.dtype == np.float32
    assert list(result.timings) == list(STAGES)
    assert result.timings["probe model"] > 0 and result.timings["atom model"] > 0
    prov = result.provenance
    assert prov["precision"] == "fp32" and prov["device"] == "cpu" and prov["batch_size"] == 500
    assert prov["model"]["sha256"]["f_nonlocal"] and prov["versions"]["torch"] == torch.__version__
    assert "probe model" in result.timing_table()


def test_grid_path_equals_point_path(si_model, si_atoms, reference_result) -> None:  # type: ignore[no-untyped-def]
    points = cartesian_grid_points(np.asarray(si_atoms.cell), GRID)
    values = deepaw_nb.predict_points(si_atoms, points, model=si_model)
    np.testing.assert_allclose(values.reshape(GRID), reference_result.density, rtol=0, atol=1e-6 * np.abs(values).max())


@pytest.mark.parametrize("batch_size", ["auto", 1, 97, 5000])
def test_batch_size_does_not_change_the_density(si_model, si_atoms, reference_result, batch_size) -> None:  # type: ignore[no-untyped-def]
    grid = GRID if batch_size != 1 else None
    if batch_size == 1:  # one probe per batch: only the first few hundred points, via predict_points
        points = cartesian_grid_points(np.asarray(si_atoms.cell), GRID, 0, 40)
        values = deepaw_nb.predict_points(si_atoms, points, model=si_model, batch_size=1)
        np.testing.assert_allclose(values, reference_result.density.ravel()[:40], rtol=0, atol=1e-6)
        return
    result = deepaw_nb.predict(si_atoms, model=si_model, symmetry=False, grid=grid, batch_size=batch_size, progress=False)
    scale = np.abs(reference_result.density).max()
    np.testing.assert_allclose(result.density, reference_result.density, rtol=0, atol=1e-6 * scale)


def test_auto_batch_size_is_measured(si_model, si_atoms) -> None:  # type: ignore[no-untyped-def]
    result = deepaw_nb.predict(si_atoms, model=si_model, symmetry=False, grid=(16, 16, 16), progress=False)
    prov = result.provenance
    assert prov["bytes_per_probe"] and prov["bytes_per_probe"] > 0
    assert prov["batch_sizes_used"][0] <= 256  # first calibration batch


def test_progress_callback_reports_every_batch(si_model, si_atoms) -> None:  # type: ignore[no-untyped-def]
    calls: list[tuple[int, int, float]] = []
    deepaw_nb.predict(si_atoms, model=si_model, symmetry=False, grid=GRID, batch_size=400, progress=lambda *a: calls.append(a))
    done = [c[0] for c in calls]
    assert done == sorted(done) and done[-1] == np.prod(GRID) and all(c[1] == np.prod(GRID) for c in calls)
    assert len(calls) == -(-np.prod(GRID) // 400) + (1 if 400 > 256 else 0) or len(calls) >= 4


def test_eta() -> None:
    assert eta_seconds(0, 10, 1.0) is None
    assert eta_seconds(5, 10, 2.0) == pytest.approx(2.0)


def test_cancel_event_keeps_finished_batches(si_model, si_atoms, reference_result) -> None:  # type: ignore[no-untyped-def]
    stop = threading.Event()

    def after_first_batch(done: int, total: int, elapsed: float) -> None:
        stop.set()

    result = deepaw_nb.predict(
        si_atoms, model=si_model, symmetry=False, grid=GRID, batch_size=300, progress=after_first_batch, cancel=stop
    )
    assert not result.complete and 0 < result.filled_probes < np.prod(GRID)
    flat = result.density.ravel()
    assert np.isfinite(flat[: result.filled_probes]).all() and np.isnan(flat[result.filled_probes :]).all()
    np.testing.assert_allclose(flat[: result.filled_probes], reference_result.density.ravel()[: result.filled_probes], atol=1e-6)
    assert result.provenance["interrupted"]
    with pytest.raises(GridError, match="incomplete"):
        result.to_chgcar("never-written")


def test_cancel_callable_and_keyboard_interrupt(si_model, si_atoms) -> None:  # type: ignore[no-untyped-def]
    result = deepaw_nb.predict(si_atoms, model=si_model, symmetry=False, grid=GRID, batch_size=300, progress=False, cancel=lambda: True)
    assert result.filled_probes == 256  # the first (measuring) batch

    def interrupt(done: int, total: int, elapsed: float) -> None:
        if done >= 600:
            raise KeyboardInterrupt

    result = deepaw_nb.predict(si_atoms, model=si_model, symmetry=False, grid=GRID, batch_size=300, progress=interrupt)
    assert result.provenance["interrupted"] and 600 <= result.filled_probes < np.prod(GRID)


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_reduced_precision_is_close_and_recorded(si_model, si_atoms, reference_result, precision) -> None:  # type: ignore[no-untyped-def]
    result = deepaw_nb.predict(si_atoms, model=si_model, symmetry=False, grid=GRID, precision=precision, progress=False)
    assert result.provenance["precision"] == precision
    diff = np.abs(result.density - reference_result.density).sum() / np.abs(reference_result.density).sum()
    assert 0 < diff < 0.05


def test_tf32_on_cpu_is_plain_fp32(si_model, si_atoms, reference_result) -> None:  # type: ignore[no-untyped-def]
    result = deepaw_nb.predict(si_atoms, model=si_model, symmetry=False, grid=GRID, precision="tf32", batch_size=500, progress=False)
    assert result.provenance["effective_precision"] == "fp32"
    np.testing.assert_allclose(result.density, reference_result.density, rtol=0, atol=1e-7 * np.abs(reference_result.density).max())


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"device": "cuda:7"}, "CUDA|does not exist"),
        ({"device": "tpu"}, "not understood"),
        ({"precision": "fp8"}, "not supported"),
    ],
)
def test_bad_device_or_precision(si_model, si_atoms, options, message) -> None:  # type: ignore[no-untyped-def]
    if torch.cuda.is_available() and options.get("device") == "cuda:7" and torch.cuda.device_count() > 7:
        pytest.skip("this machine has 8 GPUs")
    with pytest.raises(DeviceError, match=message) as info:
        deepaw_nb.predict(si_atoms, model=si_model, symmetry=False, grid=GRID, progress=False, **options)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("batch_size", [0, -3, "big", True, 2.5])
def test_bad_batch_size(si_model, si_atoms, batch_size) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(GridError, match="batch_size"):
        deepaw_nb.predict(si_atoms, model=si_model, symmetry=False, grid=GRID, batch_size=batch_size, progress=False)


def test_fixed_batch_too_large_for_memory_is_refused() -> None:
    sizer = BatchSizer(10_000_000, total=10**8, budget=10**9, free=2 * 10**9)
    assert sizer.next_size() == 256  # a fixed size is first tried small
    with pytest.raises(GridError, match="batch_size='auto' or at most 250"):
        sizer.record(256, 256 * 4_000_000)  # 4 MB per probe measured


def test_auto_batch_follows_the_budget() -> None:
    sizer = BatchSizer("auto", total=10**7, budget=400 * 10**6, free=10**9)
    sizer.record(sizer.next_size(), 256 * 100_000 + 5_000_000)
    sizer.record(sizer.next_size(), 1024 * 100_000 + 5_000_000)
    assert sizer.per_probe == pytest.approx(100_000, rel=0.01)
    assert sizer.next_size() == pytest.approx(4000, rel=0.02)


def test_auto_batch_is_capped_by_time() -> None:
    sizer = BatchSizer("auto", total=10**7, budget=400 * 10**9, free=10**12)
    sizer.record(sizer.next_size(), 256 * 1000, seconds=0.256)
    sizer.record(sizer.next_size(), 1024 * 1000, seconds=1.024)  # 1 ms per probe
    assert sizer.next_size() == 2000  # TARGET_BATCH_SECONDS / 1 ms


def test_compile_failure_falls_back_to_eager(si_model, si_atoms, reference_result, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    def broken_compile(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("no compiler here")

    monkeypatch.setattr(torch, "compile", broken_compile)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        predictor = Predictor(si_model, device="cpu", compile=True, kernel="e3nn")
    assert any("torch.compile failed" in str(w.message) for w in caught)
    assert not predictor.compiled and "no compiler here" in predictor.describe()["compile_error"]


def test_model_is_kept_resident(si_model) -> None:  # type: ignore[no-untyped-def]
    first = deepaw_nb.get_predictor(si_model, "cpu", "fp32")
    assert deepaw_nb.get_predictor(si_model, "cpu", "fp32") is first


def test_compile_with_the_fast_kernel_is_reported_as_not_applied(si_model) -> None:  # type: ignore[no-untyped-def]
    predictor = Predictor(si_model, device="cpu", compile=True, kernel="fast")
    assert not predictor.compiled and "eagerly" in predictor.describe()["compile_error"]
