"""NMAE of every ensemble that can be made from a set of trained models.

Each model is predicted once on a split's grids (``evaluate.py --split validation
--save-predictions DIR``, or the held-out ``test`` grids); this script then combines the saved
densities for every subset of models, by their mean and/or per-point median, and prints the
mean NMAE Σ|ρ − ρref| / Σ|ρref| per subset, so studying ensembles costs one prediction per
model instead of one per subset.  Combining saved densities is exactly what an ensemble file
computes (members sharing one free-atom baseline: the mean or median of ρ_atoms + r_i is
ρ_atoms + the mean or median of r_i).  Choose on the validation split; the held-out table is
for the record.

    python data/recipes/ensemble_study.py m0=data/cache/eval/val/m0 m1=data/cache/eval/val/m1 \\
        --cost m1=2.1 --combine both
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from deepaw_nb.train.data import REFERENCE_DIR, read_index  # noqa: E402


def load_reference(reference: Path, ids: list[str]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Reference density and free-atom baseline (e/Å³) of each held-out grid, by id."""
    files = {s["id"]: s["file"] for s in read_index(reference)["structures"] if s["kind"] == "grid"}
    out = {}
    for sid in ids:
        with np.load(reference / files[sid]) as z:
            out[sid] = (z["density"].astype(np.float64), z["density_atoms"].astype(np.float64))
    return out


def nmae(pred: np.ndarray, ref: np.ndarray) -> float:
    return float(np.abs(pred - ref).sum() / np.abs(ref).sum())


def main(argv: list[str] | None = None) -> list[tuple[tuple[str, ...], str, float, dict[str, float]]]:
    p = argparse.ArgumentParser(description="NMAE of every subset-ensemble of saved model predictions.")
    p.add_argument("models", nargs="+", help="NAME=DIR, DIR holding <id>.npy from evaluate.py --save-predictions")
    p.add_argument("--reference", type=Path, default=REFERENCE_DIR)
    p.add_argument("--cost", action="append", default=[], help="NAME=relative prediction cost (default 1)")
    p.add_argument("--per-structure", action="store_true", help="also print each grid's NMAE for the best subset")
    p.add_argument("--combine", choices=("mean", "median", "both"), default="mean",
                   help="how a subset combines its members' densities (median: per grid point)")
    args = p.parse_args(argv)
    dirs = dict(item.split("=", 1) for item in args.models)
    costs = {name: 1.0 for name in dirs} | {k: float(v) for k, v in (c.split("=", 1) for c in args.cost)}
    common = sorted(set.intersection(*({f.stem for f in Path(d).glob("*.npy")} for d in dirs.values())))
    if not common:
        raise SystemExit("no grid was predicted by every model; run evaluate.py --save-predictions for each")
    reference = load_reference(args.reference, common)
    predictions = {name: {sid: np.load(Path(d) / f"{sid}.npy").astype(np.float64) for sid in common}
                   for name, d in dirs.items()}
    baseline = float(np.mean([nmae(base, ref) for ref, base in reference.values()]))
    print(f"{len(common)} grids: {', '.join(common)}; free-atom baseline mean NMAE {100 * baseline:.2f} %")
    rules = {"mean": np.mean, "median": np.median}
    chosen = list(rules) if args.combine == "both" else [args.combine]
    rows = []
    for size in range(1, len(dirs) + 1):
        for subset in itertools.combinations(dirs, size):
            for rule in chosen if size > 2 else chosen[:1]:  # the median of one or two is their mean
                per = {sid: nmae(rules[rule]([predictions[m][sid] for m in subset], axis=0), ref)
                       for sid, (ref, _) in reference.items()}
                rows.append((subset, rule, float(np.mean(list(per.values()))), per))
    rows.sort(key=lambda row: row[2])
    print("| members | combine | cost | mean NMAE (%) | vs free atoms |\n|---|---|---:|---:|---:|")
    for subset, rule, mean, _ in rows:
        cost = sum(costs[m] for m in subset)
        print(f"| {' + '.join(subset)} | {rule if len(subset) > 1 else '—'} | {cost:.1f} | {100 * mean:.2f} "
              f"| {baseline / mean:.2f}× |")
    if args.per_structure:
        subset, rule, _, per = rows[0]
        print(f"best: {' + '.join(subset)} ({rule})")
        for sid, value in per.items():
            print(f"  {sid}: {100 * value:.2f} %")
    return rows


if __name__ == "__main__":
    main()
