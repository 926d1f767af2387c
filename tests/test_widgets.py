"""Widget logic of deepaw_widgets, driven from Python (no browser, no kernel): uploads, loaders,
run options and the prediction panel.  Viewers, export and compare: test_widget_views.py.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms

from widget_support import EXAMPLES, NOW, _assert_one_line, _panel, _si_atoms

# The fixtures (model, predicted, default_model_env) come from widget_support.
pytest_plugins = ("widget_support",)


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


