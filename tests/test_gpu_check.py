"""benchmarks/gpu_check.py runs every section at toy sizes on the CPU (so it works when a GPU is lent)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REFERENCE

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(not REFERENCE.is_dir(), reason="reference fixtures missing")
def test_gpu_check_quick_on_cpu(tmp_path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "check.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "gpu_check.py"), "--device", "cpu", "--quick", "--cases", "si_l2",
         "--no-compile", "--budget", "1500", "--json", str(out)],
        capture_output=True, text=True, timeout=1800,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    results = json.loads(out.read_text())
    # torch.compile (inductor) of the full model takes minutes on this CPU: the GPU run does it.
    assert "compile" not in results
    for section in ("environment", "correctness", "precision", "batch_sweep", "end_to_end"):
        assert section in results and "error" not in results[section] and "skipped" not in results[section], section
    assert results["correctness"]["all_ok"]
    kernels = {row["kernel"] for row in results["precision"]["rows"]}
    assert {"fast", "e3nn"} <= kernels
    fp16 = next(r for r in results["precision"]["rows"] if r["precision"] == "fp16")
    assert 0 <= fp16["nmae"] < 0.05  # reduced precision is close to fp32, and the error is reported
    assert results["end_to_end"]["symmetry"]["evaluations"] < results["end_to_end"]["no_symmetry"]["evaluations"]
    assert "HfO2" in proc.stdout and "probes/s" in proc.stdout
