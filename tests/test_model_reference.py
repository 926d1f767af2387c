"""Exactness against the reference DeePAW implementation (../shared/reference)."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms

import deepaw_nb
from conftest import REFERENCE, load_reference_model, reference_cases

EXACT = 1e-5  # relative to max |expected|, float32 (shared/reference/README.md)
CASES = reference_cases()


def _structure(expected) -> Atoms:  # type: ignore[no-untyped-def]
    return Atoms(
        numbers=expected["atomic_numbers"], positions=expected["positions"], cell=expected["cell"], pbc=True
    )


def _assert_exact(actual: np.ndarray, expected: np.ndarray, what: str) -> None:
    scale = float(np.abs(expected).max())
    err = float(np.abs(actual - expected).max())
    assert actual.shape == expected.shape, what
    assert err <= EXACT * scale, f"{what}: max error {err:.3g} > {EXACT} x {scale:.3g}"


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_fixture_reproduced_through_predict_points(case: dict) -> None:
    expected = np.load(REFERENCE / f"{case['name']}_expected.npz")
    if case["with_f_local"]:
        load_reference_model(case["name"], with_f_local=True)  # built once, shared below
    model = load_reference_model(case["name"])
    density, representation = deepaw_nb.predict_points(
        _structure(expected), expected["probe_xyz"], model=model, return_representation=True, device="cpu"
    )
    _assert_exact(density, expected["density_nonlocal"], "F_nonlocal density")
    _assert_exact(representation, expected["representation"], "probe representation")


@pytest.mark.skipif(not CASES, reason="reference fixtures missing")
def test_f_local_correction_and_total_density() -> None:
    case = next(c for c in CASES if c["with_f_local"])
    expected = np.load(REFERENCE / f"{case['name']}_expected.npz")
    model = load_reference_model(case["name"], with_f_local=True)
    total = deepaw_nb.predict_points(_structure(expected), expected["probe_xyz"], model=model, device="cpu")
    _assert_exact(total, expected["density_total"], "F_nonlocal + F_local")
    import torch

    with torch.no_grad():
        correction = model.f_local(torch.as_tensor(expected["representation"])).numpy()
    _assert_exact(correction, expected["correction_local"], "F_local correction")


@pytest.mark.skipif(not CASES, reason="reference fixtures missing")
def test_small_batches_give_the_same_answer() -> None:
    case = next(c for c in CASES if c["name"] == "triclinic_l4")
    expected = np.load(REFERENCE / f"{case['name']}_expected.npz")
    model = load_reference_model(case["name"])
    whole = deepaw_nb.predict_points(_structure(expected), expected["probe_xyz"], model=model, batch_size=1000)
    pieces = deepaw_nb.predict_points(_structure(expected), expected["probe_xyz"], model=model, batch_size=7)
    np.testing.assert_allclose(pieces, whole, rtol=0, atol=1e-6 * np.abs(whole).max())
    _assert_exact(pieces, expected["density_nonlocal"], "batched density")


@pytest.mark.skipif(not CASES, reason="reference fixtures missing")
def test_chunked_atom_messages_are_exact(monkeypatch) -> None:
    """Large cells split the atom graph's messages into chunks; the result must not change."""
    import deepaw_nb.model.f_nonlocal as f_nonlocal

    case = next(c for c in CASES if c["name"] == "hfo2_full")  # 264 atom edges: two chunks
    expected = np.load(REFERENCE / f"{case['name']}_expected.npz")
    load_reference_model(case["name"], with_f_local=True)
    model = load_reference_model(case["name"])
    monkeypatch.setattr(f_nonlocal, "ATOM_EDGE_CHUNK_BYTES", 1)  # -> the minimum chunk of 256 edges
    conv = model.f_nonlocal.atom_model.interaction_block.convolutions[0]
    assert conv.edge_chunk_for(f_nonlocal.ATOM_EDGE_CHUNK_BYTES) == 256
    density = deepaw_nb.predict_points(_structure(expected), expected["probe_xyz"], model=model)
    _assert_exact(density, expected["density_nonlocal"], "density with chunked atom messages")
