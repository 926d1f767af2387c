"""The bundled model end to end: monoclinic HfO2 on an 80³ grid (512,000 points), this CPU.

The model card's speed target is ≤ 60 s for this run.  Three configurations run in one
process, model loaded once (its load time is reported separately):

1. the default: fast kernel, symmetry reduction on;
2. the same with the radial MLP instead of its tables (``DEEPAW_NB_RADIAL_TABLE=0``; see
   ``deepaw_nb/kernels/radial_table.py``), and the largest difference from run 1 (e/Å³);
3. fast kernel, every grid point evaluated (``symmetry=False``);
4. baseline: the e3nn kernel without symmetry reduction, on the first ``--baseline-probes``
   points only (extrapolated per probe; the full grid would take many minutes).

Printed: wall time, model evaluations, µs per grid point, the stage table of run 1, and the
speed-up of each run over the baseline measured here.

    python benchmarks/bench_default_model.py [--threads 1] [--grid 80] [--json out.json] [--model m.pt]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout, not another install
import deepaw_nb  # noqa: E402

EXAMPLE = Path(__file__).resolve().parents[1] / "data" / "examples" / "HfO2_monoclinic.cif"


def timed_predict(model, grid: tuple[int, int, int], limit: int | None = None, **options) -> dict:  # type: ignore[no-untyped-def]
    stop = threading.Event()
    radial_mlp = options.pop("radial_mlp", False)

    def progress(done: int, total: int, elapsed: float) -> None:
        if limit is not None and done >= limit:
            stop.set()

    previous = os.environ.get("DEEPAW_NB_RADIAL_TABLE")
    if radial_mlp:
        os.environ["DEEPAW_NB_RADIAL_TABLE"] = "0"
    try:
        start = time.perf_counter()
        result = deepaw_nb.predict(EXAMPLE, model=model, grid=grid, progress=progress, cancel=stop, **options)
        wall = time.perf_counter() - start
    finally:
        if previous is None:
            os.environ.pop("DEEPAW_NB_RADIAL_TABLE", None)
        else:
            os.environ["DEEPAW_NB_RADIAL_TABLE"] = previous
    evaluations = result.provenance["symmetry"]["evaluations"]
    done = result.filled_probes if limit is not None else evaluations
    points = result.num_points
    per_point = wall / (done if limit is not None else points)
    return {"options": {k: str(v) for k, v in options.items()}, "wall_s": wall, "evaluations": evaluations,
            "evaluated": done, "grid_points": points, "us_per_grid_point": 1e6 * per_point,
            "full_grid_s_estimate": per_point * points, "electrons": result.electron_count() if limit is None else None,
            "stages": result.timings, "table": result.timing_table(), "kernel": result.provenance.get("kernel_backend"),
            "density": result.to_numpy() if limit is None else None}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=1, help="torch threads (1 is steadiest on a shared host)")
    p.add_argument("--grid", type=int, default=80)
    p.add_argument("--baseline-probes", type=int, default=20_000)
    p.add_argument("--json", type=Path)
    p.add_argument("--model", type=Path, default=None, help="a candidate model file instead of the bundled one")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    model = deepaw_nb.load_model(args.model)
    load = time.perf_counter() - start
    grid = (args.grid,) * 3
    runs = {
        "default (fast, symmetry)": timed_predict(model, grid, device="cpu"),
        "fast, symmetry, radial MLP": timed_predict(model, grid, device="cpu", radial_mlp=True),
        "fast, every point": timed_predict(model, grid, device="cpu", symmetry=False),
        "baseline: e3nn, every point": timed_predict(model, grid, limit=args.baseline_probes, device="cpu",
                                                     symmetry=False, kernel="e3nn"),
    }
    base = runs["baseline: e3nn, every point"]["full_grid_s_estimate"]
    print(f"model {model.info.name}: load {load:.1f} s; HfO2 {grid}, {args.threads} thread(s)\n")
    print(runs["default (fast, symmetry)"]["table"])
    default, mlp = runs["default (fast, symmetry)"], runs["fast, symmetry, radial MLP"]
    difference = float(np.abs(default["density"] - mlp["density"]).max())
    print(f"\nkernel: {default['kernel']}\nradial tables vs radial MLP: {mlp['wall_s'] / default['wall_s']:.2f}x faster, "
          f"max |difference| {difference:.2e} e/Å³ ({difference / float(np.abs(mlp['density']).max()):.1e} of max ρ)")
    print(f"\n{'run':30s} {'wall s':>8s} {'evaluations':>12s} {'µs/point':>9s} {'full grid s':>12s} {'speed-up':>9s}")
    for name, r in runs.items():
        print(f"{name:30s} {r['wall_s']:8.1f} {r['evaluations']:12d} {r['us_per_grid_point']:9.1f} "
              f"{r['full_grid_s_estimate']:12.1f} {base / r['full_grid_s_estimate']:8.1f}x")
    print("(the baseline's full-grid time is extrapolated from its first "
          f"{runs['baseline: e3nn, every point']['evaluated']} points)")
    if args.json:
        for r in runs.values():
            r.pop("density")
        args.json.write_text(json.dumps({"load_s": load, "runs": runs}, indent=1, default=str))


if __name__ == "__main__":
    main()
