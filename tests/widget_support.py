"""Fixtures and helpers shared by the widget tests (test_widgets.py, test_widget_views.py).

Predictions use the bundled default model when it exists, else the small random-weight
DeePAW checkpoint of ../shared/reference (via $DEEPAW_NB_MODEL), on tiny grids.  Viewer tests
use synthetic Gaussian densities so they need no model at all.
"""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms

from deepaw_nb.result import DensityResult

REPO = Path(__file__).resolve().parents[1]
REFERENCE = REPO.parent / "shared" / "reference"
FALLBACK_MODEL = REFERENCE / "si_l2_f_nonlocal.pth"
EXAMPLES = REPO / "data" / "examples"
NOW = datetime.now(timezone.utc)


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module", autouse=True)
def default_model_env():  # type: ignore[no-untyped-def]
    """Point $DEEPAW_NB_MODEL at the reference checkpoint while the bundled model is missing."""
    from deepaw_nb.model import default_model_path

    old = os.environ.get("DEEPAW_NB_MODEL")
    if not default_model_path().is_file() and FALLBACK_MODEL.is_file():
        os.environ["DEEPAW_NB_MODEL"] = str(FALLBACK_MODEL)
    yield
    if old is None:
        os.environ.pop("DEEPAW_NB_MODEL", None)
    else:
        os.environ["DEEPAW_NB_MODEL"] = old


@pytest.fixture(scope="module")
def model():  # type: ignore[no-untyped-def]
    from deepaw_nb.model import default_model_path
    from deepaw_widgets.model_cache import get_model

    if not default_model_path().is_file():
        pytest.skip(f"no model: neither the bundled model nor {FALLBACK_MODEL} exists")
    return get_model()[0]


def _si_atoms() -> Atoms:
    a = 5.43
    return Atoms("Si2", scaled_positions=[(0, 0, 0), (0.25, 0.25, 0.25)],
                 cell=[(0, a / 2, a / 2), (a / 2, 0, a / 2), (a / 2, a / 2, 0)], pbc=True)


def _gaussian_result(shape=(24, 24, 24), signed: bool = False) -> DensityResult:
    cell = np.diag([5.0, 5.0, 5.0])
    frac = np.stack(np.meshgrid(*[np.arange(n) / n for n in shape], indexing="ij"), axis=-1) - 0.5
    rho = np.exp(-((frac @ cell) ** 2).sum(-1) / 2.0)
    if signed:
        corner = ((frac + 1.0) % 1.0 - 0.5) @ cell  # minimum-image vector from the origin
        rho = rho - 0.5 * np.exp(-(corner**2).sum(-1) / 2.0)
    atoms = Atoms("Si", scaled_positions=[(0.5, 0.5, 0.5)], cell=cell, pbc=True)
    return DensityResult(density=rho.astype(np.float32), atoms=atoms, timings={"probe model": 1.0, "assembly": 0.1})


def _panel(structure: Atoms | None = None, grid: str = "4, 4, 4", **kwargs):  # type: ignore[no-untyped-def]
    from deepaw_widgets import PredictionPanel

    panel = PredictionPanel(**kwargs)
    panel.structure = structure if structure is not None else _si_atoms()
    panel.options.grid_mode.value = "explicit"
    panel.options.grid_text.value = grid
    return panel


@pytest.fixture(scope="module")
def predicted(model):  # type: ignore[no-untyped-def]
    panel = _panel()
    assert panel.run(wait=True)
    return panel


def _assert_one_line(text: str) -> None:
    assert text and "\n" not in text and "Traceback" not in text, text


