"""The fast probe kernel computes the same function as the e3nn probe model (shared/reference)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase import Atoms

import deepaw_nb
from conftest import REFERENCE, load_reference_model, reference_cases
from deepaw_nb import DeviceError
from deepaw_nb.graph import atom_edges, point_edges
from deepaw_nb.kernels import FastProbeModel, PreparedAtoms, build_probe_kernel, prepare_atoms

FAST = 1e-4  # relative to max |reference|: the tolerance of a reformulation (shared/reference/README.md)
CASES = reference_cases()
_KERNELS: dict[tuple[str, bool | None], FastProbeModel] = {}


def _fast(name: str, fused: bool | None = None) -> FastProbeModel:
    """The fast kernel of a reference model (fused C messages: None = when available), built
    once per session."""
    if (name, fused) not in _KERNELS:
        if fused is None:
            kernel = build_probe_kernel(load_reference_model(name).f_nonlocal.probe_model, "fast")
        else:
            kernel = FastProbeModel(load_reference_model(name).f_nonlocal.probe_model, fused=fused).eval()
        assert isinstance(kernel, FastProbeModel)
        _KERNELS[(name, fused)] = kernel
    return _KERNELS[(name, fused)]


def _inputs(name: str, positions: np.ndarray, cell: np.ndarray, numbers: np.ndarray, probes: np.ndarray):  # type: ignore[no-untyped-def]
    """Atom context and probe edges (src, dst, vectors, count) as the engine builds them."""
    model = load_reference_model(name)
    atoms = atom_edges(positions, cell, model.cutoff)
    edges = point_edges(positions, cell, probes, model.cutoff)
    with torch.no_grad():
        context = model.atom_context(
            torch.as_tensor(numbers, dtype=torch.long),
            torch.from_numpy(atoms.sender).long(),
            torch.from_numpy(atoms.receiver).long(),
            torch.from_numpy(atoms.vectors.astype(np.float32)),
        )
    batch = (
        torch.from_numpy(edges.sender).long(),
        torch.from_numpy(edges.receiver).long(),
        torch.from_numpy(edges.vectors.astype(np.float32)),
        len(probes),
    )
    return context, batch


def _assert_close(actual: torch.Tensor | np.ndarray, expected: torch.Tensor | np.ndarray, what: str) -> float:
    actual, expected = np.asarray(actual, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape, what
    relative = float(np.abs(actual - expected).max() / np.abs(expected).max())
    assert relative <= FAST, f"{what}: max error {relative:.3g} x max|ref| > {FAST}"
    return relative


@pytest.mark.parametrize("fused", [True, False], ids=["fused-C", "torch"])
@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_fast_kernel_matches_e3nn_and_reference(case: dict, fused: bool) -> None:
    """Both message paths of the fast kernel: the fused C loop and the torch tile products."""
    expected = np.load(REFERENCE / f"{case['name']}_expected.npz")
    context, batch = _inputs(
        case["name"], expected["positions"], expected["cell"], expected["atomic_numbers"], expected["probe_xyz"]
    )
    probe_model = load_reference_model(case["name"]).f_nonlocal.probe_model
    fast = _fast(case["name"], fused)
    assert fast.prepare(context).blocked is fused
    with torch.no_grad():
        density, representation = probe_model(context, *batch)
        fast_density, fast_representation = fast(prepare_atoms(fast, context), *batch)
    assert fast_density.dtype == torch.float32 and fast_representation.dtype == torch.float32
    _assert_close(fast_density, density, "density vs e3nn")
    _assert_close(fast_representation, representation, "representation vs e3nn")
    _assert_close(fast_density, expected["density_nonlocal"], "density vs fixture")
    _assert_close(fast_representation, expected["representation"], "representation vs fixture")


@pytest.mark.skipif(not CASES, reason="reference fixtures missing")
def test_density_is_invariant_under_rotation() -> None:
    expected = np.load(REFERENCE / "triclinic_l4_expected.npz")
    rotation = torch.linalg.qr(torch.randn(3, 3, generator=torch.Generator().manual_seed(3), dtype=torch.float64))[0]
    rotation = (rotation * torch.linalg.det(rotation)).numpy()  # proper rotation
    fast = _fast("triclinic_l4")
    densities, scalars = [], []
    for r in (np.eye(3), rotation):
        context, batch = _inputs(
            "triclinic_l4",
            expected["positions"] @ r.T,
            expected["cell"] @ r.T,
            expected["atomic_numbers"],
            expected["probe_xyz"] @ r.T,
        )
        with torch.no_grad():
            density, representation = fast(context, *batch)  # an AtomContext is prepared on the fly
        densities.append(density)
        scalars.append(representation[:, :100])  # the leading 100x0e block is invariant too
    _assert_close(densities[1], densities[0], "density of the rotated structure")
    _assert_close(scalars[1], scalars[0], "invariant features of the rotated structure")


@pytest.mark.skipif(not CASES, reason="reference fixtures missing")
def test_unsorted_edges_empty_probes_and_small_chunks() -> None:
    expected = np.load(REFERENCE / "si_l2_expected.npz")
    context, (src, dst, vec, count) = _inputs(
        "si_l2", expected["positions"], expected["cell"], expected["atomic_numbers"], expected["probe_xyz"][:20]
    )
    keep = dst != 7  # probe 7 has no neighbours at all
    order = torch.randperm(int(keep.sum()), generator=torch.Generator().manual_seed(0))
    batch = (src[keep][order], dst[keep][order], vec[keep][order], count)
    probe_model = load_reference_model("si_l2").f_nonlocal.probe_model
    tiny = FastProbeModel(probe_model, edge_chunk=30, tile=7, workers=1).eval()
    two = FastProbeModel(probe_model, workers=2).eval()  # chunks on two threads
    # Tables built per chunk (as for cells above the table budget), chunks on two threads.
    per_chunk = FastProbeModel(probe_model, edge_chunk=30, tile=7, workers=2, table_budget=0).eval()
    assert per_chunk.prepare(context).tables_per_chunk and not two.prepare(context).tables_per_chunk
    # The same with the torch message path (the fused C loop is the default where it builds).
    torch_paths = [
        FastProbeModel(probe_model, edge_chunk=30, tile=7, workers=w, table_budget=b, fused=False).eval()
        for w, b in ((1, None), (2, 0))
    ]
    threads = torch.get_num_threads()
    with torch.no_grad():
        density, representation = probe_model(context, *batch)
        for kernel in (_fast("si_l2"), tiny, two, per_chunk, *torch_paths):
            fast_density, fast_representation = kernel(kernel.prepare(context), *batch)
            _assert_close(fast_density, density, "density")
            _assert_close(fast_representation, representation, "representation")
    assert torch.get_num_threads() == threads


@pytest.mark.skipif(not CASES, reason="reference fixtures missing")
def test_reduced_precision_runs_and_stays_close() -> None:
    expected = np.load(REFERENCE / "si_l2_expected.npz")
    context, batch = _inputs(
        "si_l2", expected["positions"], expected["cell"], expected["atomic_numbers"], expected["probe_xyz"]
    )
    fast = _fast("si_l2")
    prepared = fast.prepare(context)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        density, representation = fast(prepared, *batch)
    assert density.dtype == torch.float32 and representation.dtype == torch.float32
    reference = expected["density_nonlocal"]
    assert np.abs(density.numpy() - reference).max() < 0.03 * np.abs(reference).max()


@pytest.mark.skipif(not CASES, reason="reference fixtures missing")
def test_kernel_option_through_the_api() -> None:
    expected = np.load(REFERENCE / "si_l2_expected.npz")
    atoms = Atoms(numbers=expected["atomic_numbers"], positions=expected["positions"], cell=expected["cell"], pbc=True)
    model = load_reference_model("si_l2")
    points = expected["probe_xyz"][:40]
    fast = deepaw_nb.predict_points(atoms, points, model=model, device="cpu", kernel="fast")
    reference = deepaw_nb.predict_points(atoms, points, model=model, device="cpu", kernel="e3nn")
    _assert_close(fast, reference, "predict_points fast vs e3nn")
    predictor = deepaw_nb.get_predictor(model, "cpu", "fp32", kernel="fast")
    assert predictor.describe()["kernel"] == "fast" and "torch" in predictor.describe()["kernel_backend"]
    assert deepaw_nb.get_predictor(model, "cpu", "fp32", kernel="e3nn").describe()["kernel_backend"] == "e3nn"
    assert build_probe_kernel(model.f_nonlocal.probe_model, "e3nn") is model.f_nonlocal.probe_model
    context = object()
    assert prepare_atoms(model.f_nonlocal.probe_model, context) is context  # identity for e3nn
    with pytest.raises(DeviceError, match="kernel 'triton' is not known") as info:
        deepaw_nb.predict_points(atoms, points, model=model, kernel="triton")
    assert "\n" not in str(info.value)


@pytest.mark.skipif(not CASES, reason="reference fixtures missing")
def test_tables_per_chunk_above_the_budget_give_the_same_values() -> None:
    """Full model: a cell whose tables exceed the budget keeps only sender features, and each
    chunk builds the tables of its own atoms; the values equal the per-structure tables."""
    expected = np.load(REFERENCE / "hfo2_full_expected.npz")
    context, batch = _inputs(
        "hfo2_full", expected["positions"], expected["cell"], expected["atomic_numbers"], expected["probe_xyz"][:60]
    )
    whole = _fast("hfo2_full")
    per_atom = whole.table_bytes_per_atom
    assert 0.9e6 < per_atom < 1.0e6  # 0.95 MB per atom for the published size
    budget = FastProbeModel(load_reference_model("hfo2_full").f_nonlocal.probe_model, edge_chunk=200, table_budget=5 * per_atom)
    prepared = budget.prepare(context)
    assert prepared.tables_per_chunk and prepared.nbytes < 12 * per_atom / 50  # features only
    assert prepared.to("cpu").tables_per_chunk and prepared.tables_as(torch.bfloat16) is None
    with torch.no_grad():
        reference = whole(whole.prepare(context), *batch)
        chunked = budget(prepared, *batch)
    for got, want, what in zip(chunked, reference, ("density", "representation")):
        assert float((got - want).abs().max() / want.abs().max()) < 1e-6, what


def test_prepared_atoms_move_between_devices() -> None:
    prepared = PreparedAtoms([[torch.ones(2, 1, 3)]], 2)
    moved = prepared.to("cpu")
    assert moved.num_atoms == 2 and moved.nbytes == 24 and moved.tables_as(torch.float32) is moved.tables
    half = moved.tables_as(torch.bfloat16)
    assert half[0][0].dtype == torch.bfloat16 and moved.tables_as(torch.bfloat16) is half  # made once, kept
