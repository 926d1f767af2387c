"""Training loop: Adam, warm-up + cosine learning rate, clipping, checkpoints, resume.

Everything random after initialisation (which structures and probes form a batch) comes from
one seeded :class:`numpy.random.Generator` whose state is checkpointed together with the model,
the optimiser, the torch RNG and the step, so a resumed run continues exactly where it stopped.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from deepaw_nb.io.atomic import atomic_write
from deepaw_nb.model import FNonlocal, ModelConfig
from deepaw_nb.model.bond_charge import BondChargeDensity
from deepaw_nb.model.checkpoint import read_checkpoint
from deepaw_nb.model.free_atoms import FreeAtomDensity
from deepaw_nb.train.batch import collate, density_loss, forward, uniform_nmae
from deepaw_nb.train.data import StructureSample


@dataclass(frozen=True)
class TrainSettings:
    """Optimisation settings.

    Attributes:
        steps: total optimiser steps (the cosine schedule ends here).
        lr / lr_min: peak and final learning rate; warmup: linear warm-up steps.
        batch_structures: structures per step; probes_per_structure: probes drawn from each.
        loss: ``"l1"`` (per-structure NMAE-like) or ``"mse"``.
        clip: gradient-norm clip; seed: torch and numpy seed.
        checkpoint_every / eval_every: steps between checkpoints / validation passes.
        val_probes: probes per validation structure (fixed subset, uniform ones first).
        target: ``"density"`` (the network predicts ρ) or ``"residual"`` (the network predicts
            ρ − ρ_atoms and the trainer's :class:`FreeAtomDensity` is added back; export such a
            model with ``save_bundle(..., free_atoms=...)`` so inference adds the same term).
        schedule_start: global step at which warm-up and cosine begin (0 for a fresh run; the
            resume step for a fine-tuning warm restart that continues a finished run).
    """

    steps: int = 2000
    lr: float = 3e-3
    lr_min: float = 1e-4
    warmup: int = 50
    batch_structures: int = 4
    probes_per_structure: int = 128
    loss: str = "l1"
    clip: float = 1.0
    seed: int = 0
    checkpoint_every: int = 50
    eval_every: int = 100
    val_probes: int = 1000
    target: str = "density"
    schedule_start: int = 0


def learning_rate(step: int, s: TrainSettings) -> float:
    """Linear warm-up to ``lr`` then cosine decay to ``lr_min`` at ``steps`` (both counted
    from ``schedule_start``)."""
    local = step - s.schedule_start
    if local < s.warmup:
        return s.lr * (max(local, 0) + 1) / s.warmup
    progress = min(1.0, (local - s.warmup) / max(1, s.steps - s.schedule_start - s.warmup))
    return s.lr_min + 0.5 * (s.lr - s.lr_min) * (1 + math.cos(math.pi * progress))


def _validation_subset(sample: StructureSample, count: int) -> StructureSample:
    """Deterministic probe subset: the first ``count`` uniform probes, else all."""
    uniform = np.flatnonzero(sample.uniform.numpy())
    if len(uniform) == 0:
        uniform = np.arange(sample.num_probes)
    return sample.subset(uniform[:count])


def predict_batch(  # type: ignore[no-untyped-def]
    model: FNonlocal, batch, target: str, free_atoms: FreeAtomDensity | None = None,
    bond_charge: BondChargeDensity | None = None,
) -> torch.Tensor:
    """Total density (P,) in e/Å³: the network output, plus the baseline for a residual model.

    The baseline is ρ_atoms from ``free_atoms``, plus the (frozen) bond-charge term when
    given, both evaluated on the batch's own graphs exactly as
    :class:`~deepaw_nb.engine.Predictor` adds them at inference.
    """
    if target not in ("density", "residual"):
        raise ValueError(f"unknown target {target!r}; use 'density' or 'residual'")
    pred = forward(model, batch)
    if target == "density":
        return pred
    if free_atoms is None:
        raise ValueError("target='residual' needs free-atom tables (FreeAtomDensity)")
    with torch.no_grad():
        base = free_atoms(batch.numbers[batch.probe_src], batch.probe_vec, batch.probe_dst, batch.num_probes)
        if bond_charge is not None:
            scalars = bond_charge.atom_scalars(batch.numbers, batch.atom_src, batch.atom_dst, batch.atom_vec)
            base = base + bond_charge(
                scalars, batch.numbers, batch.probe_src, batch.probe_dst, batch.probe_vec, batch.num_probes
            )
    return pred + base


class Trainer:
    """Owns the model, optimiser and sampling RNG of one training run."""

    def __init__(
        self,
        config: ModelConfig,
        settings: TrainSettings,
        train: list[StructureSample],
        val: list[StructureSample],
        free_atoms: FreeAtomDensity | None = None,
        bond_charge: BondChargeDensity | None = None,
    ) -> None:
        if not train:
            raise ValueError("no training structures; pack some with data/recipes/pack_reference.py")
        if settings.target == "residual" and free_atoms is None:
            raise ValueError("target='residual' needs free_atoms (FreeAtomDensity.from_npz(...))")
        self.free_atoms = free_atoms
        self.bond_charge = bond_charge
        self.config = config
        self.settings = settings
        self.train = train
        self.val = [_validation_subset(s, settings.val_probes) for s in val]
        torch.manual_seed(settings.seed)
        self.model = FNonlocal(config)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=settings.lr)
        self.rng = np.random.default_rng(settings.seed)
        self.step = 0
        self.elapsed = 0.0
        self.history: list[dict[str, Any]] = []

    # ---- one step --------------------------------------------------------------------------
    def sample_batch(self):  # type: ignore[no-untyped-def]
        """Draw structures (without replacement) and probes for the next step."""
        s = self.settings
        count = min(s.batch_structures, len(self.train))
        chosen = self.rng.choice(len(self.train), size=count, replace=False)
        parts = []
        for index in chosen:
            sample = self.train[int(index)]
            k = min(s.probes_per_structure, sample.num_probes)
            parts.append(sample.subset(self.rng.choice(sample.num_probes, size=k, replace=False)))
        return collate(parts)

    def train_step(self) -> float:
        """One optimiser step; returns the batch loss."""
        self.model.train()
        lr = learning_rate(self.step, self.settings)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        batch = self.sample_batch()
        pred = predict_batch(self.model, batch, self.settings.target, self.free_atoms, self.bond_charge)
        loss = density_loss(pred, batch, self.settings.loss)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.settings.clip)
        self.optimizer.step()
        self.step += 1
        return float(loss.detach())

    # ---- validation ------------------------------------------------------------------------
    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        """Mean over validation structures of the uniform-probe NMAE (model and free atoms)."""
        self.model.eval()
        model_nmae, base_nmae = [], []
        for sample in self.val:
            batch = collate([sample])
            pred = predict_batch(self.model, batch, self.settings.target, self.free_atoms, self.bond_charge)
            model_nmae.append(uniform_nmae(pred, batch.density, batch.uniform))
            base_nmae.append(uniform_nmae(batch.density_atoms, batch.density, batch.uniform))
        if not model_nmae:
            return {}
        return {"val_nmae": float(np.mean(model_nmae)), "val_baseline_nmae": float(np.mean(base_nmae))}

    # ---- checkpoints -----------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """Everything needed to continue bit-for-bit (plain types + tensors only)."""
        return {
            "config": self.config.to_dict(),
            "settings": asdict(self.settings),
            "step": self.step,
            "elapsed": self.elapsed,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "numpy_rng": self.rng.bit_generator.state,
            "torch_rng": torch.get_rng_state(),
            "history": self.history,
        }

    def save_checkpoint(self, path: str | Path) -> Path:
        """Write the training state atomically (replacing an older checkpoint)."""
        with atomic_write(path, "wb", overwrite=True) as handle:
            torch.save(self.state(), handle)
        return Path(path)

    def load_checkpoint(self, path: str | Path) -> None:
        """Restore a state written by :meth:`save_checkpoint` (same config required)."""
        state = read_checkpoint(path)
        if state["config"] != self.config.to_dict():
            raise ValueError(f"checkpoint {path} has config {state['config']}, not {self.config.to_dict()}")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.rng.bit_generator.state = state["numpy_rng"]
        torch.set_rng_state(state["torch_rng"])
        self.step = int(state["step"])
        self.elapsed = float(state["elapsed"])
        self.history = list(state["history"])

    def start_from(self, network: FNonlocal) -> None:
        """Fine-tune: copy the weights of a trained ``network`` of the same config into the
        model before the first step (optimiser state and step counter stay fresh)."""
        if self.step:
            raise ValueError("start_from() is for a fresh run; this one is at step %d" % self.step)
        if network.config.to_dict() != self.config.to_dict():
            raise ValueError(f"network has config {network.config.to_dict()}, not {self.config.to_dict()}")
        self.model.load_state_dict(network.state_dict())

    # ---- the loop --------------------------------------------------------------------------
    def run(
        self,
        until: int | None = None,
        checkpoint: str | Path | None = None,
        time_limit: float | None = None,
        on_record: Callable[[dict[str, Any]], None] | None = None,
    ) -> list[dict[str, Any]]:
        """Train up to step ``until`` (default: ``settings.steps``) or ``time_limit`` seconds.

        Every ``eval_every`` steps (and at the end) a record with the mean training loss since
        the previous record, the validation NMAE and the wall time is appended to ``history``
        and passed to ``on_record``; the checkpoint is written every ``checkpoint_every`` steps.
        """
        s = self.settings
        until = s.steps if until is None else min(until, s.steps)
        start = time.perf_counter()
        base_elapsed = self.elapsed
        losses: list[float] = []
        while self.step < until:
            losses.append(self.train_step())
            self.elapsed = base_elapsed + time.perf_counter() - start
            stop = self.step >= until or (time_limit is not None and time.perf_counter() - start > time_limit)
            if self.step % s.eval_every == 0 or stop:
                record = {"step": self.step, "time_s": round(self.elapsed, 1),
                          "lr": learning_rate(self.step - 1, s), "train_loss": float(np.mean(losses))}
                record.update(self.validate())
                self.elapsed = base_elapsed + time.perf_counter() - start
                self.history.append(record)
                losses = []
                if on_record:
                    on_record(record)
            if checkpoint is not None and (self.step % s.checkpoint_every == 0 or stop):
                self.save_checkpoint(checkpoint)
            if stop:
                break
        return self.history
