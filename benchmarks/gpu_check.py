"""One prepared check of a lent GPU: correctness, throughput, memory, compile, HfO2 80³ end to end.

Run from the repository root on the GPU machine (≤ 8 minutes with the defaults)::

    python benchmarks/gpu_check.py --json gpu_check.json          # or: bash benchmarks/gpu_check.sh

Sections (each one is timed and recorded; an error is recorded and the next section runs;
a section that would not fit in the remaining ``--budget`` is skipped and marked so):

1. ``environment``: torch, CUDA, device name, cuEquivariance and its CUDA ops.
2. ``correctness``: every kernel (e3nn, fast, cueq when installed; fp32 and ``compile=True``)
   on the device against the CPU fp32 fixtures of ``../shared/reference`` (tolerance 1e-4·max).
3. ``precision``: full-size model (mul 500, lmax 4) on monoclinic HfO2 probes: probes/s for
   fp32 / tf32 / bf16 / fp16 with the fast kernel (and fp32 e3nn / cueq), each with its error
   against fast fp32 (MAE, NMAE, max, change of the summed density).
4. ``batch_sweep``: fast fp32, several batch sizes: µs/probe and peak memory per batch.
5. ``compile``: fast fp32 with and without ``torch.compile``: first-call and steady times.
6. ``end_to_end``: ``deepaw_nb.predict`` of HfO2 on an 80³ grid with the full model
   (F_nonlocal + F_local), symmetry on and off, with the stage table.

``--device cpu --quick`` runs every section at toy sizes: the test suite does that, so the
script cannot rot while no GPU is lent.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
import traceback
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout, not another install
import deepaw_nb  # noqa: E402
from deepaw_nb.engine.memory import PeakMemory  # noqa: E402
from deepaw_nb.kernels.cueq import cueq_available  # noqa: E402

REFERENCE = Path(__file__).resolve().parents[1].parent / "shared" / "reference"
TOLERANCE = 1e-4
SIZES = {
    "full": {"probes": 200_000, "e3nn_probes": 20_000, "batch": 20_000, "sweep": [2_000, 8_000, 32_000, 128_000],
             "grid": (80, 80, 80), "compile_probes": 100_000},
    "quick": {"probes": 200, "e3nn_probes": 40, "batch": 100, "sweep": [32, 128],
              "grid": (8, 8, 8), "compile_probes": 200},
}


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda", help="cuda, cuda:N or cpu")
    p.add_argument("--quick", action="store_true", help="toy sizes (for CPU smoke tests)")
    p.add_argument("--budget", type=float, default=450.0, help="seconds for all sections together")
    p.add_argument("--no-compile", action="store_true", help="skip torch.compile runs")
    p.add_argument("--cases", nargs="*", help="reference cases for the correctness section (default: all)")
    p.add_argument("--json", type=Path, help="write the results here")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's; 1 for --device cpu)")
    return p.parse_args(argv)


class Check:
    """Runs sections against a deadline and collects their results."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.device = torch.device(args.device)
        self.sizes = SIZES["quick" if args.quick else "full"]
        self.deadline = time.perf_counter() + args.budget
        self.results: dict[str, Any] = {}
        self.atoms = deepaw_nb.as_atoms(REFERENCE / "hfo2_full.json")
        self.full = deepaw_nb.load_model(REFERENCE / "hfo2_full_f_nonlocal.pth")
        self.full_with_local = deepaw_nb.load_model(
            REFERENCE / "hfo2_full_f_nonlocal.pth", REFERENCE / "deepaw_f_local.pth"
        )
        rng = np.random.default_rng(0)
        self.points = rng.random((self.sizes["probes"], 3)) @ np.asarray(self.atoms.cell)

    def section(self, name: str, needs_seconds: float, body: Callable[[], Any]) -> None:
        left = self.deadline - time.perf_counter()
        if left < needs_seconds:
            self.results[name] = {"skipped": f"{left:.0f} s left of the budget, needs ~{needs_seconds:.0f} s"}
            print(f"[{name}] skipped ({left:.0f} s left)", flush=True)
            return
        print(f"[{name}] ...", flush=True)
        start = time.perf_counter()
        try:
            self.results[name] = body()
        except Exception as exc:  # noqa: BLE001 - record and go on to the next section
            self.results[name] = {"error": traceback.format_exception_only(type(exc), exc)[-1].strip()}
        self.results.setdefault(name, {})
        if isinstance(self.results[name], dict):
            self.results[name]["section_seconds"] = round(time.perf_counter() - start, 1)
        print(f"[{name}] done in {time.perf_counter() - start:.1f} s", flush=True)

    # ---- helpers -----------------------------------------------------------------------------
    def synchronize(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def points_run(self, points: np.ndarray, **options: Any) -> tuple[np.ndarray, float]:
        """(density, seconds) of predict_points with the full model on this device."""
        self.synchronize()
        start = time.perf_counter()
        values = deepaw_nb.predict_points(self.atoms, points, model=self.full, device=str(self.device), **options)
        self.synchronize()
        return values, time.perf_counter() - start

    def kernels(self) -> list[str]:
        return ["e3nn", "fast"] + (["cueq"] if cueq_available() else [])


def environment(check: Check) -> dict:
    info: dict[str, Any] = {
        "torch": torch.__version__, "python": platform.python_version(), "device": str(check.device),
        "cueq": cueq_available(), "deepaw_nb": deepaw_nb.__version__,
    }
    if check.device.type == "cuda":
        info.update(name=torch.cuda.get_device_name(check.device), cuda=torch.version.cuda,
                    memory_gib=round(torch.cuda.get_device_properties(check.device).total_memory / 2**30, 1))
    try:
        import cuequivariance_ops_torch  # noqa: F401

        info["cueq_cuda_ops"] = True
    except ImportError:
        info["cueq_cuda_ops"] = False
    return info


def correctness(check: Check) -> dict:
    rows = []
    for case in json.loads((REFERENCE / "manifest.json").read_text()):
        name = case["checkpoint"].removesuffix("_f_nonlocal.pth")
        if check.args.cases and name not in check.args.cases:
            continue
        expected = np.load(REFERENCE / f"{name}_expected.npz")
        model = deepaw_nb.load_model(REFERENCE / f"{name}_f_nonlocal.pth")
        atoms = deepaw_nb.as_atoms(REFERENCE / f"{name}.json")
        # torch.compile applies to the e3nn path (the fast kernel's data-dependent tiling runs eagerly).
        variants = [(k, False) for k in check.kernels()] + ([] if check.args.no_compile else [("e3nn", True)])
        for kernel, compiled in variants:
            values = deepaw_nb.predict_points(atoms, expected["probe_xyz"], model=model, device=str(check.device),
                                              kernel=kernel, compile=compiled)
            ref = expected["density_nonlocal"].astype(np.float64)
            error = float(np.abs(values - ref).max() / np.abs(ref).max())
            predictor = deepaw_nb.get_predictor(model, str(check.device), "fp32", compiled, kernel)
            rows.append({"case": name, "kernel": kernel, "compile": predictor.compiled, "max_rel_error": error,
                         "ok": error <= TOLERANCE, "backend": predictor.describe()["kernel_backend"]})
    return {"rows": rows, "all_ok": all(r["ok"] for r in rows), "tolerance": TOLERANCE}


def precision(check: Check) -> dict:
    batch = check.sizes["batch"]
    check.points_run(check.points[:batch], kernel="fast", precision="fp32", batch_size=batch)  # warm caches
    reference, seconds = check.points_run(check.points, kernel="fast", precision="fp32", batch_size=batch)
    rows = [{"kernel": "fast", "precision": "fp32", "probes_per_s": len(check.points) / seconds}]
    ref = reference.astype(np.float64)
    for kernel, name, count in [("fast", "tf32", None), ("fast", "bf16", None), ("fast", "fp16", None),
                                ("e3nn", "fp32", check.sizes["e3nn_probes"])] + (
                                    [("cueq", "fp32", check.sizes["e3nn_probes"])] if cueq_available() else []):
        pts = check.points[:count] if count else check.points
        try:
            values, seconds = check.points_run(pts, kernel=kernel, precision=name, batch_size=batch)
        except Exception as exc:  # noqa: BLE001
            rows.append({"kernel": kernel, "precision": name, "error": str(exc).splitlines()[0][:160]})
            continue
        error = np.abs(values.astype(np.float64) - ref[: len(pts)])
        rows.append({
            "kernel": kernel, "precision": name, "probes_per_s": len(pts) / seconds,
            "mae": float(error.mean()), "nmae": float(error.mean() / np.abs(ref[: len(pts)]).mean()),
            "max_abs": float(error.max()),
            "sum_rel_change": float((values.sum(dtype=np.float64) - ref[: len(pts)].sum()) / ref[: len(pts)].sum()),
        })
    return {"probes": len(check.points), "batch": batch, "rows": rows}


def batch_sweep(check: Check) -> dict:
    rows = []
    for size in check.sizes["sweep"]:
        pts = check.points[: max(size * 2, size)]
        if check.device.type == "cuda":
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(check.device)
            _, seconds = check.points_run(pts, kernel="fast", batch_size=size)
            peak = torch.cuda.max_memory_allocated(check.device)
        else:
            with PeakMemory(check.device) as meter:
                _, seconds = check.points_run(pts, kernel="fast", batch_size=size)
            peak = meter.peak
        rows.append({"batch": size, "us_per_probe": 1e6 * seconds / len(pts), "peak_bytes": int(peak),
                     "peak_bytes_per_probe": peak / size})
    return {"rows": rows}


def compile_check(check: Check) -> dict:
    """e3nn path eager vs ``torch.compile`` (first call includes compiling), and the fast kernel."""
    pts = check.points[: check.sizes["compile_probes"]]
    batch = check.sizes["batch"]
    out: dict[str, Any] = {}
    values = {}
    for label, kernel, compiled in (("e3nn_eager", "e3nn", False), ("e3nn_compiled", "e3nn", True), ("fast", "fast", False)):
        _, first = check.points_run(pts[:batch], kernel=kernel, compile=compiled, batch_size=batch)
        values[label], steady = check.points_run(pts, kernel=kernel, compile=compiled, batch_size=batch)
        predictor = deepaw_nb.get_predictor(check.full, str(check.device), "fp32", compiled, kernel)
        out[label] = {"first_call_s": first, "probes_per_s": len(pts) / steady, "compiled": predictor.compiled,
                      "compile_error": predictor.compile_error}
    ref = values["e3nn_eager"]
    out["max_rel_difference_compiled"] = float(np.abs(values["e3nn_compiled"] - ref).max() / np.abs(ref).max())
    return out


def end_to_end(check: Check) -> dict:
    out = {}
    for symmetry in (True, False):
        check.synchronize()
        start = time.perf_counter()
        result = deepaw_nb.predict(check.atoms, model=check.full_with_local, grid=check.sizes["grid"],
                                   device=str(check.device), symmetry=symmetry, progress=False)
        check.synchronize()
        out["symmetry" if symmetry else "no_symmetry"] = {
            "wall_s": time.perf_counter() - start, "grid": list(result.grid_shape),
            "evaluations": result.provenance["symmetry"].get("evaluations"),
            "electrons": result.electron_count(), "stages": result.timings,
            "batch_sizes": result.provenance.get("batch_sizes_used"),
        }
    return out


def print_table(results: dict) -> None:
    print("\n== GPU check ==")
    print(json.dumps(results.get("environment", {})))
    corr = results.get("correctness", {})
    for row in corr.get("rows", []):
        tag = "ok " if row["ok"] else "BAD"
        print(f"  {tag} {row['case']:14s} {row['kernel']:5s} compile={row['compile']!s:5s} max rel err {row['max_rel_error']:.2e}")
    for row in results.get("precision", {}).get("rows", []):
        if "error" in row:
            print(f"  {row['kernel']:5s} {row['precision']:5s} error: {row['error']}")
            continue
        extra = f"  NMAE {row['nmae']:.2e}  max {row['max_abs']:.2e}  Σ {row['sum_rel_change']:+.1e}" if "nmae" in row else ""
        print(f"  {row['kernel']:5s} {row['precision']:5s} {row['probes_per_s']:12,.0f} probes/s{extra}")
    for row in results.get("batch_sweep", {}).get("rows", []):
        print(f"  batch {row['batch']:8d}: {row['us_per_probe']:8.2f} µs/probe, peak {row['peak_bytes'] / 2**20:9.1f} MiB")
    comp = results.get("compile", {})
    if "e3nn_eager" in comp:
        c = comp["e3nn_compiled"]
        print(f"  e3nn eager {comp['e3nn_eager']['probes_per_s']:,.0f}/s, compiled {c['probes_per_s']:,.0f}/s "
              f"(compiled={c['compiled']}, first call {c['first_call_s']:.1f} s, diff {comp['max_rel_difference_compiled']:.1e}); "
              f"fast {comp['fast']['probes_per_s']:,.0f}/s")
    for key, row in results.get("end_to_end", {}).items():
        if isinstance(row, dict) and "wall_s" in row:
            print(f"  HfO2 {row['grid']} {key}: {row['wall_s']:.1f} s, {row['evaluations']} evaluations, {row['electrons']:.3f} e")
    for name, section in results.items():
        if isinstance(section, dict) and ("error" in section or "skipped" in section):
            print(f"  [{name}] {section.get('error') or section.get('skipped')}")


def main(argv: list[str] | None = None) -> dict:
    args = parse(argv)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit("no CUDA device here; run with --device cpu --quick for a smoke test")
    if args.threads or args.device == "cpu":
        torch.set_num_threads(args.threads or 1)
    check = Check(args)
    quick = args.quick
    check.section("environment", 0, lambda: environment(check))
    check.section("correctness", 5 if quick else 60, lambda: correctness(check))
    check.section("precision", 5 if quick else 60, lambda: precision(check))
    check.section("batch_sweep", 5 if quick else 40, lambda: batch_sweep(check))
    if not args.no_compile:
        check.section("compile", 5 if quick else 90, lambda: compile_check(check))
    check.section("end_to_end", 5 if quick else 60, lambda: end_to_end(check))
    print_table(check.results)
    if args.json:
        args.json.write_text(json.dumps(check.results, indent=1, default=float))
    return check.results


if __name__ == "__main__":
    main()
