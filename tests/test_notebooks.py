"""The tutorial notebooks: committed without outputs, and each runs top to bottom without errors.

Each notebook has a cell tagged ``parameters`` (grid spacing, output directory, ...).  Like
papermill, the test inserts a cell right after it that overrides those values with tiny grids
and a temporary output directory, then executes the notebook with nbclient (kernel
``python3``, working directory ``notebooks/``).  When the bundled default model is missing,
``$DEEPAW_NB_MODEL`` points the kernels at the small reference checkpoint in
../shared/reference.
"""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"
REFERENCE = REPO.parent / "shared" / "reference"
FALLBACK_MODEL = REFERENCE / "si_l2_f_nonlocal.pth"
CELL_TIMEOUT = 300  # s per cell

#: Parameter overrides per notebook (source of the injected cell); {tmp} is the output dir.
OVERRIDES = {
    "01_quickstart": "SPACING = 0.8\nOUTPUT_DIR = Path({tmp!r})",
    "02_widget_app": "",
    "03_isosurfaces_and_slices": "SPACING = 0.8\nOUTPUT_DIR = Path({tmp!r})",
    "04_batch_size_and_precision": 'SPACING = 0.9\nBATCH_SIZES = [64, "auto"]',
    "05_compare_with_dft": "STRIDE = 8\nOUTPUT_DIR = Path({tmp!r})",
    "06_your_own_deepaw_checkpoint": "GRID = (4, 4, 4)",
    "07_many_structures_dask": "SPACING = 0.9\nOUTPUT_DIR = Path({tmp!r})\nBLOCK_SIZE = 30",
}
#: Environment of the kernel per notebook (besides the default model).
ENVIRONMENT = {
    "06_your_own_deepaw_checkpoint": {
        "DEEPAW_CHECKPOINT_DIR": str(REFERENCE),
        "DEEPAW_F_NONLOCAL": "hfo2_full_f_nonlocal.pth",
        "DEEPAW_F_LOCAL": "deepaw_f_local.pth",
    },
}


def _notebooks() -> list[Path]:
    return sorted(NOTEBOOKS.glob("*.ipynb"))


def _strip_module():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("strip_outputs", NOTEBOOKS / "strip_outputs.py")
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


def test_every_notebook_is_listed() -> None:
    assert [p.stem for p in _notebooks()] == sorted(OVERRIDES)


@pytest.mark.parametrize("path", _notebooks(), ids=lambda p: p.stem)
def test_notebook_is_committed_without_outputs(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert _strip_module().is_stripped(nb), f"{path.name} has outputs; run python notebooks/strip_outputs.py"
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3"


def _with_overrides(nb: nbformat.NotebookNode, source: str) -> nbformat.NotebookNode:
    if not source:
        return nb
    tagged = [n for n, cell in enumerate(nb.cells) if "parameters" in cell.metadata.get("tags", [])]
    assert len(tagged) == 1, "a notebook with overrides needs exactly one cell tagged 'parameters'"
    cell = nbformat.v4.new_code_cell(source, metadata={"tags": ["injected-parameters"]})
    cell["id"] = "injected-parameters"
    nb.cells.insert(tagged[0] + 1, cell)
    return nb


@pytest.mark.parametrize("path", _notebooks(), ids=lambda p: p.stem)
def test_notebook_runs(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from nbclient import NotebookClient

    from deepaw_nb.model import default_model_path

    if not default_model_path().is_file():
        if not FALLBACK_MODEL.is_file():
            pytest.skip(f"no model: neither the bundled model nor {FALLBACK_MODEL} exists")
        monkeypatch.setenv("DEEPAW_NB_MODEL", str(FALLBACK_MODEL))
    for name, value in ENVIRONMENT.get(path.stem, {}).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("PYTHONWARNINGS", "ignore::DeprecationWarning")
    nb = _with_overrides(nbformat.read(path, as_version=4), OVERRIDES[path.stem].format(tmp=str(tmp_path)))
    client = NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}})
    start = time.perf_counter()
    client.execute()  # raises CellExecutionError on the first failing cell
    elapsed = time.perf_counter() - start
    errors = [out for cell in nb.cells for out in cell.get("outputs", []) if out.get("output_type") == "error"]
    assert not errors
    tracebacks = [out.get("text", "") for cell in nb.cells for out in cell.get("outputs", [])
                  if out.get("output_type") == "stream" and "Traceback" in out.get("text", "")]
    assert not tracebacks, tracebacks[0][:2000]
    print(f"{path.name}: {elapsed:.1f} s")
    assert not list(NOTEBOOKS.glob("output*")), "a notebook wrote into notebooks/ instead of OUTPUT_DIR"
