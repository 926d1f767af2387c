"""Widget logic of deepaw_widgets, driven from Python (no browser, no kernel).

Predictions use the bundled default model when it exists, else the small random-weight
DeePAW checkpoint of ../shared/reference (via $DEEPAW_NB_MODEL), on tiny grids.  Viewer tests
use synthetic Gaussian densities so they need no model at all.
"""

from __future__ import annotations

import base64
import dataclasses
import os
import re
import time
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


# ---------------------------------------------------------------- uploads


@pytest.mark.parametrize("name,expected", [
    ("../evil.cif", "evil.cif"), ("../../etc/passwd", "passwd"), ("C:\\x\\POSCAR", "POSCAR"),
    ("/abs/CHGCAR", "CHGCAR"), ("..", "upload"), ("", "upload"), (".hidden", "hidden"), ("a b;c.xyz", "a_b_c.xyz"),
])
def test_plain_upload_name(name: str, expected: str) -> None:
    from deepaw_widgets.uploads import plain_upload_name

    assert plain_upload_name(name) == expected


def test_upload_with_parent_path_stays_in_private_directory(tmp_path: Path) -> None:
    from deepaw_widgets import StructureLoader

    loader = StructureLoader(viewer="plotly")
    content = (EXAMPLES / "Si_diamond.cif").read_bytes() if (EXAMPLES / "Si_diamond.cif").is_file() else None
    if content is None:
        import ase.io

        ase.io.write(tmp_path / "si.cif", _si_atoms())
        content = (tmp_path / "si.cif").read_bytes()
    private = loader.uploads.path
    loader.upload.value = ({"name": "../evil.cif", "type": "", "size": len(content), "content": memoryview(content), "last_modified": NOW},)
    assert loader.structure is not None and loader.structure.get_chemical_formula() == "Si2", loader.message.text
    saved = list(private.iterdir())
    assert [p.name for p in saved] == ["evil.cif"]
    assert all(p.resolve().parent == private for p in saved)
    assert not (private.parent / "evil.cif").exists()
    assert oct(private.stat().st_mode & 0o777) == "0o700"
    loader.uploads.cleanup()
    assert not private.exists()


def test_bad_upload_and_bad_files_give_one_line_messages(tmp_path: Path) -> None:
    from deepaw_widgets import StructureLoader

    loader = StructureLoader(viewer="plotly")
    junk = b"this is not a crystal structure\n\x00\x01"
    assert not loader.load_upload({"name": "junk.cif", "content": memoryview(junk)})
    assert loader.message.kind == "error" and loader.structure is None
    _assert_one_line(loader.message.text)
    assert not loader.load_upload({"name": "empty.cif", "content": b""})
    assert "empty" in loader.message.text
    assert not loader.load_path(tmp_path / "missing.cif")
    assert "not found" in loader.message.text
    _assert_one_line(loader.message.text)
    assert not loader.load_path("  ")
    assert loader.message.kind == "warning"


def test_overlapping_atoms_are_refused_with_a_message() -> None:
    from deepaw_widgets import StructureLoader

    loader = StructureLoader(viewer="plotly")
    atoms = Atoms("Si2", positions=[(0, 0, 0), (0.1, 0, 0)], cell=np.eye(3) * 5, pbc=True)
    assert not loader.set_structure(atoms)
    assert loader.structure is None and loader.message.kind == "error"
    assert "apart" in loader.message.text
    _assert_one_line(loader.message.text)


def test_examples_and_paths_load_with_summary() -> None:
    from deepaw_widgets import StructureLoader

    loader = StructureLoader(viewer="plotly")
    if not loader.examples:
        pytest.skip("no bundled examples in data/examples")
    name = next(iter(loader.examples))
    loader.example_select.value = name
    assert loader.structure is not None and loader.message.kind == "success"
    assert "atoms" in loader.summary.value and "space group" in loader.summary.value
    assert loader.view.view is not None  # plotly FigureWidget of the structure
    path = loader.examples[name]
    loader.path_text.value = str(path)
    loader.load_button.click()
    assert loader.source == str(path)
    assert not loader.load_example("no-such-example")
    assert loader.message.kind == "error"


def test_structure_view_backends() -> None:
    from deepaw_widgets.structure_view import StructureView, nglview_available

    view = StructureView(backend="plotly")
    view.structure = _si_atoms()
    assert len(view.view.data) == 2  # Si markers + cell edges
    assert StructureView(backend="auto").backend == ("nglview" if nglview_available() else "plotly")
    with pytest.raises(ValueError):
        StructureView(backend="vmd")


# ---------------------------------------------------------------- run options


