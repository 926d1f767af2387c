"""The fused C message kernel (deepaw_nb/kernels/fused_c.py): build, self-check, fallbacks."""

from __future__ import annotations

import os

import pytest
import torch
from conftest import load_reference_model, reference_cases

from deepaw_nb import DeviceError
from deepaw_nb.kernels import FastProbeModel, describe_kernel, fused_c

# CI installs a C compiler, so the fused loop must build there; DEEPAW_NB_FUSED=0 opts out.
WANTED = os.environ.get("DEEPAW_NB_FUSED", "1") not in ("0", "false", "no", "off")
CASES_AVAILABLE = bool(reference_cases())


@pytest.fixture()
def fresh_state(monkeypatch, tmp_path):  # type: ignore[no-untyped-def]
    """A private build cache and a forgotten load state; both restored afterwards."""
    monkeypatch.setenv("DEEPAW_NB_CACHE", str(tmp_path / "cache"))
    fused_c.reload()
    yield tmp_path / "cache"
    monkeypatch.undo()
    fused_c.reload()


@pytest.mark.skipif(not WANTED, reason="DEEPAW_NB_FUSED=0")
def test_builds_and_passes_its_check_against_torch(fresh_state) -> None:  # type: ignore[no-untyped-def]
    assert fused_c.kernel() is not None, fused_c.unavailable_reason()
    assert fused_c.unavailable_reason() is None
    built = list(fresh_state.glob("fused_messages-*.so"))
    assert len(built) == 1 and not list(fresh_state.glob(".fused_messages-*"))  # no half-written files
    fused_c.reload()
    assert fused_c.kernel() is not None and list(fresh_state.glob("fused_messages-*.so")) == built  # reused


def test_block_layout_round_trips_every_column() -> None:
    layout = fused_c.block_layout([(0, 70), (70, 45), (115, 3)])
    assert layout.blocks == 3 + 2 + 1 and layout.weight_width == 70
    table = (torch.arange(118.0) + 1).view(1, 1, 118).repeat(2, 1, 1)  # (atoms, K, columns), no zeros
    blocked = fused_c.blocked_table(table, layout)  # (blocks, atoms, K, BLOCK)
    assert blocked.shape == (6, 2, 1, fused_c.BLOCK)
    assert int((blocked == 0).sum()) == 2 * (6 * fused_c.BLOCK - 118)  # only the padding is zero
    as_sums = blocked[:, :, 0, :].contiguous()  # the two atoms read as two probes' sums
    assert torch.equal(fused_c.unblocked_sums(as_sums, layout), table[:, 0, :])


def test_disabled_or_unbuildable_falls_back_to_the_torch_path(fresh_state, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("DEEPAW_NB_FUSED", "0")
    fused_c.reload()
    assert fused_c.kernel() is None and "DEEPAW_NB_FUSED=0" in fused_c.unavailable_reason()
    monkeypatch.setenv("DEEPAW_NB_FUSED", "1")
    monkeypatch.setenv("CC", "false")  # a "compiler" that always fails
    monkeypatch.setattr(fused_c, "_compiler", lambda: "/bin/false")
    fused_c.reload()
    assert fused_c.kernel() is None and fused_c.unavailable_reason().startswith("build failed")
    assert not list(fresh_state.glob("*.so")) and not list(fresh_state.glob(".fused_messages-*"))
    if not CASES_AVAILABLE:
        return
    probe_model = load_reference_model("si_l2").f_nonlocal.probe_model
    automatic = FastProbeModel(probe_model).eval()
    assert automatic.fused_function(torch.device("cpu")) is None  # falls back quietly
    assert "fused" not in describe_kernel(automatic)
    with pytest.raises(DeviceError, match="fused C kernel is not available: build failed") as info:
        FastProbeModel(probe_model, fused=True).fused_function(torch.device("cpu"))
    assert "\n" not in str(info.value)


@pytest.mark.skipif(not WANTED or not CASES_AVAILABLE, reason="DEEPAW_NB_FUSED=0 or reference fixtures missing")
def test_provenance_names_the_fused_loop() -> None:
    kernel = FastProbeModel(load_reference_model("si_l2").f_nonlocal.probe_model).eval()
    assert "fused C messages" in describe_kernel(kernel)
    assert "fused" not in describe_kernel(FastProbeModel(load_reference_model("si_l2").f_nonlocal.probe_model, fused=False))
