"""Benchmark of the probe model: e3nn modules versus the fast kernel (deepaw_nb.kernels).

Full-size model (``hfo2_full`` checkpoint: mul 500, lmax 4), monoclinic HfO2 (12 atoms), the
engine's own grid-probe graph on the default grid, consecutive grid points from the middle.

1. Throughput: the probes are cut into batches; for every batch the e3nn path and the fast
   path run back to back (so load from other processes hits both alike).  Medians over
   batches of wall and CPU time per probe.
2. Peak memory per probe (RSS sampled by ``deepaw_nb.engine.memory.PeakMemory``, heap trimmed
   before each measurement): the slope between two batch sizes, and peak / probes.
3. bf16 / fp16 autocast (``precision_context``) of the fast path: speed and error vs fp32.
4. The ``batch_size="auto"`` sizes the engine picks with each kernel.
5. ``torch.compile`` of the fast kernel in a child process with a time limit.

Run from the repository root:  ``python benchmarks/bench_kernel.py [--threads 2]``.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import ase.io
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout, not another install
from deepaw_nb.engine import Predictor, StageTimer
from deepaw_nb.engine.device import precision_context
from deepaw_nb.engine.memory import PeakMemory, batch_for_budget, bytes_per_probe, default_budget_bytes
from deepaw_nb.graph import GridProbeGraph
from deepaw_nb.grid import resolve_grid_shape
from deepaw_nb.kernels import build_probe_kernel
from deepaw_nb.model import load_model

REFERENCE = Path(__file__).resolve().parents[1].parent / "shared" / "reference"
CPU = torch.device("cpu")


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads for every measurement")
    parser.add_argument("--probes", type=int, default=2048, help="grid probes timed with both paths")
    parser.add_argument("--batch", type=int, default=256, help="probes per timed batch")
    parser.add_argument("--memory-sizes", type=int, nargs=2, default=(128, 512), metavar=("SMALL", "LARGE"))
    parser.add_argument("--auto-probes", type=int, default=2000, help="probes of the batch_size='auto' runs")
    parser.add_argument("--compile-timeout", type=int, default=300, help="seconds; 0 skips torch.compile")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--compile-child", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


class Setup:
    """The model, the structure, both kernels, the atom context and the probe batches."""

    def __init__(self, args: argparse.Namespace) -> None:
        start = time.perf_counter()
        self.model = load_model(REFERENCE / "hfo2_full_f_nonlocal.pth").eval()
        self.atoms = ase.io.read(REFERENCE / "hfo2_full.json")
        self.load_seconds = time.perf_counter() - start
        probe_model = self.model.f_nonlocal.probe_model
        self.e3nn = build_probe_kernel(probe_model, "e3nn")
        start = time.perf_counter()
        self.fast = build_probe_kernel(probe_model, "fast")
        self.build_seconds = time.perf_counter() - start
        self.predictor = Predictor(self.model, device="cpu", kernel="e3nn")
        self.context = self.predictor.atom_context(self.atoms, StageTimer()).kernel_input
        start = time.perf_counter()
        self.prepared = self.fast.prepare(self.context)
        self.prepare_seconds = time.perf_counter() - start
        cell = np.asarray(self.atoms.cell)
        self.grid = resolve_grid_shape(cell)
        self.graph = GridProbeGraph(self.atoms.positions, cell, self.grid, self.model.cutoff)
        first = self.graph.num_probes // 2
        self.batches = [self.batch(s, min(s + args.batch, first + args.probes)) for s in range(first, first + args.probes, args.batch)]

    def batch(self, start: int, stop: int) -> tuple:
        edges = self.graph.edges(start, stop)
        return (
            torch.from_numpy(np.ascontiguousarray(edges.sender)).long(),
            torch.from_numpy(np.ascontiguousarray(edges.receiver)).long(),
            torch.from_numpy(edges.vectors.astype(np.float32)),
            stop - start,
        )

    def run(self, kernel: str, batch: tuple) -> tuple[torch.Tensor, torch.Tensor]:
        with torch.no_grad():
            if kernel == "e3nn":
                return self.e3nn(self.context, *batch)
            return self.fast(self.prepared, *batch)


def timed(fn, *args):  # type: ignore[no-untyped-def]
    """(result, wall seconds, process CPU seconds)."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn(*args)
    return result, time.perf_counter() - wall, time.process_time() - cpu


