"""Tests of deepaw_nb.graph against a brute-force enumeration of lattice translations."""

from __future__ import annotations

import itertools
import json
import time
from pathlib import Path

import numpy as np
import pytest
from ase.geometry import cellpar_to_cell

import deepaw_nb.graph.grid_probes as grid_probes
import deepaw_nb.graph.neighbors as neighbors
import deepaw_nb.graph.run_expansion as run_expansion
from deepaw_nb.errors import GridError, StructureError
from deepaw_nb.graph import Edges, GridProbeGraph, atom_edges, point_edges

REFERENCE = Path(__file__).resolve().parents[1].parent / "shared" / "reference"
CUTOFF = 4.0
AMBIGUOUS = 1e-9  # Å: pairs this close to the cutoff may fall either way (rounding)


# -- brute force ------------------------------------------------------------------------


def brute_force(positions, cell, receivers, cutoff, exclude_self=False):
    """All (receiver, sender, translation) with |vector| < cutoff, by enumeration.

    Returns ``(edges, ambiguous)``: a dict key -> vector (Å) of the clear edges and the
    set of keys within AMBIGUOUS of the cutoff (either answer is acceptable for those).
    """
    inv = np.linalg.inv(cell)
    pad = cutoff * np.linalg.norm(inv, axis=0)
    diff = (receivers @ inv)[:, None, :] - (positions @ inv)[None, :, :]
    lo = np.floor(diff.min(axis=(0, 1)) - pad).astype(int) - 1  # generous range
    hi = np.ceil(diff.max(axis=(0, 1)) + pad).astype(int) + 1
    shifts = np.array(list(itertools.product(*(range(a, b + 1) for a, b in zip(lo, hi)))))
    vec = receivers[:, None, None, :] - (
        positions[None, :, None, :] + (shifts @ cell)[None, None, :, :]
    )
    dist = np.sqrt(np.sum(vec * vec, axis=-1))
    near = dist < cutoff + 2 * AMBIGUOUS
    if exclude_self:
        zero = np.all(shifts == 0, axis=1)
        for i in range(len(positions)):
            near[i, i, zero] = False
    edges, ambiguous = {}, set()
    for r, s, t in zip(*np.nonzero(near)):
        key = (int(r), int(s), tuple(int(x) for x in shifts[t]))
        if abs(dist[r, s, t] - cutoff) < AMBIGUOUS:
            ambiguous.add(key)
        elif dist[r, s, t] < cutoff:
            edges[key] = vec[r, s, t]
    return edges, ambiguous


def edge_keys(edges: Edges, positions, cell, receivers):
    """(receiver, sender, translation) of every edge, translation recovered from the vector."""
    inv = np.linalg.inv(cell)
    t = (receivers[edges.receiver] - positions[edges.sender] - edges.vectors) @ inv
    t_int = np.round(t).astype(int)
    assert np.allclose(t, t_int, atol=1e-6), "vector is not receiver - (sender + lattice vector)"
    return [(int(r), int(s), tuple(x)) for r, s, x in zip(edges.receiver, edges.sender, t_int)]


def assert_matches(edges: Edges, positions, cell, receivers, exclude_self=False):
    """Compare with brute force: same edge set, same vectors, documented sort order."""
    assert edges.sender.dtype == np.int64 and edges.receiver.dtype == np.int64
    assert edges.vectors.dtype == np.float64 and edges.vectors.shape == (edges.num_edges, 3)
    assert edges.vectors.flags.c_contiguous
    expected, ambiguous = brute_force(positions, cell, receivers, CUTOFF, exclude_self)
    keys = edge_keys(edges, positions, cell, receivers)
    assert len(set(keys)) == len(keys), "duplicate edges"
    got = {k: i for i, k in enumerate(keys) if k not in ambiguous}
    assert set(got) == set(expected)
    if expected:
        idx = [got[k] for k in expected]
        want = np.array(list(expected.values()))
        np.testing.assert_allclose(edges.vectors[idx], want, atol=1e-10, rtol=0)
    # Sorted by receiver, then sender, then translation (lexicographic).
    assert keys == sorted(keys)
    assert np.all(edges.lengths < CUTOFF)


# -- cells --------------------------------------------------------------------------------


def _rotation(rng):
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    return q * np.sign(np.linalg.det(q))


