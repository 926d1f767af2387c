"""predict_many throughput: one process, one structure after another, vs a Dask LocalCluster.

A screening-like set (the bundled examples, each also strained by ±2 %) is predicted at a
fixed spacing three ways, each into a fresh output folder:

1. locally (``client=None``), 1 torch thread, model loaded once;
2. on a ``LocalCluster`` with ``--workers`` processes × 1 thread, one task per structure;
3. the same cluster with ``block_size`` set, so the largest cell is also split into blocks.

Printed: structures/min, grid points/s, and the ratio to the local run measured in the same
process.  Cluster start-up is reported separately (it is paid once per session).

    python benchmarks/bench_many.py [--workers 2] [--spacing 0.25] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch
from ase.io import read

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout, not another install
import deepaw_nb  # noqa: E402
from deepaw_nb.model import default_model_path  # noqa: E402

EXAMPLES = Path(__file__).resolve().parents[1] / "data" / "examples"


def structures() -> dict:
    out = {}
    for path in sorted(EXAMPLES.glob("*.vasp")):
        atoms = read(path)
        for strain in (-0.02, 0.0, 0.02):
            strained = atoms.copy()
            strained.set_cell(atoms.cell * (1 + strain), scale_atoms=True)
            out[f"{path.stem}_{100 * strain:+.0f}pct"] = strained
    return out


def run(label: str, todo: dict, out: Path, spacing: float, **kwargs) -> dict:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    entries = deepaw_nb.predict_many(todo, out, spacing=spacing, **kwargs)
    seconds = time.perf_counter() - start
    failed = [n for n, e in entries.items() if e["status"] != "done"]
    points = sum(int(torch.tensor(e["grid_shape"]).prod()) for e in entries.values() if e["status"] == "done")
    row = {"run": label, "seconds": seconds, "structures": len(entries), "failed": failed,
           "structures_per_min": 60 * len(entries) / seconds, "grid_points_per_s": points / seconds}
    print(json.dumps(row), flush=True)
    return row


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--spacing", type=float, default=0.25, help="grid spacing in Å")
    p.add_argument("--block-size", type=int, default=20_000, help="model evaluations per block task")
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    from distributed import Client, LocalCluster

    torch.set_num_threads(1)
    todo = structures()
    model_path = str(default_model_path())
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        rows.append(run("local (1 process)", todo, Path(tmp) / "local", args.spacing, model=model_path))
        start = time.perf_counter()
        with LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
            with Client(cluster) as client:
                startup = time.perf_counter() - start
                print(f"cluster start-up {startup:.1f} s", flush=True)
                rows.append(run(f"dask ({args.workers} workers)", todo, Path(tmp) / "dask", args.spacing,
                                model=model_path, client=client))
                rows.append(run(f"dask ({args.workers} workers, blocks of {args.block_size})", todo,
                                Path(tmp) / "blocks", args.spacing, model=model_path, client=client,
                                block_size=args.block_size))
    base = rows[0]["seconds"]
    print(f"\n{'run':42s} {'s':>7s} {'structures/min':>15s} {'points/s':>10s} {'speed-up':>9s}")
    for r in rows:
        print(f"{r['run']:42s} {r['seconds']:7.1f} {r['structures_per_min']:15.1f} {r['grid_points_per_s']:10.0f} "
              f"{base / r['seconds']:8.2f}x")
    print(f"(cluster start-up, not included: {startup:.1f} s; {len(todo)} structures, spacing {args.spacing} Å)")
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "startup_s": startup, "spacing": args.spacing}, indent=1))


if __name__ == "__main__":
    main()
