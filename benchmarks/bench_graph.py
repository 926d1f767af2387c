"""Benchmark of the neighbour-graph module (cutoff 4.0 Å).

1. Probe graph of monoclinic HfO2 (12 atoms) on an 80x80x80 grid, about 11.9 M edges:
   ``GridProbeGraph`` versus a scipy KD-tree baseline in the style of the reference DeePAW
   code (KD-tree over the periodic atom images near the cell, ``query_ball_point`` per
   batch of probes, index arrays built from the returned lists).  Both produce the same
   sorted edge arrays; the script checks that they are identical.
2. ``atom_edges`` for an 8,000-atom diamond-Si supercell (10x10x10 conventional cells), and
   ``GridProbeGraph`` for the same cell on a 108^3 grid (1.26 M probes) in batches.
3. ``point_edges`` for 50,000 random points in the HfO2 cell.

Run from the repository root:  ``python benchmarks/bench_graph.py [--repeats 5]``.
Timings are medians over repeats; baseline and new code alternate within each repeat so
that load from other processes hits both alike.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time
from pathlib import Path

import ase.io
import numpy as np
from ase.build import bulk
from scipy.spatial import cKDTree

from deepaw_nb.graph import Edges, GridProbeGraph, atom_edges, point_edges
from deepaw_nb.graph.images import padded_images

REFERENCE = Path(__file__).resolve().parents[1].parent / "shared" / "reference"
CUTOFF = 4.0
GRID = (80, 80, 80)
BATCH = 50_000


def kdtree_baseline(positions: np.ndarray, cell: np.ndarray, probes: np.ndarray) -> Edges:
    """KD-tree probe graph, written the straightforward way (the reference approach)."""
    images = padded_images(positions, cell, CUTOFF)  # atom images near the cell, Å
    tree = cKDTree(images.cart)
    neighbours = tree.query_ball_point(probes, CUTOFF)  # sorted image lists per probe
    counts = np.fromiter((len(n) for n in neighbours), dtype=np.int64, count=len(neighbours))
    receiver = np.repeat(np.arange(probes.shape[0], dtype=np.int64), counts)
    image = np.concatenate(neighbours).astype(np.int64) if counts.sum() else np.zeros(0, np.int64)
    vectors = probes[receiver] - images.cart[image]
    keep = np.einsum("ij,ij->i", vectors, vectors) < CUTOFF * CUTOFF
    return Edges(sender=images.atom[image[keep]], receiver=receiver[keep], vectors=vectors[keep])


def run_batches(fn, num_probes: int, batch: int) -> int:
    """Call ``fn(start, stop)`` over consecutive batches; return the total edge count."""
    total = 0
    for start in range(0, num_probes, batch):
        total += fn(start, min(start + batch, num_probes)).num_edges
    return total


def timed(fn) -> tuple[float, float, object]:
    """Run ``fn``; return (wall seconds, CPU seconds of this process, result)."""
    w0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - w0, time.process_time() - c0, out


def bench_probe_graph(repeats: int) -> list[tuple[str, float, float, int]]:
    atoms = ase.io.read(REFERENCE / "hfo2_full.json")
    positions, cell = atoms.get_positions(), np.array(atoms.get_cell())
    build_t, _, graph = timed(lambda: GridProbeGraph(positions, cell, GRID, CUTOFF))
    n = graph.num_probes

    def baseline(start: int, stop: int) -> Edges:
        return kdtree_baseline(positions, cell, graph.probe_positions(start, stop))

    # Identical output check on a batch that starts and ends mid-row.
    a, b = 123_457, 123_457 + BATCH
    new_e, ref_e = graph.edges(a, b), baseline(a, b)
    assert np.array_equal(new_e.sender, ref_e.sender)
    assert np.array_equal(new_e.receiver, ref_e.receiver)
    assert np.allclose(new_e.vectors, ref_e.vectors, rtol=0, atol=1e-12)

    cases = {
        f"baseline, batches of {BATCH:,}": lambda: run_batches(baseline, n, BATCH),
        f"GridProbeGraph, batches of {BATCH:,}": lambda: run_batches(graph.edges, n, BATCH),
        "baseline, one shot": lambda: baseline(0, n).num_edges,
        "GridProbeGraph, one shot": lambda: graph.edges(0, n).num_edges,
    }
    walls: dict[str, list[float]] = {k: [] for k in cases}
    cpus: dict[str, list[float]] = {k: [] for k in cases}
    counts: dict[str, int] = {}
    for _ in range(repeats):
        for name, fn in cases.items():
            wall, cpu, count = timed(fn)
            walls[name].append(wall)
            cpus[name].append(cpu)
            counts[name] = int(count)
    assert len(set(counts.values())) == 1, f"edge counts differ: {counts}"
    edges = next(iter(counts.values()))
    print(f"\nHfO2, {len(positions)} atoms, grid {GRID}, cutoff {CUTOFF} Å, {n:,} probes, "
          f"{edges:,} edges; graph setup {build_t * 1e3:.1f} ms")
    med = statistics.median
    return [(k, med(walls[k]), med(cpus[k]), counts[k]) for k in cases]


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench_big_cell(repeats: int) -> None:
    """8,000-atom Si: atom graph, and a 1.26 M-probe grid processed in batches."""
    si = bulk("Si", "diamond", a=5.431, cubic=True).repeat((10, 10, 10))
    positions, cell = si.get_positions(), np.array(si.get_cell())
    med = statistics.median
    rss0 = _peak_rss_mb()
    walls, cpus, count = [], [], 0
    for _ in range(repeats):
        wall, cpu, e = timed(lambda: atom_edges(positions, cell, CUTOFF))
        walls.append(wall)
        cpus.append(cpu)
        count = e.num_edges
    rss1 = _peak_rss_mb()
    print(f"atom_edges, diamond Si {len(si):,} atoms: {med(walls):.3f} s wall, "
          f"{med(cpus):.3f} s CPU, {count:,} edges, peak RSS growth {rss1 - rss0:.0f} MB")
    shape = (108, 108, 108)  # 0.50 Å spacing
    _, _, graph = timed(lambda: GridProbeGraph(positions, cell, shape, CUTOFF))
    walls, cpus = [], []
    for _ in range(max(1, repeats // 2)):
        wall, cpu, count = timed(lambda: run_batches(graph.edges, graph.num_probes, BATCH))
        walls.append(wall)
        cpus.append(cpu)
    print(f"GridProbeGraph, same cell, grid {shape} = {graph.num_probes:,} probes in batches "
          f"of {BATCH:,}: {med(walls):.3f} s wall, {med(cpus):.3f} s CPU, {count:,} edges, "
          f"peak RSS growth {_peak_rss_mb() - rss1:.0f} MB")


def bench_points(repeats: int) -> None:
    """point_edges on scattered points (the general path, e.g. symmetry-reduced grids)."""
    atoms = ase.io.read(REFERENCE / "hfo2_full.json")
    positions, cell = atoms.get_positions(), np.array(atoms.get_cell())
    points = np.random.default_rng(0).random((BATCH, 3)) @ cell
    walls, cpus, count = [], [], 0
    for _ in range(repeats):
        wall, cpu, e = timed(lambda: point_edges(positions, cell, points, CUTOFF))
        walls.append(wall)
        cpus.append(cpu)
        count = e.num_edges
    med = statistics.median
    print(f"point_edges, HfO2, {BATCH:,} random points: {med(walls):.3f} s wall, "
          f"{med(cpus):.3f} s CPU, {count:,} edges")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    if not (REFERENCE / "hfo2_full.json").exists():
        raise SystemExit(f"reference structure not found under {REFERENCE}")
    # The 8,000-atom cases run first so their peak-memory growth is measured from a low base.
    bench_big_cell(args.repeats)
    bench_points(args.repeats)
    rows = bench_probe_graph(args.repeats)
    base = {k.split(",")[1].strip(): (w, c) for k, w, c, _ in rows if k.startswith("baseline")}
    print(f"\n{'method':<36}{'wall s':>8}{'CPU s':>8}{'edges':>12}{'speed-up wall':>15}{'CPU':>7}")
    for name, wall, cpu, count in rows:
        bw, bc = base[name.split(",")[1].strip()]
        print(f"{name:<36}{wall:>8.3f}{cpu:>8.3f}{count:>12,}{bw / wall:>14.1f}x{bc / cpu:>6.1f}x")
    print("(medians; CPU = process CPU time, less sensitive to other load on the machine)")


if __name__ == "__main__":
    main()
