"""Training data: ``data/reference`` structures as tensors with precomputed graphs.

Each packed structure becomes one :class:`StructureSample` holding the atom graph and, for
every stored probe point, the atom -> probe edges built with the engine's own
:func:`~deepaw_nb.graph.atom_edges` / :func:`~deepaw_nb.graph.point_edges` at the model
cutoff (Å), so training sees exactly the graphs inference builds.  Probe sets (``probes/``)
are used as stored; full grids (``grids/``) are sub-sampled uniformly.

Densities are in e/Å³.  ``uniform`` marks probes drawn uniformly over the grid
(``sample_kind == 0``): sums over them estimate sums over the whole grid, so NMAE computed on
them estimates the grid NMAE.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from deepaw_nb.graph import atom_edges, point_edges

#: Default location of the packed reference data in a source checkout.
REFERENCE_DIR = Path(__file__).resolve().parents[2] / "data" / "reference"


@dataclass
class StructureSample:
    """One structure with its probes, ready for the network.

    Attributes:
        id: structure id from ``index.json``.
        numbers: (N,) int64 atomic numbers.
        atom_src, atom_dst: (Ea,) int64 atom-graph sender / receiver indices.
        atom_vec: (Ea, 3) float32 edge vectors in Å.
        probe_src, probe_dst: (Ep,) int64 atom -> probe edges (receiver = probe index).
        probe_vec: (Ep, 3) float32 edge vectors (probe - atom image) in Å.
        density: (P,) float32 reference density ñ in e/Å³.
        density_atoms: (P,) float32 free-atom superposition density in e/Å³.
        uniform: (P,) bool, probe drawn uniformly over the grid.
    """

    id: str
    numbers: torch.Tensor
    atom_src: torch.Tensor
    atom_dst: torch.Tensor
    atom_vec: torch.Tensor
    probe_src: torch.Tensor
    probe_dst: torch.Tensor
    probe_vec: torch.Tensor
    density: torch.Tensor
    density_atoms: torch.Tensor
    uniform: torch.Tensor

    @property
    def num_atoms(self) -> int:
        return int(self.numbers.shape[0])

    @property
    def num_probes(self) -> int:
        return int(self.density.shape[0])

    @property
    def scale(self) -> float:
        """Mean reference density over the uniform probes (e/Å³): the NMAE denominator."""
        ref = self.density[self.uniform] if bool(self.uniform.any()) else self.density
        return float(ref.abs().mean())

    def subset(self, probes: np.ndarray) -> "StructureSample":
        """The same structure restricted to the given probe indices (edges renumbered)."""
        probes = np.sort(np.asarray(probes, dtype=np.int64))
        keep = np.zeros(self.num_probes, dtype=bool)
        keep[probes] = True
        new_index = np.cumsum(keep) - 1
        dst = self.probe_dst.numpy()
        mask = keep[dst]
        return StructureSample(
            id=self.id,
            numbers=self.numbers,
            atom_src=self.atom_src,
            atom_dst=self.atom_dst,
            atom_vec=self.atom_vec,
            probe_src=self.probe_src[torch.from_numpy(mask)],
            probe_dst=torch.from_numpy(new_index[dst[mask]]),
            probe_vec=self.probe_vec[torch.from_numpy(mask)],
            density=self.density[torch.from_numpy(probes)],
            density_atoms=self.density_atoms[torch.from_numpy(probes)],
            uniform=self.uniform[torch.from_numpy(probes)],
        )


def _edges_as_tensors(edges) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:  # type: ignore[no-untyped-def]
    return (
        torch.from_numpy(np.ascontiguousarray(edges.sender, dtype=np.int64)),
        torch.from_numpy(np.ascontiguousarray(edges.receiver, dtype=np.int64)),
        torch.from_numpy(edges.vectors.astype(np.float32)),
    )


def build_sample(
    sid: str,
    numbers: np.ndarray,
    positions: np.ndarray,
    cell: np.ndarray,
    frac_coords: np.ndarray,
    density: np.ndarray,
    density_atoms: np.ndarray,
    uniform: np.ndarray,
    cutoff: float,
) -> StructureSample:
    """A :class:`StructureSample` from arrays (positions/cell in Å, densities in e/Å³)."""
    cell = np.asarray(cell, dtype=np.float64)
    positions = np.asarray(positions, dtype=np.float64)
    points = np.asarray(frac_coords, dtype=np.float64) @ cell
    a_src, a_dst, a_vec = _edges_as_tensors(atom_edges(positions, cell, cutoff))
    p_src, p_dst, p_vec = _edges_as_tensors(point_edges(positions, cell, points, cutoff))
    return StructureSample(
        id=sid,
        numbers=torch.as_tensor(np.asarray(numbers), dtype=torch.long),
        atom_src=a_src,
        atom_dst=a_dst,
        atom_vec=a_vec,
        probe_src=p_src,
        probe_dst=p_dst,
        probe_vec=p_vec,
        density=torch.as_tensor(np.asarray(density, dtype=np.float32)),
        density_atoms=torch.as_tensor(np.asarray(density_atoms, dtype=np.float32)),
        uniform=torch.as_tensor(np.asarray(uniform, dtype=bool)),
    )


def _grid_points(shape: np.ndarray, count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``count`` distinct flat indices of a grid and their fractional coordinates."""
    total = int(np.prod(shape))
    rng = np.random.default_rng(seed)
    flat = np.sort(rng.choice(total, size=min(count, total), replace=False))
    ijk = np.stack(np.unravel_index(flat, tuple(shape)), axis=1)
    return flat, ijk / np.asarray(shape, dtype=np.float64)


