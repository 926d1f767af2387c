"""Training curves: the history records as CSV and a matplotlib (Agg) plot."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from deepaw_nb.io.atomic import atomic_write

COLUMNS = ("step", "time_s", "lr", "train_loss", "val_nmae", "val_baseline_nmae")


def write_csv(history: list[dict[str, Any]], path: str | Path) -> Path:
    """Write the records (one row per validation pass) atomically."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for record in history:
        writer.writerow(record)
    with atomic_write(path, "w", overwrite=True) as handle:
        handle.write(buffer.getvalue())
    return Path(path)


def plot_curves(history: list[dict[str, Any]], path: str | Path, title: str = "") -> Path:
    """Training loss and validation NMAE (%) against step, log scale, with the baseline line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [r["step"] for r in history]
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=110)
    ax.plot(steps, [100 * r["train_loss"] for r in history], label="train loss (per-structure L1 / mean ρ, %)")
    val = [(r["step"], 100 * r["val_nmae"]) for r in history if "val_nmae" in r]
    if val:
        ax.plot(*zip(*val), marker="o", ms=3, label="validation NMAE (%)")
        base = [r["val_baseline_nmae"] for r in history if "val_baseline_nmae" in r]
        ax.axhline(100 * base[-1], color="grey", ls="--", label="free-atom superposition (validation)")
    ax.set_yscale("log")
    ax.set_xlabel("optimiser step")
    ax.set_ylabel("%")
    ax.set_title(title, fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    with atomic_write(path, "wb", overwrite=True) as handle:
        handle.write(buffer.getvalue())
    return Path(path)