def make_case(name: str, seed: int):
    """(positions, cell) for a named cell shape; some atoms start outside the cell."""
    rng = np.random.default_rng(seed)
    cellpar = {
        "triclinic": [4.1, 5.3, 6.2, 75, 104, 68],
        "skewed": [5.0, 5.5, 6.0, 25, 30, 28],  # lattice vectors ~25-30 degrees apart
        "tiny_axis": [1.5, 4.5, 5.0, 80, 100, 95],  # a 1.5 Å axis: many self images
        "thin_slab": [6.0, 6.5, 7.0, 20, 90, 90],  # perpendicular width ~2.4 Å < cutoff
        "small": [2.2, 2.6, 3.0, 88, 95, 110],  # every axis shorter than the cutoff
        "cubic": [5.0, 5.0, 5.0, 90, 90, 90],
        "long": [4.5, 5.0, 14.0, 80, 95, 105],  # rows longer than 3 cutoffs: split in units
    }[name]
    cell = cellpar_to_cell(cellpar) @ _rotation(rng).T
    n_atoms = 4
    frac = rng.uniform(-0.4, 1.4, size=(n_atoms, 3))
    return frac @ cell, cell


CASES = ["triclinic", "skewed", "tiny_axis", "thin_slab", "small", "cubic"]


# -- atom and point graphs ------------------------------------------------------------------


@pytest.mark.parametrize("name", CASES)
def test_atom_edges_match_brute_force(name):
    positions, cell = make_case(name, seed=1)
    edges = atom_edges(positions, cell, CUTOFF)
    assert_matches(edges, positions, cell, positions, exclude_self=True)


@pytest.mark.parametrize("name", CASES)
def test_point_edges_match_brute_force(name):
    positions, cell = make_case(name, seed=2)
    rng = np.random.default_rng(3)
    points = rng.uniform(-0.5, 1.5, size=(40, 3)) @ cell  # inside and outside the cell
    edges = point_edges(positions, cell, points, CUTOFF)
    assert_matches(edges, positions, cell, points)


def test_receiver_chunks_and_sort_paths(monkeypatch):
    positions, cell = make_case("skewed", seed=8)
    points = np.random.default_rng(9).uniform(0, 1, size=(30, 3)) @ cell
    whole_a = atom_edges(positions, cell, CUTOFF)
    whole_p = point_edges(positions, cell, points, CUTOFF)
    monkeypatch.setattr(neighbors, "_POINTS_PER_CHUNK", 3)
    for got, ref in ((atom_edges(positions, cell, CUTOFF), whole_a),
                     (point_edges(positions, cell, points, CUTOFF), whole_p)):
        np.testing.assert_array_equal(got.receiver, ref.receiver)
        np.testing.assert_array_equal(got.sender, ref.sender)
        np.testing.assert_array_equal(got.vectors, ref.vectors)
    # Radix path (16-bit keys) and general path give the (receiver, image) order.
    rng = np.random.default_rng(10)
    for num_images, num_receivers in ((500, 60_000), (500, 70_000), (200_000, 1000)):
        key = rng.choice(num_receivers * num_images, size=5000, replace=False)
        recv, img = key // num_images, key % num_images
        order = neighbors._receiver_image_order(recv, img, num_images)
        np.testing.assert_array_equal(order, np.lexsort((img, recv)))


def test_images_of_the_same_atom_are_neighbours():
    cell = np.diag([1.5, 10.0, 10.0])
    edges = atom_edges(np.zeros((1, 3)), cell, CUTOFF)
    # Images at +-1.5 and +-3.0 Å along x: 4 edges, none of length zero.
    assert edges.num_edges == 4
    assert np.all(edges.sender == 0) and np.all(edges.receiver == 0)
    np.testing.assert_allclose(np.sort(edges.vectors[:, 0]), [-3.0, -1.5, 1.5, 3.0])


def test_cutoff_is_strict():
    cell = np.eye(3) * 4.0  # simple cubic: six neighbours at exactly 4.0 Å
    assert atom_edges(np.zeros((1, 3)), cell, 4.0).num_edges == 0
    assert atom_edges(np.zeros((1, 3)), cell, 4.0 + 1e-9).num_edges == 6
    # Grid points exactly 4.0 Å from the atom (exact binary arithmetic) are excluded.
    big = np.eye(3) * 8.0
    graph = GridProbeGraph(np.zeros((1, 3)), big, (16, 16, 16), 4.0)
    got = graph.edges(0, graph.num_probes)
    frac = np.stack(np.meshgrid(*[np.arange(16) / 16] * 3, indexing="ij"), -1).reshape(-1, 3)
    d = (frac - np.round(frac)) * 8.0
    assert got.num_edges == int(np.sum(np.sum(d * d, axis=1) < 16.0))
    assert np.all(got.lengths < 4.0)