def test_parse_batch_size_and_grid() -> None:
    from deepaw_nb.errors import DeepawError, GridError
    from deepaw_widgets.run_options import parse_batch_size, parse_grid

    assert parse_batch_size(" Auto ") == "auto" and parse_batch_size("4_096") == 4096
    for bad in ("0", "-3", "1.5", "lots"):
        with pytest.raises(DeepawError):
            parse_batch_size(bad)
    assert parse_grid("48, 48, 60") == (48, 48, 60) == parse_grid("48x48x60")
    for bad in ("48, 48", "0 1 2", "a b c"):
        with pytest.raises(GridError):
            parse_grid(bad)


def test_run_options_kwargs_and_preview() -> None:
    from deepaw_widgets import RunOptions

    options = RunOptions(spacing=0.25)
    options.structure = _si_atoms()
    assert options.predict_kwargs() == {"spacing": 0.25, "batch_size": "auto", "precision": "fp32", "device": "auto",
                                        "compile": False, "kernel": "fast", "symmetry": True}
    options.kernel.value, options.symmetry.value = "e3nn", False
    assert options.predict_kwargs()["kernel"] == "e3nn" and options.predict_kwargs()["symmetry"] is False
    options.kernel.value, options.symmetry.value = "fast", True
    assert "points" in options.grid_preview.value
    options.grid_mode.value = "encut"
    assert options.grid_kwargs() == {"encut": 500.0}
    options.grid_mode.value = "explicit"
    options.grid_text.value = "6 8 10"
    assert options.grid_kwargs() == {"grid": (6, 8, 10)} and "480 points" in options.grid_preview.value
    options.grid_text.value = "6 8"
    assert "#b00020" in options.grid_preview.value  # the problem is shown in red, no exception
    assert options.model_request() == ("default", None, None)
    options.model_choice.value = "custom"
    with pytest.raises(Exception, match="F_nonlocal"):
        options.model_request()


# ---------------------------------------------------------------- prediction panel


def test_run_completes_with_progress_at_100_percent(predicted) -> None:  # type: ignore[no-untyped-def]
    panel = predicted
    result = panel.result
    assert result is not None and result.complete and result.grid_shape == (4, 4, 4)
    assert panel.progress.percent == 100 and "100 %" in panel.progress.text.value
    assert panel.progress.bar.bar_style == "success"
    assert panel.message.kind == "success" and "Done" in panel.message.text
    assert not panel.running and not panel.run_button.disabled and panel.stop_button.disabled
    assert np.isfinite(result.density).all()
    assert list(result.timings)[:2] == ["structure preparation", "model load"]


def test_run_button_runs_in_background_thread(model) -> None:  # type: ignore[no-untyped-def]
    panel = _panel(grid="4, 4, 4")
    start = time.perf_counter()
    panel.run_button.click()
    returned_after = time.perf_counter() - start
    assert panel.thread is not None and panel.thread.daemon
    assert returned_after < 2.0  # the kernel thread is not blocked by the prediction
    assert panel.running and panel.run_button.disabled and not panel.stop_button.disabled
    assert not panel.run()  # a second run is refused while one is going
    assert "already running" in panel.message.text
    result = panel.wait(timeout=300)
    assert result is not None and result.complete and panel.progress.percent == 100


def test_stop_keeps_a_partial_result(model) -> None:  # type: ignore[no-untyped-def]
    panel = _panel(grid="8, 8, 8")
    panel.options.batch_size.value = "16"
    report = panel.progress.update

    def press_stop_during_run(done: int, total: int, elapsed: float) -> None:
        report(done, total, elapsed)
        if done < total and not panel.stop_button.disabled:
            panel.stop_button.click()  # as a user would, while batches are still coming

    panel.progress.update = press_stop_during_run  # type: ignore[method-assign]
    assert panel.run()
    result = panel.wait(timeout=300)
    assert result is not None and not result.complete
    assert 0 < result.filled_fraction < 1
    assert panel.message.kind == "warning" and "partial result is kept" in panel.message.text
    assert f"{100 * result.filled_fraction:.1f} %" in panel.message.text
    assert np.isnan(result.density).any() and np.count_nonzero(np.isfinite(result.density)) == result.filled_probes


