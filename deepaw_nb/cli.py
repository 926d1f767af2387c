"""Command line: ``deepaw-nb predict STRUCTURE -o CHGCAR`` and friends."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from deepaw_nb.errors import DeepawError


def _batch_size(text: str) -> int | str:
    if text == "auto":
        return "auto"
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive integer or 'auto'") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive integer or 'auto'")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="deepaw-nb",
        description="Predict crystal electron densities with DeePAW-style equivariant networks.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    predict = commands.add_parser("predict", help="predict the density of a structure and write a CHGCAR")
    predict.add_argument("structure", help="CIF, POSCAR/CONTCAR, extended XYZ, CHGCAR, or ASE db as FILE.db@ID")
    predict.add_argument("-o", "--output", default="CHGCAR", help="output CHGCAR path (default: ./CHGCAR)")
    predict.add_argument("--overwrite", action="store_true", help="replace the output file if it exists")
    predict.add_argument("--cube", metavar="PATH", help="also write a Gaussian cube file")
    grid = predict.add_mutually_exclusive_group()
    grid.add_argument("--grid", nargs=3, type=int, metavar=("NX", "NY", "NZ"), help="grid points along a, b, c")
    grid.add_argument("--encut", type=float, metavar="EV", help="grid from VASP's rule for this ENCUT (eV)")
    grid.add_argument("--spacing", type=float, metavar="ANGSTROM", help="grid from a point spacing in Å")
    predict.add_argument("--batch-size", type=_batch_size, default="auto", metavar="N|auto")
    predict.add_argument("--precision", default="fp32", choices=["fp32", "tf32", "bf16", "fp16"])
    predict.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    predict.add_argument("--compile", action="store_true", help="torch.compile the probe model")
    predict.add_argument(
        "--kernel", default="fast", choices=["fast", "e3nn", "cueq"],
        help="probe-model kernel (default: fast, exact; cueq: NVIDIA cuEquivariance, optional)"
    )
    predict.add_argument("--f-nonlocal", metavar="PATH", help="DeePAW F_nonlocal checkpoint (default: bundled model)")
    predict.add_argument("--f-local", metavar="PATH", help="matching DeePAW F_local checkpoint")
    predict.add_argument("--no-symmetry", action="store_true", help="evaluate every grid point (no spglib reduction)")
    predict.add_argument("--checkpoint-dir", metavar="DIR", help="save finished batches there; rerun to resume")
    predict.add_argument("--quiet", action="store_true", help="no progress bar")

    info = commands.add_parser("info", help="describe a model (default: the bundled one)")
    info.add_argument("--f-nonlocal", metavar="PATH")
    info.add_argument("--f-local", metavar="PATH")
    return parser


def _load(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from deepaw_nb.errors import CheckpointError
    from deepaw_nb.model import load_model

    if args.f_local and not args.f_nonlocal:
        raise CheckpointError("--f-local needs --f-nonlocal; pass both DeePAW checkpoints")
    return load_model(args.f_nonlocal, args.f_local)


def _predict(args: argparse.Namespace) -> int:
    from deepaw_nb.api import predict
    from deepaw_nb.engine.timing import StageTimer
    from deepaw_nb.io.atomic import check_output_path

    output = check_output_path(args.output, overwrite=args.overwrite)
    if args.cube:
        check_output_path(args.cube, overwrite=args.overwrite)
    timer = StageTimer()
    with timer.stage("model load"):
        model = _load(args)
    result = predict(
        args.structure,
        model=model,
        grid=tuple(args.grid) if args.grid else None,
        encut=args.encut,
        spacing=args.spacing,
        batch_size=args.batch_size,
        precision=args.precision,
        device=args.device,
        compile=args.compile,
        progress=not args.quiet,
        symmetry=not args.no_symmetry,
        checkpoint_dir=args.checkpoint_dir,
        kernel=args.kernel,
    )
    result.timings["model load"] += timer.seconds["model load"]
    result.wall_time += timer.seconds["model load"]
    if not result.complete:
        print(f"interrupted: {100 * result.filled_fraction:.1f} % of the grid done; nothing written", file=sys.stderr)
        return 130
    result.to_chgcar(output, overwrite=args.overwrite)
    if args.cube:
        result.to_cube(args.cube, overwrite=args.overwrite)
    prov = result.provenance
    print(f"{result.atoms.get_chemical_formula()}: grid {result.grid_shape}, {result.electron_count():.4f} electrons")
    print(
        f"model {prov['model']['name']}, device {prov['device']}, precision {prov['effective_precision']}, "
        f"kernel {prov['kernel']}, "
        f"batch sizes {prov['batch_sizes_used']}"
    )
    sym = prov["symmetry"]
    print(f"symmetry: {sym['reason']}; {sym['evaluations']:,} of {sym['grid_points']:,} points evaluated")
    print(result.timing_table())
    print(f"wrote {Path(output)}" + (f" and {args.cube}" if args.cube else ""))
    return 0


def _info(args: argparse.Namespace) -> int:
    from ase.data import chemical_symbols

    model = _load(args)
    print(f"name: {model.info.name}")
    for i, config in enumerate(model.configs):
        print(f"config{f' (member {i})' if model.is_ensemble else ''}: {config.to_dict()}")
    if model.is_ensemble:
        print(f"ensemble: {model.combine} of the {len(model.members)} networks' densities at each point")
    print(f"parameters: {model.num_parameters():,}")
    print(f"F_local: {'yes' if model.f_local is not None else 'no'}")
    baseline = [part for part, present in (("free atoms", model.free_atoms), ("bond charge", model.bond_charge))
                if present is not None]
    print("baseline: " + (" + ".join(baseline) if baseline else "none (the network predicts ρ)"))
    species = model.info.species
    print("species: " + (" ".join(chemical_symbols[z] for z in species) if species else "not recorded"))
    for role, digest in model.info.sha256.items():
        print(f"sha256 {role}: {digest}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``deepaw-nb`` command; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        return {"predict": _predict, "info": _info}[args.command](args)
    except DeepawError as exc:
        print(f"deepaw-nb: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("deepaw-nb: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