def load_sample(path: str | Path, cutoff: float, grid_points: int = 4000, max_probes: int | None = None) -> StructureSample:
    """Read one packed ``.npz`` (probe set or full grid) into a :class:`StructureSample`.

    Args:
        path: ``probes/<id>.npz`` or ``grids/<id>.npz``.
        cutoff: model cutoff in Å for both graphs.
        grid_points: uniform points drawn from a full grid (seeded by the id).
        max_probes: keep at most this many stored probes (seeded choice), to save memory.
    """
    with np.load(path) as z:
        sid = str(z["id"])
        seed = zlib.crc32(sid.encode())
        if "frac_coords" in z.files:
            frac = z["frac_coords"]
            density, density_atoms = z["density"], z["density_atoms"]
            uniform = z["sample_kind"] == 0
        else:
            shape = z["grid_shape"]
            flat, frac = _grid_points(shape, grid_points, seed)
            density = z["density"].reshape(-1)[flat]
            density_atoms = z["density_atoms"].reshape(-1)[flat]
            uniform = np.ones(len(flat), dtype=bool)
        if max_probes is not None and len(density) > max_probes:
            pick = np.sort(np.random.default_rng(seed).choice(len(density), max_probes, replace=False))
            frac, density, density_atoms, uniform = frac[pick], density[pick], density_atoms[pick], uniform[pick]
        return build_sample(
            sid, z["numbers"], z["positions"], z["cell"], frac, density, density_atoms, uniform, cutoff
        )


def read_index(root: str | Path = REFERENCE_DIR) -> dict:
    """The parsed ``index.json`` of a reference directory."""
    with open(Path(root) / "index.json", encoding="utf-8") as handle:
        return json.load(handle)


def validation_ids(ids: list[str], fraction: float, seed: int) -> list[str]:
    """A seeded, held-out-by-structure slice of the training ids.

    Membership depends only on the id and the seed (a hash), so a structure keeps its side
    when more structures are packed later; ``fraction`` is the expected share.
    """
    threshold = int(fraction * 2**32)
    return sorted(i for i in ids if zlib.crc32(f"{seed}:{i}".encode()) < threshold)


def training_ids(
    root: str | Path = REFERENCE_DIR, val_fraction: float = 0.1, seed: int = 0, by: str = "structure"
) -> tuple[list[str], list[str]]:
    """(train ids, validation ids) from the ``train`` split of ``index.json``.

    ``by="structure"`` draws single structures (a strained copy of a validation cell may be in
    training: validation then measures seen compositions); ``by="composition"`` draws whole
    reduced compositions, so validation measures unseen compositions like the held-out test
    split does, without touching it.  Full grids of training structures (the examples) are
    included like probe sets.
    """
    if by not in ("structure", "composition"):
        raise ValueError(f"validation split by {by!r}: use 'structure' or 'composition'")
    entries = [s for s in read_index(root)["structures"] if s["split"] == "train"]
    ids = sorted(s["id"] for s in entries)
    if by == "structure":
        val = set(validation_ids(ids, val_fraction, seed))
    else:
        composition = {s["id"]: s["composition"] for s in entries}
        chosen = set(validation_ids(sorted(set(composition.values())), val_fraction, seed))
        val = {i for i in ids if composition[i] in chosen}
    return [i for i in ids if i not in val], sorted(val)


def load_samples(
    ids: list[str],
    cutoff: float,
    root: str | Path = REFERENCE_DIR,
    max_probes: int | None = None,
) -> list[StructureSample]:
    """Load the given structure ids (probe sets or grids) from a reference directory."""
    files = {s["id"]: s["file"] for s in read_index(root)["structures"]}
    return [load_sample(Path(root) / files[i], cutoff, max_probes=max_probes) for i in ids]


def species_of(samples: list[StructureSample]) -> list[int]:
    """Sorted atomic numbers present in the samples."""
    found: set[int] = set()
    for sample in samples:
        found.update(int(z) for z in sample.numbers.tolist())
    return sorted(found)