def test_errors_are_one_line_messages(model, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from deepaw_nb.model import DensityModel

    panel = _panel()
    panel.structure = None
    assert not panel.run() and "Load a structure" in panel.message.text

    panel.structure = _si_atoms()
    panel.options.batch_size.value = "many"
    assert not panel.run() and panel.message.kind == "error"
    _assert_one_line(panel.message.text)
    panel.options.batch_size.value = "auto"

    panel.options.model_choice.value = "custom"
    panel.options.f_nonlocal_path.value = str(tmp_path / "missing.pth")
    assert panel.run(wait=True)
    assert panel.message.kind == "error" and "missing.pth" in panel.message.text
    assert panel.progress.bar.bar_style == "danger"
    _assert_one_line(panel.message.text)

    silicon_only = DensityModel(model.f_nonlocal, model.f_local, dataclasses.replace(model.info, species=(14,)))
    oxide = Atoms("MgO", scaled_positions=[(0, 0, 0), (0.5, 0.5, 0.5)], cell=np.eye(3) * 3.0, pbc=True)
    element_panel = _panel(structure=oxide, model=silicon_only)
    assert element_panel.options.model_choice.value == "given"
    assert element_panel.run(wait=True)
    assert element_panel.message.kind == "error" and element_panel.result is None
    assert "not trained on O, Mg" in element_panel.message.text
    _assert_one_line(element_panel.message.text)


def test_unexpected_exceptions_are_one_line_too() -> None:
    from deepaw_widgets._base import MessageLine

    line = MessageLine()
    assert line.guard(lambda: 1 / 0) is None
    assert line.text.startswith("Unexpected ZeroDivisionError") and line.kind == "error"
    assert isinstance(line.last_error, ZeroDivisionError)


# ---------------------------------------------------------------- viewers


def test_timing_panel_shows_figure_and_table() -> None:
    from deepaw_nb.engine import STAGES
    from deepaw_widgets import TimingPanel

    panel = TimingPanel()
    result = _gaussian_result()
    result.timings = {name: 0.1 * (n + 1) for n, name in enumerate(STAGES)}
    panel.result = result
    assert panel.figure is not None and list(panel.figure.data[0].y) == list(STAGES)
    for name in STAGES:
        assert name in panel.table.value
    panel.result = None
    assert panel.figure is None and "Run a prediction" in panel.message.text


def test_isosurface_slider_updates_trace_data_in_place() -> None:
    from deepaw_nb.viz import isosurface_mesh
    from deepaw_widgets import IsosurfaceViewer

    viewer = IsosurfaceViewer(debounce=60.0)  # long delay: nothing fires unless flushed
    result = _gaussian_result()
    viewer.result = result
    figure, pos = viewer.figure, viewer.positive_trace
    assert figure is not None and len(figure.data[pos].x) > 0
    before = np.asarray(figure.data[pos].x).copy()
    viewer.isovalue.value = 0.2
    viewer.isovalue.value = 0.5  # a drag: only the last value counts
    assert viewer.debounce.pending and np.array_equal(figure.data[pos].x, before)
    viewer.debounce.flush()
    assert viewer.figure is figure  # updated in place, not rebuilt
    v, f = isosurface_mesh(result.density, result.atoms.cell.array, 0.5)
    assert np.allclose(figure.data[pos].x, v[:, 0]) and np.array_equal(figure.data[pos].i, f[:, 0])
    assert "0.5" in figure.layout.title.text and viewer.message.text == ""
    viewer.opacity.value = 0.3
    assert figure.data[pos].opacity == pytest.approx(0.3)
    viewer.unit.value = "e/bohr3"
    from ase.units import Bohr

    assert viewer.isovalue.value == pytest.approx(0.5 * Bohr**3, rel=0.012)  # within half a slider step
    assert "bohr" in viewer.figure.layout.title.text
    viewer.set_isovalue(0.1, unit="e/A3")
    assert viewer.isovalue_e_per_A3() == pytest.approx(0.1, rel=1e-6)


def test_isosurface_negative_toggle_and_incomplete_result() -> None:
    from deepaw_widgets import IsosurfaceViewer

    viewer = IsosurfaceViewer(debounce=0)
    viewer.result = _gaussian_result(signed=True)
    neg = viewer.figure.data[viewer.negative_trace]
    viewer.set_isovalue(0.2)
    assert neg.visible is not False and len(neg.x) > 0
    viewer.negative.value = False
    assert neg.visible is False
    partial = _gaussian_result()
    partial.filled_probes = 10
    viewer.result = partial
    assert viewer.figure is None and "complete" in viewer.message.text


def test_slice_viewer_axis_and_hkl() -> None:
    from deepaw_nb.errors import DeepawError
    from deepaw_widgets import SliceViewer
    from deepaw_widgets.slice_viewer import parse_hkl

    assert parse_hkl("(1 -1 0)") == (1, -1, 0) and parse_hkl("111") == (1, 1, 1)
    with pytest.raises(DeepawError):
        parse_hkl("0 0 0")
    viewer = SliceViewer(debounce=0)
    viewer.result = _gaussian_result()
    assert viewer.figure is not None and "c = 0.500" in viewer.figure.layout.title.text
    viewer.axis.value = "a"
    viewer.position.value = 0.25
    assert "a = 0.250" in viewer.figure.layout.title.text
    viewer.mode.value = "hkl"
    viewer.hkl.value = "1 1 0"
    assert "(1 1 0)" in viewer.figure.layout.title.text
    viewer.hkl.value = "nonsense"
    assert viewer.figure is None and viewer.message.kind == "error"


# ---------------------------------------------------------------- export and compare


def test_export_writes_files_and_refuses_to_overwrite(tmp_path: Path) -> None:
    from deepaw_widgets import ExportPanel

    panel = ExportPanel(directory=tmp_path)
    assert panel.save_button.disabled
    panel.result = _gaussian_result((8, 8, 8))
    assert panel.filename.value == "CHGCAR_Si_pred"
    path = panel.save()
    assert path == tmp_path / "CHGCAR_Si_pred" and path.stat().st_size > 0 and panel.message.kind == "success"
    stamp = path.stat().st_mtime_ns
    assert panel.save() is None and panel.message.kind == "error" and "overwrite" in panel.message.text
    assert path.stat().st_mtime_ns == stamp
    panel.overwrite.value = True
    assert panel.save_button.click() is None and panel.message.kind == "success"
    for fmt, suffix in (("cube", ".cube"), ("npy", ".npy")):
        panel.format.value = fmt
        written = panel.save()
        assert written is not None and written.suffix == suffix and written.is_file()
    assert np.allclose(np.load(tmp_path / "Si_pred.npy"), panel.result.density)
    panel.filename.value = "../escape.npy"
    assert panel.save() is None and "outside" in panel.message.text
    assert not (tmp_path.parent / "escape.npy").exists()


def test_export_download_link_and_incomplete_result(tmp_path: Path) -> None:
    from deepaw_widgets import ExportPanel

    panel = ExportPanel(directory=tmp_path)
    panel.result = _gaussian_result((8, 8, 8))
    panel.format.value = "npy"
    scratch = panel.prepare_download()
    assert scratch is not None and scratch.parent != tmp_path
    match = re.search(r'download="([^"]+)" href="data:application/octet-stream;base64,([^"]+)"', panel.download_link.value)
    assert match and match.group(1) == "Si_pred.npy"
    assert base64.b64decode(match.group(2)) == scratch.read_bytes()
    partial = _gaussian_result((8, 8, 8))
    partial.filled_probes = 5
    panel.result = partial
    assert panel.message.kind == "warning"
    assert panel.save() is None and "incomplete" in panel.message.text


def test_compare_panel_with_chgcar_reference(tmp_path: Path) -> None:
    from deepaw_widgets import ComparePanel

    result = _gaussian_result((12, 12, 12))
    reference_path = result.to_chgcar(tmp_path / "CHGCAR_ref")
    panel = ComparePanel()
    panel.result = result
    panel.path_text.value = str(reference_path)
    panel.load_button.click()
    comparison = panel.comparison
    assert comparison is not None and comparison.nmae < 1e-5
    assert "NMAE" in panel.table.value and "electrons (reference)" in panel.table.value
    assert panel.error_slice.result is not None and panel.error_slice.figure is not None

    coarse = DensityResult(density=result.density[::2, ::2, ::2].copy(), atoms=result.atoms)
    panel.result = coarse  # 12³ reference, 6³ prediction: compared at every 2nd point
    assert panel.comparison is not None and panel.comparison.nmae < 1e-5
    assert "sampled" in panel.message.text
    odd = DensityResult(density=np.ones((5, 5, 5), np.float32), atoms=result.atoms)
    panel.result = odd
    assert panel.comparison is None and panel.message.kind == "error" and "grid" in panel.message.text
    assert not panel.load(tmp_path / "nope")
    _assert_one_line(panel.message.text)


def test_compare_panel_upload_and_shipped_grids(tmp_path: Path) -> None:
    from deepaw_widgets import ComparePanel
    from deepaw_widgets.reference import load_reference, reference_grid_files

    result = _gaussian_result((8, 8, 8))
    data = result.to_chgcar(tmp_path / "CHGCAR").read_bytes()
    panel = ComparePanel()
    panel.result = result
    panel.upload.value = ({"name": "../../CHGCAR", "type": "", "size": len(data), "content": memoryview(data), "last_modified": NOW},)
    assert panel.comparison is not None
    assert [p.name for p in panel.uploads.path.iterdir()] == ["CHGCAR"]
    shipped = reference_grid_files()
    if shipped:
        reference = load_reference(next(iter(shipped.values())))
        assert reference.complete and reference.electron_count() > 0


# ---------------------------------------------------------------- the app


def test_app_links_parts(predicted) -> None:  # type: ignore[no-untyped-def]
    from deepaw_widgets import PredictionApp

    app = PredictionApp(structure=_si_atoms(), viewer="plotly")
    assert app.structure is app.loader.structure and app.prediction.structure is app.structure
    result = _gaussian_result()
    app.result = result
    for part in (app.prediction, app.timings, app.isosurface, app.slices, app.export, app.compare):
        assert part.result is result
    assert app.isosurface.figure is not None and app.timings.figure is not None
    app.result = predicted.result
    assert app.export.filename.value == "CHGCAR_Si_pred"
