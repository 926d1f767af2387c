"""Hyper-parameters of a DeePAW ``F_nonlocal`` network."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

#: One-hot width of the atom input: atomic numbers 0 (ASE's "X") to 118.
NUM_SPECIES = 119


@dataclass(frozen=True)
class ModelConfig:
    """Architecture of ``F_nonlocal``.

    Attributes:
        mul: total multiplicity of the hidden irreps (500 in the published model).
        lmax: highest angular momentum of features and spherical harmonics (4 published).
        num_interactions: message-passing layers in the atom model and in the probe model.
        cutoff: neighbour cutoff radius in Å; the checkpoint cannot tell it (DeePAW uses 4.0).
        num_basis: Gaussian radial basis functions spanning [0, cutoff].
        num_neighbors: normalisation constant; messages are divided by sqrt(num_neighbors).
            It is not a neighbour cap and cannot be read from a checkpoint (DeePAW uses 20).
        radial_hidden: width of the hidden layer of the radial MLP that makes the weights.
        num_species: one-hot width of the atom input.
    """

    mul: int = 500
    lmax: int = 4
    num_interactions: int = 3
    cutoff: float = 4.0
    num_basis: int = 10
    num_neighbors: float = 20.0
    radial_hidden: int = 100
    num_species: int = NUM_SPECIES
    basis: str = field(default="gaussian")

    def __post_init__(self) -> None:
        from deepaw_nb.errors import CheckpointError

        checks = {
            "mul": self.mul >= 1,
            "lmax": 0 <= self.lmax <= 8,
            "num_interactions": self.num_interactions >= 1,
            "cutoff": self.cutoff > 0,
            "num_basis": self.num_basis >= 1,
            "num_neighbors": self.num_neighbors > 0,
            "radial_hidden": self.radial_hidden >= 1,
            "basis": self.basis == "gaussian",
        }
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            values = ", ".join(f"{name}={getattr(self, name)!r}" for name in bad)
            raise CheckpointError(
                f"invalid model configuration ({values}); use positive sizes, lmax 0-8, "
                "a positive cutoff in Å and the 'gaussian' basis"
            )

    def to_dict(self) -> dict:
        """Plain-dict form, for provenance records and checkpoint metadata."""
        return asdict(self)
