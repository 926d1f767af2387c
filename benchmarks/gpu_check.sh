#!/usr/bin/env bash
# The prepared GPU check (see benchmarks/gpu_check.py): ≤ 8 minutes on a lent GPU.
# Writes gpu_check.json (or $1) and prints the table.  Run from the repository root.
set -euo pipefail
out="${1:-gpu_check.json}"
exec timeout 480 python benchmarks/gpu_check.py --json "$out"