def throughput(setup: Setup) -> dict:
    setup.run("e3nn", setup.batch(0, 16))  # first calls specialise e3nn's scripted modules
    setup.run("fast", setup.batch(0, 16))
    rows: dict[str, dict[str, list[float]]] = {"e3nn": {"wall": [], "cpu": []}, "fast": {"wall": [], "cpu": []}}
    outputs: dict[str, list] = {"e3nn": [], "fast": []}
    for batch in setup.batches:
        for kernel in ("e3nn", "fast"):
            out, wall, cpu = timed(setup.run, kernel, batch)
            rows[kernel]["wall"].append(wall / batch[3] * 1e3)
            rows[kernel]["cpu"].append(cpu / batch[3] * 1e3)
            outputs[kernel].append(out)
        print(f"  batch {len(rows['fast']['wall'])}: e3nn {rows['e3nn']['wall'][-1]:.2f}, fast {rows['fast']['wall'][-1]:.3f} ms/probe", flush=True)
    density = {k: torch.cat([o[0] for o in v]) for k, v in outputs.items()}
    rep = {k: torch.cat([o[1] for o in v]) for k, v in outputs.items()}
    result = {k: {m: statistics.median(v) for m, v in d.items()} for k, d in rows.items()}
    result["max_rel_error_density"] = float((density["fast"] - density["e3nn"]).abs().max() / density["e3nn"].abs().max())
    result["max_rel_error_representation"] = float((rep["fast"] - rep["e3nn"]).abs().max() / rep["e3nn"].abs().max())
    result["density_fp32"] = density["fast"]
    return result


