"""Fit the bond-charge baseline on the training split and report how it generalises.

Run from the repository root (minutes on 2 cores)::

    python data/recipes/fit_bond_charge.py            # -> data/models/experiments/bond_charge.{pt,json}

It fits :class:`deepaw_nb.model.bond_charge.BondChargeDensity` to ρ_GPAW − ρ_atoms on every
structure of the ``train`` split (never the held-out compositions), then prints the
uniform-probe NMAE of free atoms alone and of free atoms + bond charge on the training
structures and on the held-out ones. ``train_default.py --bond-charge <file>`` trains a
network on what is left.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from deepaw_nb.io.atomic import atomic_write  # noqa: E402
from deepaw_nb.model.bond_charge import BOND_CHARGE_FORMAT  # noqa: E402
from deepaw_nb.model.free_atoms import FreeAtomDensity  # noqa: E402
from deepaw_nb.train.bond_charge_fit import BondChargeFitSettings, fit_bond_charge, nmae_per_structure  # noqa: E402
from deepaw_nb.train.data import REFERENCE_DIR, load_samples, read_index  # noqa: E402


def log(message: str) -> None:
    print(f"{time.strftime('%H:%M:%S')}  {message}", flush=True)


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--lr", type=float, default=5e-3)
    p.add_argument("--channels", type=int, default=2)
    p.add_argument("--probes", type=int, default=800, help="stored probes used per training structure")
    p.add_argument("--cutoff", type=float, default=4.0, help="Å; must equal the network's cutoff")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--limit", type=int, default=None, help="use only the first N train and held-out ids (tests)")
    p.add_argument("--reference", type=Path, default=REFERENCE_DIR)
    p.add_argument("--out", type=Path, default=ROOT / "data" / "models" / "experiments" / "bond_charge.pt")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)

    entries = read_index(args.reference)["structures"]
    train_ids = sorted(s["id"] for s in entries if s["split"] == "train")
    test_ids = sorted(s["id"] for s in entries if s["split"] == "test")
    if args.limit is not None:
        train_ids, test_ids = train_ids[: args.limit], test_ids[: args.limit]
    free_atoms = FreeAtomDensity.from_npz(args.reference / "free_atoms.npz", args.cutoff)
    train = load_samples(train_ids, args.cutoff, args.reference, args.probes)
    test = load_samples(test_ids, args.cutoff, args.reference, 4000)
    log(f"{len(train)} training and {len(test)} held-out structures loaded")

    settings = BondChargeFitSettings(steps=args.steps, lr=args.lr, channels=args.channels)
    term = fit_bond_charge(train, free_atoms, settings, log=lambda step, loss: log(f"step {step}: loss {loss:.4f}"))

    rows = {}
    for label, samples in (("train", train), ("held_out", test)):
        before = nmae_per_structure(samples, free_atoms, None)
        after = nmae_per_structure(samples, free_atoms, term)
        rows[label] = {"free_atoms": float(before.mean()), "with_bond_charge": float(after.mean())}
        log(f"{label:8s}: free atoms {100 * before.mean():.2f} % -> + bond charge {100 * after.mean():.2f} %")
    grids = [i for i, s in enumerate(test) if "__" not in s.id]
    before = nmae_per_structure([test[i] for i in grids], free_atoms, None)
    after = nmae_per_structure([test[i] for i in grids], free_atoms, term)
    per_grid = {test[i].id: [round(100 * float(b), 2), round(100 * float(a), 2)] for i, b, a in zip(grids, before, after)}
    for name, (b, a) in per_grid.items():
        log(f"  {name:24s} {b:6.2f} % -> {a:6.2f} %")
    chi = {str(z): round(float(term.electronegativity[z]), 3) for z in term.species}

    report = {
        "settings": asdict(settings), "probes_per_structure": args.probes, "n_train": len(train),
        "n_held_out": len(test), "uniform_probe_nmae": rows,
        "held_out_grids_percent_free_atoms_then_bond_charge": per_grid, "electronegativity": chi,
        "train_ids": train_ids,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(args.out, "wb", overwrite=True) as handle:
        torch.save({"format": BOND_CHARGE_FORMAT, "bond_charge": term.to_dict(), "fit": report}, handle)
    args.out.with_suffix(".json").write_text(json.dumps(report, indent=1) + "\n")
    log(f"wrote {args.out} and {args.out.with_suffix('.json').name}")
    return report


if __name__ == "__main__":
    main()
