"""The fast probe model: same function and weights as ``ProbeModel``, chunked and hoisted.

Per structure (``prepare``): each probe layer's sender features are contracted with the
Clebsch-Gordan tables into per-atom tables (see plan.py).  Per batch, probes are processed in
chunks of whole probes holding about ``edge_chunk`` edges; a chunk runs through all layers
(probes are independent given the atoms), so the per-edge intermediates (up to ~17,700 numbers
per edge for the published model) exist for one chunk only and memory per probe is just the
edge geometry and the outputs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from deepaw_nb.errors import DeviceError
from deepaw_nb.kernels import fused_c
from deepaw_nb.kernels import radial_table as radial_tables
from deepaw_nb.kernels.gemm import linear
from deepaw_nb.kernels.layer import FastLayer, RadialWeightsSource, edge_tiles
from deepaw_nb.kernels.parallel import map_chunks
from deepaw_nb.model.f_nonlocal import AtomContext, ProbeModel

#: Edge-degree groups of the per-atom products: one per degree (the sparse choice, fastest
#: measured on CPU; see benchmarks/README_kernel.md).
DEFAULT_GROUPS = ((0,), (1,), (2,), (3,), (4,))
#: Edges per chunk (whole probes): bounds what a chunk keeps per edge (harmonics, radial
#: weights) and the per-probe message sums.
DEFAULT_EDGE_CHUNK = 4096
#: Edges per tile: a (tile, group columns) block (<= ~2.5 MB, full model) stays in cache.
DEFAULT_TILE = 128
#: Largest per-structure atom-table size kept in memory (bytes).  Above it (about 560 atoms
#: with the published model, 0.95 MB per atom) each chunk builds the tables of just the atoms
#: it sees, so memory no longer grows with the cell.
DEFAULT_TABLE_BUDGET = 512 * 2**20
#: Chunks are this many times ``edge_chunk`` when they build their own tables.
PER_CHUNK_TABLES_CHUNK_FACTOR = 4


@dataclass
class PreparedAtoms:
    """Per-structure input of :class:`FastProbeModel`.

    Either ``tables`` -- per layer, per degree group, the (atoms, group harmonics, group
    columns) tables ``A`` of plan.py (float32, on the device) -- or, for cells whose tables
    would exceed the kernel's ``table_budget``, ``senders`` (per layer, the (atoms, dim) ``lin1``
    features) from which every chunk builds the tables of its own atoms.
    """

    tables: list[list[torch.Tensor]] | None
    num_atoms: int
    _cast: dict = field(default_factory=dict, repr=False)
    senders: list[torch.Tensor] | None = None
    #: True if the tables are in the block layout of the fused C messages (fused_c.py).
    blocked: bool = False

    def to(self, device: torch.device | str) -> "PreparedAtoms":
        if self.tables is None:
            assert self.senders is not None
            return PreparedAtoms(None, self.num_atoms, senders=[s.to(device) for s in self.senders], blocked=self.blocked)
        return PreparedAtoms([[t.to(device) for t in layer] for layer in self.tables], self.num_atoms, blocked=self.blocked)

    @property
    def tables_per_chunk(self) -> bool:
        """True if the tables are built per chunk (large cells) instead of once."""
        return self.tables is None

    def tables_as(self, dtype: torch.dtype) -> list[list[torch.Tensor]] | None:
        """The tables in ``dtype`` (reduced-precision copies are made once and kept)."""
        if self.tables is None or dtype == self.tables[0][0].dtype:
            return self.tables
        if dtype not in self._cast:
            self._cast[dtype] = [[t.to(dtype) for t in layer] for layer in self.tables]
        return self._cast[dtype]

    @property
    def nbytes(self) -> int:
        if self.tables is None:
            assert self.senders is not None
            return sum(s.numel() * s.element_size() for s in self.senders)
        return sum(t.numel() * t.element_size() for layer in self.tables for t in layer)


class FastProbeModel(nn.Module):
    """Drop-in for :class:`ProbeModel` (same ``forward`` signature and outputs).

    Args:
        probe_model: the e3nn probe model whose weights are read (shared, not copied, for the
            harmonics, radial basis, gates and read-out modules).
        groups: edge-degree groups of the per-atom products (contiguous degree ranges).
        edge_chunk: about how many edges one chunk holds (a probe is never split).
        tile: edges per tile of the per-atom products (cache blocking).
        workers: CPU threads that take whole chunks (each running single-threaded operations,
            see parallel.py); ``None``: ``torch.get_num_threads()`` at call time.
        table_budget: bytes of per-structure atom tables kept in memory; larger cells build
            each chunk's tables on the fly (same values, memory independent of the cell).
            ``None``: :data:`DEFAULT_TABLE_BUDGET` at the time of :meth:`prepare`.
        fused: sum the messages with the fused C kernel of :mod:`fused_c` (CPU only): ``None``
            uses it when it builds on this machine, ``False`` never, ``True`` requires it.
        radial_table: take the radial weights from cubic Hermite tables in the edge length
            (:mod:`radial_table`; fused C path only) instead of the radial MLP: ``None`` when
            the tables fit :data:`~radial_table.TABLE_BUDGET` (and ``DEEPAW_NB_RADIAL_TABLE``
            is not 0), ``False`` never, ``True`` whenever the fused path runs.

    Under ``torch.autocast`` the dense products (radial MLP, ``lin2``/``lin3``) run in the
    autocast dtype (bf16/fp16).  The memory-bound per-edge work (products with the atom
    tables, weight scaling, sums over edges) stays float32 on CPUs, which have no faster
    reduced-precision elementwise path (and oneDNN re-plans every new small product shape),
    and uses the autocast dtype on GPUs.  Gates and outputs are float32.
    """

    def __init__(
        self,
        probe_model: ProbeModel,
        groups: tuple[tuple[int, ...], ...] | None = None,
        edge_chunk: int = DEFAULT_EDGE_CHUNK,
        tile: int = DEFAULT_TILE,
        workers: int | None = None,
        table_budget: int | None = None,
        fused: bool | None = None,
        radial_table: bool | None = None,
    ) -> None:
        super().__init__()
        block = probe_model.interaction_block
        lmax = max(ir.l for _, ir in block.convolutions[0].tp.irreps_in2)
        if groups is None:
            groups = tuple((l,) for l in range(lmax + 1))
        self.spherical_harmonics = probe_model.spherical_harmonics
        self.basis = probe_model.basis
        self.readout = probe_model.readout
        self.layers = nn.ModuleList(FastLayer(c, g, groups) for c, g in zip(block.convolutions, block.gates))
        # The three radial MLPs share their input: one (num_basis, 3 * hidden) product.
        self.register_buffer("first_t", torch.cat([layer.first for layer in self.layers], dim=1).t().contiguous())
        self._hidden = [layer.first.shape[1] for layer in self.layers]
        self.edge_chunk = int(edge_chunk)
        self.tile = int(tile)
        self.workers = workers
        self.table_budget = table_budget
        self.fused = fused
        self.radial_table = radial_table
        self._radial_tables: list[radial_tables.RadialTable] | None = None
        self._fusable = all(
            g.sh_slice.stop - g.sh_slice.start <= fused_c.MAX_HARMONICS for layer in self.layers for g in layer.plan.groups
        )
        self.representation_dim = probe_model.irreps_representation.dim

    @property
    def table_bytes_per_atom(self) -> int:
        """Float32 bytes of one atom's tables, all layers and groups (0.95 MB, published model)."""
        return 4 * sum(
            (g.sh_slice.stop - g.sh_slice.start) * g.columns for layer in self.layers for g in layer.plan.groups
        )

    @torch.no_grad()
    def prepare(self, context: AtomContext | PreparedAtoms) -> PreparedAtoms:
        """Per-structure tables from an :class:`AtomContext` (idempotent on prepared input).

        Cells whose tables would exceed ``table_budget`` keep only the sender features; each
        chunk then builds the tables of the atoms it sees (see :meth:`_chunk_tables`).
        """
        if isinstance(context, PreparedAtoms):
            return context
        senders = [s.float() for s in context.sender_features]
        atoms = int(senders[0].shape[0])
        budget = DEFAULT_TABLE_BUDGET if self.table_budget is None else self.table_budget
        blocked = self.fused_function(senders[0].device) is not None
        if atoms * self.table_bytes_per_atom > budget:
            return PreparedAtoms(None, atoms, senders=senders, blocked=blocked)
        return PreparedAtoms(self._tables(senders, blocked), atoms, blocked=blocked)

    def _tables(self, senders: list[torch.Tensor], blocked: bool) -> list[list[torch.Tensor]]:
        """Per layer, per group, the atom tables of ``senders`` (blocked for the C kernel)."""
        tables = [layer.plan.atom_tables(s) for layer, s in zip(self.layers, senders)]
        if not blocked:
            return tables
        return [
            [fused_c.blocked_table(t, layout) for t, layout in zip(layer_tables, layer.block_layouts)]
            for layer, layer_tables in zip(self.layers, tables)
        ]

    def fused_function(self, device: torch.device):  # type: ignore[no-untyped-def]
        """The fused C function if this kernel uses it on ``device``, else ``None``."""
        if self.fused is False or torch.device(device).type != "cpu" or not self._fusable:
            if self.fused and not self._fusable:
                raise DeviceError(f"the fused C kernel handles degree groups of <= {fused_c.MAX_HARMONICS} harmonics; use fused=None")
            return None
        function = fused_c.kernel()
        if function is None and self.fused:
            raise DeviceError(f"the fused C kernel is not available: {fused_c.unavailable_reason()}; use fused=None")
        return function

    def radial_lookup(self, device: torch.device) -> list[radial_tables.RadialTable] | None:
        """Per layer, the radial weight table used on ``device`` (built once), or ``None``
        when the radial MLP runs (no fused C path, tables off, or over budget)."""
        if self.radial_table is False or self.fused_function(device) is None:
            return None
        if self.radial_table is None and not radial_tables.enabled_by_environment():
            return None
        if radial_tables.function() is None:
            if self.radial_table:
                raise DeviceError("the radial table C function is not available; use radial_table=None")
            return None
        if self.radial_table is None:
            blocks = sum(int(layer.second_blocked.shape[0]) for layer in self.layers)
            if radial_tables.table_bytes(blocks) > radial_tables.TABLE_BUDGET:
                return None
        if self._radial_tables is None:
            self._radial_tables = [
                radial_tables.build_table(self.basis, layer.first, layer.second_blocked, radial_tables.DEFAULT_INTERVALS)
                for layer in self.layers
            ]
        return self._radial_tables

    def _chunk_tables(
        self, prepared: PreparedAtoms, src: torch.Tensor, dtype: torch.dtype
    ) -> tuple[list[list[torch.Tensor]], torch.Tensor, int]:
        """Tables of just the senders in ``src`` and ``src`` renumbered to them (large cells)."""
        assert prepared.senders is not None
        present, local = torch.unique(src, return_inverse=True)
        tables = self._tables([s[present] for s in prepared.senders], prepared.blocked)
        return [[t.to(dtype) for t in layer] for layer in tables], local, int(present.numel())

    # torch.compile would trace the tile loops, whose bounds are data (per batch): on CPU the
    # first compiled call did not finish in 300 s (benchmarks/README_kernel.md).  The kernel is
    # built for eager mode, so compiling it (Predictor(compile=True)) runs it eagerly.
    @torch.compiler.disable
    def forward(
        self,
        context: AtomContext | PreparedAtoms,
        edge_src: torch.Tensor,
        edge_dst: torch.Tensor,
        edge_vectors: torch.Tensor,
        num_probes: int,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Density (P,) in e/Å³ and representation (P, D) for ``num_probes`` probes.

        Edges go from atom ``edge_src`` to probe ``edge_dst`` with vectors probe - atom image
        (Å), shapes (E,), (E,), (E, 3); sorting by ``edge_dst`` is fastest (done if needed).
        """
        prepared = self.prepare(context)
        src, dst = edge_src.long(), edge_dst.long()
        if dst.numel() > 1 and bool((dst[1:] < dst[:-1]).any()):
            order = torch.argsort(dst, stable=True)
            src, dst, edge_vectors = src[order], dst[order], edge_vectors[order]
        device = edge_vectors.device
        density = torch.empty(num_probes, dtype=torch.float32, device=device)
        representation = torch.empty(num_probes, self.representation_dim, dtype=torch.float32, device=device)
        offsets = torch.searchsorted(dst, torch.arange(num_probes + 1, device=device)).cpu().numpy()
        dtype = _compute_dtype(device)
        edge_dtype = torch.float32 if device.type == "cpu" else dtype
        tables = prepared.tables_as(edge_dtype)
        fused = self.fused_function(device) if prepared.blocked else None
        radial_lookup = self.radial_lookup(device) if fused is not None else None
        radial = (radial_lookup, radial_tables.function()) if radial_lookup else None  # resolved once per call
        if prepared.blocked and fused is None:
            raise DeviceError("atoms were prepared for the fused C kernel, which is not used here; prepare them again")
        workers = self._workers(device)
        # Enough chunks to keep every worker busy, none above edge_chunk edges (larger chunks
        # when each builds its own atom tables: that cost is per chunk, not per edge).
        limit = self.edge_chunk * (PER_CHUNK_TABLES_CHUNK_FACTOR if prepared.tables_per_chunk else 1)
        per_chunk = min(limit, max(self.tile, -(-int(offsets[-1]) // (2 * workers))))

        def run(chunk: tuple[int, int]) -> None:
            p0, p1 = chunk
            e0, e1 = int(offsets[p0]), int(offsets[p1])
            with torch.autocast(device.type, enabled=False):
                chunk_src, chunk_tables, atoms = src[e0:e1], tables, prepared.num_atoms
                if chunk_tables is None:
                    chunk_tables, chunk_src, atoms = self._chunk_tables(prepared, chunk_src, edge_dtype)
                features = self._chunk(
                    chunk_tables, atoms, chunk_src, dst[e0:e1] - p0, edge_vectors[e0:e1], p1 - p0, dtype, edge_dtype,
                    fused, radial,
                )
                representation[p0:p1] = features
                density[p0:p1] = self.readout(features).squeeze(-1)

        map_chunks(run, _chunks(offsets, per_chunk if workers > 1 else limit), workers)
        return density, representation

    def _workers(self, device: torch.device) -> int:
        """Chunk worker threads: on CPU, torch's thread count unless ``workers`` says otherwise."""
        if device.type != "cpu":
            return 1
        return self.workers if self.workers is not None else torch.get_num_threads()

    def _chunk(
        self,
        tables: list[list[torch.Tensor]],
        num_atoms: int,
        src: torch.Tensor,
        dst: torch.Tensor,
        vectors: torch.Tensor,
        probes: int,
        dtype: torch.dtype,
        edge_dtype: torch.dtype,
        fused=None,  # type: ignore[no-untyped-def]
        radial: tuple[list[radial_tables.RadialTable], Any] | None = None,
    ) -> torch.Tensor:
        """Representation (probes, D) of one chunk of whole probes (dst local to the chunk).

        ``fused``: the C function of :mod:`fused_c` (the tables are then blocked), or ``None``;
        ``radial``: per layer, the radial weight table that replaces the radial MLP, and the C
        function that reads it (fused only).
        """
        order = torch.argsort(src, stable=True)
        src, dst, vectors = src[order], dst[order], vectors[order].float()
        # The fused C loop tiles the edges itself and only needs runs of one sender.
        tiles = None if fused is not None else edge_tiles(torch.bincount(src, minlength=num_atoms).tolist(), self.tile)
        sh = self.spherical_harmonics(vectors).to(edge_dtype)
        lengths = vectors.norm(dim=1)
        hidden = None
        if radial is None:
            hidden = torch.nn.functional.silu(linear(self.basis(lengths), self.first_t)).to(dtype)
        else:
            lengths = lengths.float().contiguous()
            layer_radial, function = radial
        features = None
        start = 0
        for k, (layer, layer_tables, width) in enumerate(zip(self.layers, tables, self._hidden)):
            layer_hidden, source = None, None
            if hidden is not None:
                layer_hidden = hidden[:, start : start + width]
            else:
                source = RadialWeightsSource(layer_radial[k], function, lengths)
            start += width
            features = layer(
                layer_tables, features, sh, layer_hidden, dst, tiles, probes, src, fused, radial=source, dtype=dtype
            )
        assert features is not None
        return features


def _compute_dtype(device: torch.device) -> torch.dtype:
    """The autocast dtype if autocast is on for ``device``, else float32."""
    if torch.is_autocast_enabled(device.type):
        return torch.get_autocast_dtype(device.type)
    return torch.float32


def _chunks(offsets: np.ndarray, edge_chunk: int) -> list[tuple[int, int]]:
    """Consecutive probe ranges of about ``edge_chunk`` edges each (at least one probe)."""
    probes = len(offsets) - 1
    chunks, p0 = [], 0
    while p0 < probes:
        p1 = int(np.searchsorted(offsets, offsets[p0] + edge_chunk, side="right")) - 1
        p1 = min(max(p1, p0 + 1), probes)
        chunks.append((p0, p1))
        p0 = p1
    return chunks