def test_isolated_atom_and_empty_inputs():
    edges = atom_edges(np.zeros((1, 3)), np.eye(3) * 20.0, CUTOFF)
    assert edges.num_edges == 0 and edges.vectors.shape == (0, 3)
    assert point_edges(np.zeros((1, 3)), np.eye(3) * 5.0, np.zeros((0, 3)), CUTOFF).num_edges == 0
    graph = GridProbeGraph(np.zeros((1, 3)), np.eye(3) * 5.0, (4, 4, 4), CUTOFF)
    assert graph.edges(10, 10).num_edges == 0
    assert np.array_equal(graph.edges(10, 10).receiver_offsets(0), [0])


# -- grid probe graph ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name,shape", [("triclinic", (5, 4, 7)), ("skewed", (4, 6, 5)), ("tiny_axis", (3, 5, 6)),
                   ("thin_slab", (6, 3, 4)), ("small", (2, 3, 9)), ("cubic", (1, 1, 12)),
                   ("long", (3, 4, 20))]
)
def test_grid_edges_match_brute_force_and_batches_concatenate(name, shape):
    positions, cell = make_case(name, seed=4)
    graph = GridProbeGraph(positions, cell, shape, CUTOFF)
    nx, ny, nz = shape
    probes = graph.probe_positions(0, graph.num_probes)
    i, j, k = np.unravel_index(np.arange(graph.num_probes), shape)  # C order
    np.testing.assert_allclose(probes, np.stack([i / nx, j / ny, k / nz], 1) @ cell, atol=1e-12)
    whole = graph.edges(0, graph.num_probes)
    assert_matches(whole, positions, cell, probes)
    # Same arrays as the general point graph on the same points.
    ref = point_edges(positions, cell, probes, CUTOFF)
    np.testing.assert_array_equal(whole.sender, ref.sender)
    np.testing.assert_array_equal(whole.receiver, ref.receiver)
    np.testing.assert_allclose(whole.vectors, ref.vectors, atol=1e-12, rtol=0)
    # Batches (cutting through rows and i-planes) concatenate to the whole grid.
    offsets = whole.receiver_offsets(graph.num_probes)
    for size in (1, 5, ny * nz - 3, ny * nz + 2, 2 * ny * nz + 1):
        for start in range(0, graph.num_probes, max(1, size)):
            stop = min(start + size, graph.num_probes)
            part = graph.edges(start, stop)
            sl = slice(offsets[start], offsets[stop])
            np.testing.assert_array_equal(part.receiver + start, whole.receiver[sl])
            np.testing.assert_array_equal(part.sender, whole.sender[sl])
            np.testing.assert_array_equal(part.vectors, whole.vectors[sl])


def test_grid_chunking_paths(monkeypatch):
    """Tiny internal budgets force many row chunks and expansion blocks: same result."""
    positions, cell = make_case("triclinic", seed=5)
    graph = GridProbeGraph(positions, cell, (9, 7, 11), CUTOFF)
    expected = graph.edges(0, graph.num_probes)
    monkeypatch.setattr(grid_probes, "_PAIR_BUDGET", 7)
    monkeypatch.setattr(run_expansion, "EDGE_BLOCK", 50)
    for start, stop in [(0, graph.num_probes), (13, 400), (77, 78)]:
        got = graph.edges(start, stop)
        sl = slice(*expected.receiver_offsets(graph.num_probes)[[start, stop]])
        np.testing.assert_array_equal(got.receiver + start, expected.receiver[sl])
        np.testing.assert_array_equal(got.sender, expected.sender[sl])
        np.testing.assert_array_equal(got.vectors, expected.vectors[sl])


