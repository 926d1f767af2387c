"""Widget logic of deepaw_widgets, driven from Python: timing panel, isosurface and slice
viewers, export, compare and the assembled app.
"""

from __future__ import annotations

import base64
import re
from pathlib import Path

import numpy as np
import pytest

from deepaw_nb.result import DensityResult
from widget_support import NOW, _assert_one_line, _gaussian_result, _si_atoms

# The fixtures (model, predicted, default_model_env) come from widget_support.
pytest_plugins = ("widget_support",)


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
