"""Faults injected into runs: out-of-memory back-off and resuming a killed run."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

import deepaw_nb
from conftest import REFERENCE
from deepaw_nb.engine.predictor import Predictor
from deepaw_nb.engine.stream import is_out_of_memory

GRID = (10, 10, 10)


@pytest.fixture(scope="module")
def undisturbed(si_model, si_atoms):  # type: ignore[no-untyped-def]
    return deepaw_nb.predict(si_atoms, model=si_model, grid=GRID, batch_size=300, symmetry=False, progress=False)


@pytest.mark.parametrize(
    "failure",
    [torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"),
     RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory")],
    ids=["cuda", "cpu"],
)
def test_out_of_memory_halves_the_batch_and_the_result_is_unchanged(si_model, si_atoms, undisturbed, monkeypatch, failure) -> None:  # type: ignore[no-untyped-def]
    real = Predictor._evaluate
    sizes: list[int] = []

    def flaky(self, context, edges, count, timer, want):  # type: ignore[no-untyped-def]
        sizes.append(count)
        if count > 180:
            raise failure
        return real(self, context, edges, count, timer, want)

    monkeypatch.setattr(Predictor, "_evaluate", flaky)
    result = deepaw_nb.predict(si_atoms, model=si_model, grid=GRID, batch_size=300, symmetry=False, progress=False)
    assert result.complete
    assert result.provenance["out_of_memory_retries"] >= 1 and result.provenance["events"]
    assert max(result.provenance["batch_sizes_used"]) <= 180
    assert sizes[:3] == [256, 128, 128] or 128 in sizes  # 256 failed, halved to 128 and kept
    # Equal up to float summation order (the fast kernel tiles batches of different sizes).
    scale = float(np.abs(undisturbed.density).max())
    np.testing.assert_allclose(result.density, undisturbed.density, rtol=0, atol=1e-5 * scale)


def test_other_errors_are_not_mistaken_for_out_of_memory() -> None:
    assert is_out_of_memory(MemoryError())
    assert not is_out_of_memory(RuntimeError("shape mismatch"))
    assert not is_out_of_memory(ValueError("out of memory"))


KILLED_RUN = r"""
import sys, time
import deepaw_nb, ase.io
atoms = ase.io.read(sys.argv[1])
model = deepaw_nb.load_model(sys.argv[2])
def slow(done, total, elapsed):
    print("done", done, flush=True)
    if done >= 600:
        time.sleep(600)  # killed here
deepaw_nb.predict(atoms, model=model, grid=(10, 10, 10), batch_size=300, symmetry=False,
                  progress=slow, checkpoint_dir=sys.argv[3])
"""


def test_killed_run_resumes_from_its_checkpoint(tmp_path, si_model, si_atoms, undisturbed) -> None:  # type: ignore[no-untyped-def]
    ckpt = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED_RUN, str(REFERENCE / "si_l2.json"), str(REFERENCE / "si_l2_f_nonlocal.pth"), str(ckpt)],
        stdout=subprocess.PIPE, text=True,
    )
    assert proc.stdout is not None
    deadline = time.time() + 300
    for line in proc.stdout:
        if line.startswith("done") and int(line.split()[1]) >= 600:
            break
        assert time.time() < deadline
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    model = deepaw_nb.load_model(REFERENCE / "si_l2_f_nonlocal.pth")  # same file -> same fingerprint
    resumed = deepaw_nb.predict(
        si_atoms, model=model, grid=GRID, batch_size=300, symmetry=False, progress=False, checkpoint_dir=ckpt
    )
    assert resumed.complete and resumed.provenance["resumed_probes"] >= 556
    np.testing.assert_allclose(resumed.density, undisturbed.density, rtol=0, atol=1e-7)
    again = deepaw_nb.predict(
        si_atoms, model=model, grid=GRID, batch_size=300, symmetry=False, progress=False, checkpoint_dir=ckpt
    )
    assert again.provenance["resumed_probes"] == np.prod(GRID)


def test_checkpoint_dir_of_another_run_is_refused(tmp_path, si_model, si_atoms) -> None:  # type: ignore[no-untyped-def]
    ckpt = tmp_path / "run"
    deepaw_nb.predict(si_atoms, model=si_model, grid=(4, 4, 4), symmetry=False, progress=False, checkpoint_dir=ckpt)
    with pytest.raises(deepaw_nb.OutputError, match="different run"):
        deepaw_nb.predict(si_atoms, model=si_model, grid=(5, 5, 5), symmetry=False, progress=False, checkpoint_dir=ckpt)
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "thesis.tex").write_text("precious")
    with pytest.raises(deepaw_nb.OutputError, match="not empty"):
        deepaw_nb.predict(si_atoms, model=si_model, grid=(4, 4, 4), progress=False, checkpoint_dir=tmp_path / "busy")


def test_blocks_computed_separately_assemble_to_the_undisturbed_density(tmp_path, si_model, si_atoms, undisturbed) -> None:  # type: ignore[no-untyped-def]
    """Two processes' worth of blocks (here: calls) fill one checkpoint; a last call assembles it."""
    ckpt = tmp_path / "blocks"
    args = dict(model=si_model, grid=GRID, batch_size=300, symmetry=False, progress=False, checkpoint_dir=ckpt)
    total = deepaw_nb.count_evaluations(si_atoms, grid=GRID, symmetry=False)
    assert total == np.prod(GRID)
    second = deepaw_nb.predict(si_atoms, probe_range=(400, total), **args)  # out of order on purpose
    assert not second.complete and second.filled_fraction == pytest.approx(0.6)
    first = deepaw_nb.predict(si_atoms, probe_range=(0, 400), **args)
    assert first.complete  # the other block is restored from the checkpoint
    assembled = deepaw_nb.predict(si_atoms, **args)
    assert assembled.provenance["resumed_probes"] == total
    np.testing.assert_allclose(assembled.density, undisturbed.density, rtol=1e-5, atol=1e-6 * float(undisturbed.density.max()))
    # A lost block file is recomputed by the assembling run, nothing else is.
    victim = sorted(ckpt.glob("values_*.npy"))[1]
    victim.unlink()
    repaired = deepaw_nb.predict(si_atoms, **args)
    assert 0 < total - repaired.provenance["resumed_probes"] <= 300
    np.testing.assert_allclose(repaired.density, undisturbed.density, rtol=1e-5, atol=1e-6 * float(undisturbed.density.max()))
    with pytest.raises(deepaw_nb.DeepawError, match="checkpoint_dir"):
        deepaw_nb.predict(si_atoms, model=si_model, grid=GRID, probe_range=(0, 10), progress=False)
    with pytest.raises(deepaw_nb.DeepawError, match="outside"):
        deepaw_nb.predict(si_atoms, probe_range=(0, total + 1), **args)