def test_batch_cost_scales_with_batch_not_grid():
    positions, cell = make_case("triclinic", seed=6)
    graph = GridProbeGraph(positions, cell, (600, 600, 600), CUTOFF)  # 2.16e8 probes
    t0 = time.perf_counter()
    part = graph.edges(graph.num_probes // 2 + 17, graph.num_probes // 2 + 1017)
    assert time.perf_counter() - t0 < 1.0  # a whole-grid pass would take minutes
    assert part.num_edges > 0 and part.receiver.max() < 1000


def test_receiver_offsets():
    positions, cell = make_case("triclinic", seed=7)
    edges = atom_edges(positions, cell, CUTOFF)
    n = len(positions)
    offsets = edges.receiver_offsets(n)
    assert offsets.dtype == np.int64 and offsets.shape == (n + 1,)
    assert offsets[0] == 0 and offsets[-1] == edges.num_edges
    np.testing.assert_array_equal(np.diff(offsets), np.bincount(edges.receiver, minlength=n))
    with pytest.raises(ValueError):
        edges.receiver_offsets(int(edges.receiver.max()))


# -- reference fixtures ------------------------------------------------------------------------


def _reference_cases():
    manifest = REFERENCE / "manifest.json"
    if not manifest.exists():
        return []
    return [entry["structure"].removesuffix(".json") for entry in json.loads(manifest.read_text())]


@pytest.mark.parametrize("case", _reference_cases() or ["missing"])
def test_reference_edge_counts(case):
    path = REFERENCE / f"{case}_expected.npz"
    if not path.exists():
        pytest.skip(f"reference fixtures not found at {REFERENCE} (shared/reference/ beside repo)")
    ref = np.load(path)
    atoms = atom_edges(ref["positions"], ref["cell"], CUTOFF)
    probes = point_edges(ref["positions"], ref["cell"], ref["probe_xyz"], CUTOFF)
    assert atoms.num_edges == int(ref["num_atom_edges"])
    assert probes.num_edges == int(ref["num_probe_edges"])


# -- input validation ------------------------------------------------------------------------


GOOD_POS, GOOD_CELL = np.zeros((1, 3)), np.eye(3) * 5.0


@pytest.mark.parametrize(
    "positions,cell,cutoff",
    [
        (np.array([[np.nan, 0, 0]]), GOOD_CELL, CUTOFF),
        (np.zeros((1, 2)), GOOD_CELL, CUTOFF),
        (np.zeros((0, 3)), GOOD_CELL, CUTOFF),
        (GOOD_POS, np.array([[1, 0, 0], [0, 1, 0], [1, 1, 0.0]]), CUTOFF),
        (GOOD_POS, np.diag([5.0, 5.0, 0.0]), CUTOFF),
        (GOOD_POS, np.eye(2), CUTOFF),
        (GOOD_POS, np.full((3, 3), np.inf), CUTOFF),
        (GOOD_POS, GOOD_CELL, 0.0),
        (GOOD_POS, GOOD_CELL, -1.0),
        (GOOD_POS, GOOD_CELL, float("nan")),
        (GOOD_POS, GOOD_CELL, "4"),
    ],
)
def test_bad_structures_raise_structure_error(positions, cell, cutoff):
    for call in (
        lambda: atom_edges(positions, cell, cutoff),
        lambda: point_edges(positions, cell, np.zeros((1, 3)), cutoff),
        lambda: GridProbeGraph(positions, cell, (4, 4, 4), cutoff),
    ):
        with pytest.raises(StructureError) as info:
            call()
        assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    "shape", [(0, 4, 4), (4, -1, 4), (4, 4), (4.0, 4, 4), "abc", None, (True, 4, 4)]
)
def test_bad_grid_shape_raises_grid_error(shape):
    with pytest.raises(GridError):
        GridProbeGraph(GOOD_POS, GOOD_CELL, shape, CUTOFF)


def test_bad_batches_and_points_raise_grid_error():
    graph = GridProbeGraph(GOOD_POS, GOOD_CELL, (4, 4, 4), CUTOFF)
    for start, stop in [(-1, 5), (5, 4), (0, 65), (0.5, 3)]:
        with pytest.raises(GridError):
            graph.edges(start, stop)
    with pytest.raises(GridError):
        point_edges(GOOD_POS, GOOD_CELL, np.array([[0.0, np.inf, 0.0]]), CUTOFF)
    with pytest.raises(GridError):
        point_edges(GOOD_POS, GOOD_CELL, np.zeros((3, 2)), CUTOFF)


def test_absurdly_thin_cell_is_refused():
    with pytest.raises(StructureError, match="thinner than"):
        atom_edges(GOOD_POS, np.diag([0.001, 0.001, 5.0]), CUTOFF)
