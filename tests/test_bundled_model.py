"""The bundled default model: what the model card promises, and the README's first command."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from ase.build import bulk
from ase.data import chemical_symbols

import deepaw_nb
from deepaw_nb.errors import UnsupportedElementError
from deepaw_nb.model import default_model_path
from deepaw_nb.model.loading import COMBINED_ENSEMBLE_FORMAT, ENSEMBLE_FORMAT
from deepaw_nb.result import DensityResult

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "data" / "models" / "deepaw-nb-small.pt"
REFERENCE = ROOT / "data" / "reference"
ISSUE_ELEMENTS = set("H Li B C N O F Na Mg Al Si P S Cl K Ca Ti Zn Ga Zr Hf".split())

pytestmark = pytest.mark.skipif(not MODEL.is_file(), reason="bundled model not in this checkout")


@pytest.fixture(scope="module")
def bundled():  # type: ignore[no-untyped-def]
    return deepaw_nb.load_model(MODEL)


def test_file_format_size_and_species(bundled) -> None:  # type: ignore[no-untyped-def]
    import torch

    raw = torch.load(MODEL, weights_only=True)
    assert raw["format"] in (ENSEMBLE_FORMAT, COMBINED_ENSEMBLE_FORMAT) and MODEL.stat().st_size <= 10e6
    card = (MODEL.parent / "README.md").read_text(encoding="utf-8")
    stated = re.search(r"(mean|median) over (\d+) networks", card)
    # the model card describes this file: how many networks, and how they are combined
    assert stated and len(raw["members"]) == int(stated.group(2)) >= 2
    assert stated.group(1) == raw.get("combine", "mean") == bundled.combine
    assert {chemical_symbols[z] for z in bundled.info.species} == ISSUE_ELEMENTS
    assert bundled.free_atoms is not None  # trained on ρ − ρ_atoms: inference adds the superposition back
    assert default_model_path() == MODEL or default_model_path().name != MODEL.name  # $DEEPAW_NB_MODEL may override


def test_no_held_out_structure_was_trained_on() -> None:
    import torch

    metadata = torch.load(MODEL, weights_only=True)["metadata"]
    index = json.loads((REFERENCE / "index.json").read_text())
    held_out = {s["id"] for s in index["structures"] if s["split"] == "test"}
    split = json.loads((REFERENCE / "split.json").read_text())
    held_out_compositions = set(split["held_out_compositions"])
    trained = set(metadata["train_ids"]) | set(metadata["val_ids"])
    assert trained and not trained & held_out
    compositions = {s["id"]: s.get("composition") for s in index["structures"]}
    assert not {compositions.get(i) for i in trained} & held_out_compositions


def test_beats_the_free_atom_superposition_on_held_out_hfo2(bundled) -> None:  # type: ignore[no-untyped-def]
    with np.load(REFERENCE / "grids" / "HfO2_monoclinic.npz") as z:
        shape = tuple(z["grid_shape"])
        flat = np.sort(np.random.default_rng(0).choice(int(np.prod(shape)), 3000, replace=False))
        frac = np.stack(np.unravel_index(flat, shape), axis=1) / np.asarray(shape)
        atoms = _atoms(z)
        reference = z["density"].reshape(-1)[flat].astype(np.float64)
        baseline = z["density_atoms"].reshape(-1)[flat].astype(np.float64)
    predicted = deepaw_nb.predict_points(atoms, frac @ np.asarray(atoms.cell), model=bundled)
    model_nmae = np.abs(predicted - reference).sum() / reference.sum()
    baseline_nmae = np.abs(baseline - reference).sum() / reference.sum()
    assert model_nmae < 0.5 * baseline_nmae, (model_nmae, baseline_nmae)


def _atoms(z):  # type: ignore[no-untyped-def]
    from ase import Atoms

    return Atoms(numbers=z["numbers"], positions=z["positions"], cell=z["cell"], pbc=True)


def test_elements_outside_the_list_are_refused_naming_the_supported_ones(bundled) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(UnsupportedElementError, match="Hf") as info:
        deepaw_nb.predict(bulk("Cu", "fcc", a=3.6), model=bundled, grid=(4, 4, 4), progress=False)
    assert "Cu" in str(info.value) and "\n" not in str(info.value)


def test_readme_first_command(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """`deepaw-nb predict data/examples/HfO2_monoclinic.cif -o CHGCAR`, from the repository root."""
    readme = (ROOT / "README.md").read_text()
    assert "deepaw-nb predict data/examples/HfO2_monoclinic.cif -o CHGCAR" in readme.split("\n\n")[1]
    out = tmp_path / "CHGCAR"
    proc = subprocess.run(
        [sys.executable, "-m", "deepaw_nb.cli", "predict", "data/examples/HfO2_monoclinic.cif", "-o", str(out), "--quiet"],
        cwd=ROOT, capture_output=True, text=True, timeout=900,
    )
    assert proc.returncode == 0, proc.stderr
    assert "probe model" in proc.stdout and "free atoms" in proc.stdout and "wall time" in proc.stdout
    result = DensityResult.from_chgcar(out)
    assert np.isfinite(result.density).all() and result.density.min() > -0.05
    assert 60 < result.electron_count() < 90  # GPAW's ∫ñ of this cell is 74.07 e
