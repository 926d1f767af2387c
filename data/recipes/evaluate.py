"""Held-out accuracy of a density model on the committed full GPAW grids (the model card table).

For every full grid of the ``test`` split in ``data/reference/index.json`` (held-out
compositions and the monoclinic HfO2 benchmark) this prints the model's NMAE
Σ|ρ − ρref| / Σ|ρref|, the NMAE of the free-atom superposition baseline ``density_atoms``, the
electron counts ∫ρ dV of prediction and reference (e), and the time per probe.  Densities are
GPAW PBE pseudo-densities in e/Å³.

    python data/recipes/evaluate.py                                   # bundled model, full grids
    python data/recipes/evaluate.py --model m.pt --limit 1 --max-points 2000   # quick check
    python data/recipes/evaluate.py --model m.pt --save-predictions data/cache/eval/m   # for ensemble_study.py

With ``--max-points N`` a grid larger than N points is not predicted in full: N grid points
are drawn uniformly (seeded) and predicted with ``predict_points``; NMAE and the electron
count (mean ρ × cell volume) are then estimates and the row is marked ``~``.  The baseline
NMAE always uses the full grid.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from ase import Atoms

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import deepaw_nb  # noqa: E402
from deepaw_nb.train.data import REFERENCE_DIR, read_index  # noqa: E402


def nmae(pred: np.ndarray, ref: np.ndarray) -> float:
    """Σ|pred − ref| / Σ|ref| in float64 (dimensionless)."""
    ref = ref.astype(np.float64)
    return float(np.abs(pred.astype(np.float64) - ref).sum() / np.abs(ref).sum())


def evaluate_grid(  # type: ignore[no-untyped-def]
    path: Path, model, max_points: int | None, seed: int = 0, save_dir: Path | None = None
) -> dict:
    """One row of the table for the grid file ``path``; full-grid predictions go to ``save_dir/<id>.npy``."""
    with np.load(path) as z:
        atoms = Atoms(numbers=z["numbers"], positions=z["positions"], cell=z["cell"], pbc=True)
        ref, base = z["density"], z["density_atoms"]
        sid = str(z["id"])
    shape = tuple(int(n) for n in ref.shape)
    volume = abs(float(np.linalg.det(np.asarray(atoms.cell))))
    row = {
        "id": sid, "atoms": len(atoms), "grid": "x".join(map(str, shape)),
        "baseline_nmae": nmae(base, ref),
        "ref_electrons": float(ref.sum(dtype=np.float64) * volume / ref.size),
    }
    start = time.perf_counter()
    if max_points is None or ref.size <= max_points:
        result = deepaw_nb.predict(atoms, model=model, grid=shape, progress=False)
        comparison = result.compare((atoms, ref))
        row.update(nmae=comparison.nmae, electrons=comparison.electrons, estimated=False, points=ref.size)
        if save_dir is not None:
            save_dir.mkdir(parents=True, exist_ok=True)
            np.save(save_dir / f"{sid}.npy", np.asarray(result.to_numpy(), dtype=np.float32))
    else:
        rng = np.random.default_rng(seed)
        flat = np.sort(rng.choice(ref.size, size=max_points, replace=False))
        frac = np.stack(np.unravel_index(flat, shape), axis=1) / np.asarray(shape, dtype=np.float64)
        pred = deepaw_nb.predict_points(atoms, frac @ np.asarray(atoms.cell), model=model)
        sample = ref.reshape(-1)[flat]
        row.update(
            nmae=nmae(pred, sample), electrons=float(np.mean(pred, dtype=np.float64) * volume),
            estimated=True, points=max_points,
        )
    row["wall_s"] = time.perf_counter() - start
    row["us_per_probe"] = 1e6 * row["wall_s"] / row["points"]
    return row


def table(rows: list[dict]) -> str:
    """The model card's markdown table, with a mean row."""
    lines = [
        "| structure | atoms | grid | model NMAE (%) | free-atom NMAE (%) | ratio | electrons model / GPAW | µs/probe |",
        "|---|---:|---|---:|---:|---:|---|---:|",
    ]
    for r in rows:
        mark = "~" if r["estimated"] else ""
        lines.append(
            f"| {r['id']} | {r['atoms']} | {r['grid']} | {mark}{100 * r['nmae']:.2f} | {100 * r['baseline_nmae']:.2f} "
            f"| {r['baseline_nmae'] / r['nmae']:.1f}× | {mark}{r['electrons']:.3f} / {r['ref_electrons']:.3f} "
            f"({100 * (r['electrons'] / r['ref_electrons'] - 1):+.2f} %) | {r['us_per_probe']:.0f} |"
        )
    if rows:
        m, b = np.mean([r["nmae"] for r in rows]), np.mean([r["baseline_nmae"] for r in rows])
        lines.append(f"| **mean** ({len(rows)}) | | | **{100 * m:.2f}** | **{100 * b:.2f}** | {b / m:.1f}× | | |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> list[dict]:
    p = argparse.ArgumentParser(description="Held-out accuracy table of a density model.")
    p.add_argument("--model", type=Path, default=None, help="model file (default: the bundled model)")
    p.add_argument("--reference", type=Path, default=REFERENCE_DIR)
    p.add_argument("--split", default="test", help="'test' (held out), 'validation' (selection set), 'train' (examples) "
                        "or 'all'")
    p.add_argument("--ids", default=None, help="comma-separated structure ids")
    p.add_argument("--limit", type=int, default=None, help="evaluate only the first N grids (smallest first)")
    p.add_argument("--max-points", type=int, default=None, help="subsample grids larger than this")
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads; 1 by default: on a shared 2-core machine 2 OpenMP threads ran 25x slower")
    p.add_argument("--json", type=Path, default=None, help="also write the rows as JSON")
    p.add_argument("--save-predictions", type=Path, default=None,
                   help="directory for each full grid's predicted density (<id>.npy, e/Å³), for ensemble_study.py")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    entries = [
        s for s in read_index(args.reference)["structures"]
        if s["kind"] == "grid" and (args.split == "all" or s["split"] == args.split)
    ]
    if args.ids:
        wanted = set(args.ids.split(","))
        entries = [s for s in entries if s["id"] in wanted]
    entries.sort(key=lambda s: (int(np.prod(s["grid_shape"])), s["id"]))
    entries = entries[: args.limit] if args.limit else entries
    if not entries:
        raise SystemExit(f"no full grids of split '{args.split}' in {args.reference}; run pack_reference.py")
    model = deepaw_nb.load_model(args.model) if args.model else deepaw_nb.load_model()
    print(f"model {model.info.name}: {model.info.description} ({model.num_parameters()} parameters)")
    rows = []
    for entry in entries:
        rows.append(evaluate_grid(args.reference / entry["file"], model, args.max_points, save_dir=args.save_predictions))
        r = rows[-1]
        print(f"  {r['id']}: NMAE {100 * r['nmae']:.2f} % (free atoms {100 * r['baseline_nmae']:.2f} %), "
              f"{r['wall_s']:.1f} s", flush=True)
    print(table(rows))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return rows


if __name__ == "__main__":
    main()
