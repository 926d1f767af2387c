"""Train the bundled default model ``data/models/deepaw-nb-small.pt`` on the GPAW densities.

Run from the repository root (resumable; checkpoints go to ``data/cache/train/``)::

    nohup nice -n 5 python data/recipes/train_default.py > data/cache/train/train.log 2>&1 &
    python data/recipes/train_default.py --resume            # continue after an interruption
    python data/recipes/train_default.py --export-only       # write the model file from the checkpoint

Data: the ``train`` split of ``data/reference/index.json`` (whatever is packed when the run
starts), minus a seeded 10 % of structures held out for validation.  Outputs: the checkpoint
``data/cache/train/<name>.ckpt``, the curves ``data/models/<name>_curves.{csv,png}`` and, at
the end, the model file ``data/models/<name>.pt``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import deepaw_nb  # noqa: E402
from deepaw_nb.model import ModelConfig  # noqa: E402
from deepaw_nb.model.bond_charge import read_bond_charge  # noqa: E402
from deepaw_nb.model.free_atoms import FreeAtomDensity  # noqa: E402
from deepaw_nb.train import Trainer, TrainSettings, load_samples, save_bundle, species_of, training_ids  # noqa: E402
from deepaw_nb.train.curves import plot_curves, write_csv  # noqa: E402
from deepaw_nb.train.data import REFERENCE_DIR, read_index  # noqa: E402


def log(message: str) -> None:
    print(f"{time.strftime('%Y-%m-%d %H:%M:%S')}  {message}", flush=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--name", default="deepaw-nb-small")
    p.add_argument("--mul", type=int, default=64)
    p.add_argument("--lmax", type=int, default=2)
    p.add_argument("--interactions", type=int, default=3)
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--lr-min", type=float, default=1e-4)
    p.add_argument("--warmup", type=int, default=50)
    p.add_argument("--batch-structures", type=int, default=4)
    p.add_argument("--probes", type=int, default=128, help="probes per structure per step")
    p.add_argument("--loss", default="l1", choices=("l1", "mse"))
    p.add_argument("--target", default="residual", choices=("density", "residual"),
                   help="'residual': learn ρ − ρ_atoms over the free-atom tables (stored in the model file)")
    p.add_argument("--free-atoms", type=Path, default=REFERENCE_DIR / "free_atoms.npz",
                   help="free-atom density tables (data/recipes/free_atom_densities.py)")
    p.add_argument("--bond-charge", type=Path, default=None,
                   help="fitted bond-charge baseline (data/recipes/fit_bond_charge.py): the network then "
                        "learns ρ − ρ_atoms − δρ_bond (needs --target residual)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--eval-every", type=int, default=100)
    p.add_argument("--checkpoint-every", type=int, default=50)
    p.add_argument("--val-fraction", type=float, default=0.1)
    p.add_argument("--val-by", choices=("structure", "composition"), default="structure",
                   help="validation draws single structures (seen compositions, the default so far) or whole "
                        "compositions (unseen, like the test split)")
    p.add_argument("--val-probes", type=int, default=1000)
    p.add_argument("--max-probes", type=int, default=None, help="stored probes kept per structure")
    p.add_argument("--time-limit", type=float, default=None, help="stop after this many seconds (this session)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest on a loaded machine)")
    p.add_argument("--resume", action="store_true")
    p.add_argument("--schedule-start", type=int, default=0,
                   help="global step where warm-up + cosine restart (fine-tuning a finished run: its last "
                        "step; copy its .ckpt into --work-dir and pass --resume)")
    p.add_argument("--init-weights", type=Path, default=None,
                   help="fine-tune: start from this single-network model file (same --mul/--lmax, "
                        "same baseline) with a fresh optimiser; ignored with --resume")
    p.add_argument("--export-only", action="store_true")
    p.add_argument("--pack", action="store_true", help="run pack_reference.py first")
    p.add_argument("--reference", type=Path, default=REFERENCE_DIR)
    p.add_argument("--work-dir", type=Path, default=ROOT / "data" / "cache" / "train")
    p.add_argument("--out-dir", type=Path, default=ROOT / "data" / "models")
    return p.parse_args(argv)


def make_trainer(args: argparse.Namespace) -> tuple[Trainer, list[str], list[str], list[int]]:
    config = ModelConfig(mul=args.mul, lmax=args.lmax, num_interactions=args.interactions)
    settings = TrainSettings(
        steps=args.steps, lr=args.lr, lr_min=args.lr_min, warmup=args.warmup,
        batch_structures=args.batch_structures, probes_per_structure=args.probes, loss=args.loss,
        seed=args.seed, checkpoint_every=args.checkpoint_every, eval_every=args.eval_every,
        val_probes=args.val_probes, target=args.target, schedule_start=args.schedule_start,
    )
    train_ids, val_ids = training_ids(args.reference, args.val_fraction, args.seed, by=args.val_by)
    start = time.perf_counter()
    train = load_samples(train_ids, config.cutoff, args.reference, args.max_probes)
    val = load_samples(val_ids, config.cutoff, args.reference, args.max_probes)
    log(f"loaded {len(train)} training + {len(val)} validation structures in {time.perf_counter() - start:.0f} s")
    species = species_of(train + val)
    free_atoms = FreeAtomDensity.from_npz(args.free_atoms, config.cutoff) if args.target == "residual" else None
    bond_charge = None
    if args.bond_charge is not None:
        if free_atoms is None:
            raise SystemExit("--bond-charge needs --target residual")
        bond_charge = read_bond_charge(args.bond_charge, config.cutoff)
        missing = sorted(set(species) - set(bond_charge.species))
        if missing:
            raise SystemExit(f"{args.bond_charge} was fitted without elements {missing}; refit it on this data")
    return Trainer(config, settings, train, val, free_atoms, bond_charge), train_ids, val_ids, species


def export(trainer: Trainer, args: argparse.Namespace, train_ids: list[str], val_ids: list[str], species: list[int]) -> Path:
    index = read_index(args.reference)
    last = trainer.history[-1] if trainer.history else {}
    params = sum(p.numel() for p in trainer.model.parameters())
    what = "free-atom superposition + " if trainer.free_atoms is not None else ""
    if trainer.bond_charge is not None:
        what += "bond-charge term + "
    description = (
        f"{what}DeePAW F_nonlocal (mul {args.mul}, lmax {args.lmax}) trained on {len(train_ids)} GPAW PBE "
        f"pseudo-densities ({trainer.step} steps)"
    )
    metadata = {
        "settings": asdict(trainer.settings),
        "steps_done": trainer.step,
        "train_time_s": round(trainer.elapsed, 1),
        "parameters": params,
        "n_train_structures": len(train_ids),
        "n_val_structures": len(val_ids),
        "train_ids": train_ids,
        "val_ids": val_ids,
        "reference_partial": bool(index.get("partial", False)),
        "reference_n_packed": index.get("n_packed"),
        "dft": index.get("dft", ""),
        "last_record": last,
        "torch": torch.__version__,
        "bond_charge_file": str(args.bond_charge.name) if args.bond_charge is not None else None,
        "init_weights": str(args.init_weights.name) if args.init_weights is not None else None,
    }
    path = save_bundle(
        args.out_dir / f"{args.name}.pt", trainer.model, species, args.name, description, metadata,
        free_atoms=trainer.free_atoms, bond_charge=trainer.bond_charge,
    )
    log(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB, {params} parameters)")
    return path


def start_from_file(trainer: Trainer, path: Path) -> None:
    """Copy the network of the single-network model file ``path`` into ``trainer``."""
    model = deepaw_nb.load_model(path)
    if len(model.members) != 1:
        raise SystemExit(f"{path} holds {len(model.members)} networks; --init-weights takes one member file")
    if model.f_local is not None:
        raise SystemExit(f"{path} has an F_local term, which training does not fit; pass an F_nonlocal-only file")
    if (model.free_atoms is None) != (trainer.free_atoms is None) or model.bond_charge is not None \
            or trainer.bond_charge is not None:
        raise SystemExit(f"{path} was trained on another target/baseline than this run")
    try:
        trainer.start_from(model.members[0])
    except ValueError as exc:
        raise SystemExit(f"--init-weights {path}: {exc}; pass its --mul/--lmax") from None
    log(f"starting from the weights of {path}")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.pack:
        subprocess.run([sys.executable, str(ROOT / "data" / "recipes" / "pack_reference.py")], check=True)
    args.work_dir.mkdir(parents=True, exist_ok=True)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    checkpoint = args.work_dir / f"{args.name}.ckpt"
    trainer, train_ids, val_ids, species = make_trainer(args)
    data_record = args.work_dir / f"{args.name}.data.json"
    if args.export_only and data_record.is_file():
        # Describe the data the run actually trained on, not what is packed now.
        used = json.loads(data_record.read_text())
        train_ids, val_ids, species = used["train_ids"], used["val_ids"], used["species"]
    if args.resume or args.export_only:
        if not checkpoint.is_file():
            raise SystemExit(f"no checkpoint {checkpoint}; start without --resume")
        trainer.load_checkpoint(checkpoint)
        log(f"resumed at step {trainer.step} ({trainer.elapsed:.0f} s trained)")
    elif args.init_weights is not None:
        start_from_file(trainer, args.init_weights)
    if not args.export_only:
        params = sum(p.numel() for p in trainer.model.parameters())
        log(f"config {trainer.config.to_dict()}; {params} parameters; species {species}")
        curves_csv = args.out_dir / f"{args.name}_curves.csv"
        curves_png = args.out_dir / f"{args.name}_curves.png"

        data_record.write_text(json.dumps({"train_ids": train_ids, "val_ids": val_ids, "species": species}))

        def on_record(record: dict) -> None:
            log(json.dumps(record))
            write_csv(trainer.history, curves_csv)
            plot_curves(trainer.history, curves_png, f"{args.name}: mul {args.mul}, lmax {args.lmax}")

        trainer.run(checkpoint=checkpoint, time_limit=args.time_limit, on_record=on_record)
        log(f"stopped at step {trainer.step} after {trainer.elapsed:.0f} s of training")
    export(trainer, args, train_ids, val_ids, species)


if __name__ == "__main__":
    main()
