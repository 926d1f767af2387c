"""Peak memory and time vs atom count: 1, 8, 64, 512 and 8,000-atom silicon cells.

Each case runs in a fresh subprocess so its peak resident memory (ru_maxrss) is its own.  For
every cell the grid has a fixed spacing; by default only the first ``--probes`` grid points are
evaluated (the run is cancelled after them, which the engine supports) so the table measures
the per-structure cost (atom graph, atom model) and the per-probe cost separately; ``--full``
runs every grid point (the 8,000-atom cell then has > 1,000,000 probes).

    python benchmarks/bench_scaling.py [--model PATH] [--probes 20000] [--full] [--table-budget-mb MB]

The baseline for memory is the 1-atom cell: a bounded engine keeps peak memory nearly flat
as the atom count and the grid grow, because batches (not the grid or the cell) set it.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

CELLS = {1: (1, 1, 1), 8: (1, 1, 1), 64: (2, 2, 2), 512: (4, 4, 4), 1000: (5, 5, 5), 8000: (10, 10, 10)}

CHILD = r"""
import json, resource, sys, time, threading
from ase.build import bulk
import deepaw_nb
n_atoms, reps, model_path, probes, full, spacing, threads, table_budget_mb = json.loads(sys.argv[1])
import torch
torch.set_num_threads(threads)
if table_budget_mb is not None:
    from deepaw_nb.kernels import fast_probe
    fast_probe.DEFAULT_TABLE_BUDGET = int(table_budget_mb * 2**20)
if n_atoms == 1:
    atoms = bulk("Si", "fcc", a=3.9)  # one-atom cell (timing only)
else:
    atoms = bulk("Si", "diamond", a=5.431, cubic=True).repeat(reps)
model = deepaw_nb.load_model(model_path) if model_path else deepaw_nb.load_model()
stop = threading.Event()
def progress(done, total, elapsed):
    if not full and done >= probes:
        stop.set()
start = time.perf_counter()
# No symmetry reduction: a supercell's symmetry would hide the per-probe cost being measured.
result = deepaw_nb.predict(atoms, model=model, spacing=spacing, progress=progress, cancel=stop, device="cpu",
                           symmetry=False)
wall = time.perf_counter() - start
t = result.timings
print(json.dumps({
    "atoms": len(atoms), "grid": result.grid_shape, "grid_points": result.num_points,
    "probes_done": result.filled_probes, "wall_s": wall,
    "atom_graph_s": t["atom graph"], "atom_model_s": t["atom model"], "probe_model_s": t["probe model"],
    "ms_per_probe": 1e3 * (t["probe model"] + t["F_local"]) / max(result.filled_probes, 1),
    "batch_sizes": result.provenance["batch_sizes_used"][-3:],
    "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "threads": threads,
    "complete": result.complete, "table_budget_mb": table_budget_mb,
}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="checkpoint or bundle (default: bundled model)")
    parser.add_argument("--probes", type=int, default=20000, help="grid points evaluated per cell")
    parser.add_argument("--spacing", type=float, default=0.2, help="grid spacing in Å")
    parser.add_argument("--full", action="store_true", help="evaluate every grid point")
    parser.add_argument("--atoms", type=int, nargs="*", default=sorted(CELLS))
    parser.add_argument("--threads", type=int, default=1, help="torch threads per run (1: steady on a shared host)")
    parser.add_argument("--table-budget-mb", type=float, default=None,
                        help="fast kernel: atom tables kept per structure up to this size, else built per chunk "
                             "(default: the library's 512 MiB; 0 forces per-chunk tables)")
    args = parser.parse_args()
    rows = []
    for n in args.atoms:
        payload = json.dumps([n, CELLS[n], args.model, args.probes, args.full, args.spacing, args.threads, args.table_budget_mb])
        out = subprocess.run([sys.executable, "-c", CHILD, payload], capture_output=True, text=True)
        if out.returncode != 0:
            print(f"{n} atoms: failed\n{out.stderr[-2000:]}", file=sys.stderr)
            continue
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(json.dumps(rows[-1]), flush=True)
    if not rows:
        return
    base = rows[0]["peak_rss_mb"]
    print(f"\n{'atoms':>6} {'grid':>16} {'points':>10} {'done':>8} {'atom graph s':>12} {'atom model s':>12} "
          f"{'ms/probe':>9} {'peak MB':>8} {'x 1-atom':>8}")
    for r in rows:
        grid = "x".join(str(g) for g in r["grid"])
        print(f"{r['atoms']:>6} {grid:>16} {r['grid_points']:>10} {r['probes_done']:>8} {r['atom_graph_s']:>12.3f} "
              f"{r['atom_model_s']:>12.3f} {r['ms_per_probe']:>9.3f} {r['peak_rss_mb']:>8.0f} {r['peak_rss_mb'] / base:>8.2f}")


if __name__ == "__main__":
    main()