def _trim_heap() -> None:
    """Give freed heap memory back to the OS so RSS starts from the live set (glibc only)."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except OSError:
        pass


def memory(setup: Setup, kernel: str, sizes: tuple[int, ...]) -> dict:
    first = setup.graph.num_probes // 4
    measured = []
    for size in sizes:
        batch = setup.batch(first, first + size)
        _trim_heap()
        with PeakMemory(CPU) as meter:
            setup.run(kernel, batch)
        measured.append((size, meter.peak))
    return {"peaks": measured, "slope": bytes_per_probe(measured[:2]), "per_probe_largest": measured[-1][1] / measured[-1][0]}


def precision(setup: Setup, reference: torch.Tensor) -> dict:
    results = {}
    for name in ("bf16", "fp16"):
        times, values = [], []
        try:
            for batch in setup.batches:
                with precision_context(name, CPU):
                    (density, _), wall, _ = timed(setup.run, "fast", batch)
                times.append(wall / batch[3] * 1e3)
                values.append(density.float())
        except (RuntimeError, NotImplementedError) as exc:
            results[name] = {"error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:120]}"}
            continue
        approx = torch.cat(values).double()
        ref = reference.double()
        error = (approx - ref).abs()
        results[name] = {
            "ms_per_probe": statistics.median(times),
            "mae": float(error.mean()),
            "nmae": float(error.mean() / ref.abs().mean()),
            "max_abs": float(error.max()),
            "max_rel": float(error.max() / ref.abs().max()),
            "sum_rel_change": float((approx.sum() - ref.sum()) / ref.sum()),
        }
    return results


def auto_batches(setup: Setup, total: int) -> dict:
    """Batch sizes of a ``batch_size='auto'`` stream, and what the budget allows a big grid."""
    results = {}
    first = setup.graph.num_probes // 3
    for kernel in ("e3nn", "fast"):
        _trim_heap()
        predictor = Predictor(setup.model, device="cpu", kernel=kernel)
        context = predictor.atom_context(setup.atoms, StageTimer())
        stream = predictor.stream(
            context, lambda a, b: setup.graph.edges(first + a, first + b), total, StageTimer(), "auto", progress=False
        )
        budget = default_budget_bytes(CPU)
        results[kernel] = {
            "batch_sizes": stream.batch_sizes,
            "bytes_per_probe": stream.bytes_per_probe,
            "budget_bytes": budget,
            "auto_batch_for_large_grid": batch_for_budget(stream.bytes_per_probe or 1.0, budget, 10**8),
        }
    return results


def compile_child(args: argparse.Namespace) -> None:
    """In a child process: time-to-compile and speed of torch.compile(fast kernel)."""
    setup = Setup(args)
    eager = [timed(setup.run, "fast", b)[1] / b[3] * 1e3 for b in setup.batches]
    compiled = torch.compile(setup.fast, dynamic=True)
    start = time.perf_counter()
    with torch.no_grad():
        first = compiled(setup.prepared, *setup.batches[0])
    compile_seconds = time.perf_counter() - start
    times = []
    with torch.no_grad():
        for b in setup.batches[1:]:
            _, wall, _ = timed(compiled, setup.prepared, *b)
            times.append(wall / b[3] * 1e3)
    reference = setup.run("fast", setup.batches[0])[0]
    print(json.dumps({
        "compile_seconds": compile_seconds,
        "eager_ms_per_probe": statistics.median(eager),
        "compiled_ms_per_probe": statistics.median(times) if times else None,
        "max_rel_error": float((first[0] - reference).abs().max() / reference.abs().max()),
    }))


def compile_result(args: argparse.Namespace) -> dict:
    command = [sys.executable, __file__, "--compile-child", "--threads", str(args.threads),
               "--probes", str(min(args.probes, 4 * args.batch)), "--batch", str(args.batch)]
    start = time.perf_counter()
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=args.compile_timeout)
    except subprocess.TimeoutExpired:
        return {"status": f"did not finish within {args.compile_timeout} s (model load ~20-30 s included)"}
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1][:300]
        return {"status": f"failed after {time.perf_counter() - start:.0f} s: {tail}"}
    return {"status": "ok", **json.loads(lines[-1])}


def report(setup: Setup, results: dict, args: argparse.Namespace) -> None:
    tp, mem = results["throughput"], results["memory"]
    print(f"\nHfO2 {len(setup.atoms)} atoms, grid {setup.grid}, {args.probes} probes in batches of {args.batch}, "
          f"{torch.get_num_threads()} thread(s); fast kernel build {setup.build_seconds:.1f} s, "
          f"prepare {setup.prepare_seconds * 1e3:.0f} ms ({setup.prepared.nbytes / 1e6:.1f} MB tables)")
    print(f"{'path':6s} {'wall ms/probe':>14s} {'probes/s':>9s} {'cpu ms/probe':>13s} {'peak B/probe':>13s} {'slope B/probe':>14s}")
    for k in ("e3nn", "fast"):
        print(f"{k:6s} {tp[k]['wall']:14.3f} {1e3 / tp[k]['wall']:9.1f} {tp[k]['cpu']:13.3f} "
              f"{mem[k]['per_probe_largest']:13.0f} {mem[k]['slope']:14.0f}")
    print(f"ratio  {tp['e3nn']['wall'] / tp['fast']['wall']:14.1f}x {'':9s} {tp['e3nn']['cpu'] / tp['fast']['cpu']:12.1f}x "
          f"{mem['e3nn']['per_probe_largest'] / mem['fast']['per_probe_largest']:12.1f}x "
          f"{mem['e3nn']['slope'] / max(mem['fast']['slope'], 1.0):13.1f}x")
    print(f"fast vs e3nn: max rel error density {tp['max_rel_error_density']:.2e}, representation "
          f"{tp['max_rel_error_representation']:.2e}; fast peaks {mem['fast']['peaks']}")
    for name, r in results["precision"].items():
        if "error" in r:
            print(f"{name}: {r['error']}")
            continue
        print(f"{name}: {r['ms_per_probe']:.3f} ms/probe ({tp['fast']['wall'] / r['ms_per_probe']:.2f}x fp32 fast), MAE {r['mae']:.2e}, "
              f"NMAE {r['nmae']:.2e}, max abs {r['max_abs']:.2e} ({r['max_rel']:.1e} of max), sum change {r['sum_rel_change']:+.2e}")
    for k, r in results.get("auto", {}).items():
        print(f"auto batches {k}: {r['batch_sizes']}, {r['bytes_per_probe']:.0f} B/probe -> {r['auto_batch_for_large_grid']} "
              f"probes per batch for a large grid (budget {r['budget_bytes'] / 2**30:.1f} GiB)")
    if "compile" in results:
        print(f"torch.compile: {results['compile']}")


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    torch.set_num_threads(args.threads)
    if args.compile_child:
        compile_child(args)
        return
    setup = Setup(args)
    print(f"model load {setup.load_seconds:.1f} s; timing {len(setup.batches)} batches", flush=True)
    results: dict = {"throughput": throughput(setup)}
    reference = results["throughput"].pop("density_fp32")
    results["memory"] = {
        "e3nn": memory(setup, "e3nn", tuple(args.memory_sizes)),
        "fast": memory(setup, "fast", (*args.memory_sizes, 8 * args.memory_sizes[1])),
    }
    results["precision"] = precision(setup, reference)
    if args.auto_probes:
        results["auto"] = auto_batches(setup, args.auto_probes)
    if args.compile_timeout:
        results["compile"] = compile_result(args)
    report(setup, results, args)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=str))


if __name__ == "__main__":
    main()
