"""Periodic neighbour graphs (cutoff in Å) for atoms and density probes.

- :func:`atom_edges`: atom -> atom edges, periodic images included.
- :func:`point_edges`: atom -> arbitrary probe point edges.
- :class:`GridProbeGraph`: atom -> grid probe edges, fast, batch by batch.

All return :class:`Edges` sorted by receiver, then sender, then image translation.
"""

from deepaw_nb.graph.edges import Edges
from deepaw_nb.graph.grid_probes import GridProbeGraph
from deepaw_nb.graph.neighbors import atom_edges, point_edges

__all__ = ["Edges", "GridProbeGraph", "atom_edges", "point_edges"]
