"""Combine trained model files into one ensemble model file (format ``deepaw-nb-model/3``).

The ensemble predicts the mean (or, with ``--combine median``, the per-point median) of
its members' densities.  Choose members and the combination on the validation split
(``evaluate.py --split validation``), not on the held-out grids; ``ensemble_study.py``
reports held-out NMAE of every subset for the record.  The bundled default model was made
with (see ``data/models/README.md`` for the members' training commands)::

    python data/recipes/build_ensemble.py data/cache/train/r3/deepaw-nb-small.pt \\
        data/models/experiments/mul128_lmax2.pt ... --out data/models/deepaw-nb-small.pt

Every member's training metadata is kept under ``metadata["members"]``; ``train_ids`` and
``val_ids`` are the union over members (for the held-out-leak test).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import deepaw_nb  # noqa: E402
from deepaw_nb.model.combine import ensemble_of  # noqa: E402
from deepaw_nb.model.ensemble import COMBINE_RULES  # noqa: E402
from deepaw_nb.train import save_bundle  # noqa: E402


def main(argv: list[str] | None = None) -> Path:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("members", nargs="+", type=Path, help="deepaw-nb model files (.pt)")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--name", default="deepaw-nb-small")
    p.add_argument("--description", default=None)
    p.add_argument("--combine", choices=COMBINE_RULES, default="mean",
                   help="per-point mean or median of the members' densities")
    args = p.parse_args(argv)
    models = [deepaw_nb.load_model(path) for path in args.members]
    ensemble = ensemble_of(models, name=args.name, combine=args.combine)
    metas = [torch.load(path, weights_only=True).get("metadata", {}) for path in args.members]
    sizes = ", ".join(f"mul {c.mul}" for c in ensemble.configs)
    lmaxes = sorted({c.lmax for c in ensemble.configs})
    n_train = max(int(m.get("n_train_structures", 0)) for m in metas)
    baseline = "free-atom superposition + " + ("bond-charge term + " if ensemble.bond_charge is not None else "")
    description = args.description or (
        f"{baseline}{args.combine} of {len(ensemble.members)} DeePAW F_nonlocal networks ({sizes}; "
        f"lmax {'/'.join(map(str, lmaxes))}) trained on ~{n_train} GPAW PBE pseudo-densities"
    )
    metadata = {
        "ensemble_of": [path.name for path in args.members],
        "members": metas,
        "parameters": ensemble.num_parameters(),
        "train_ids": sorted({i for m in metas for i in m.get("train_ids", [])}),
        "val_ids": sorted({i for m in metas for i in m.get("val_ids", [])}),
        "torch": torch.__version__,
    }
    species = list(ensemble.info.species or [])
    out = save_bundle(args.out, list(ensemble.members), species, args.name, description, metadata,
                      free_atoms=ensemble.free_atoms, bond_charge=ensemble.bond_charge, combine=args.combine)
    print(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB, {len(ensemble.members)} members, "
          f"{ensemble.num_parameters()} parameters): {description}")
    return out


if __name__ == "__main__":
    main()
