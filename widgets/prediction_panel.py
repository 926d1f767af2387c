"""``PredictionPanel``: run :func:`deepaw_nb.predict` in a background thread with Run / Stop.

The kernel stays responsive while the model works: the prediction runs in a daemon thread,
reports to a :class:`~deepaw_widgets.progress_display.ProgressDisplay`, and Stop sets the
``threading.Event`` passed to ``predict`` as ``cancel``, which stops after the current batch
and keeps the finished part of the grid (``result.filled_fraction``).
"""

from __future__ import annotations

import threading
from typing import Any

import ipywidgets as ipw
import traitlets

from deepaw_widgets._base import MessageLine, ResultTrait, StructureTrait
from deepaw_widgets.model_cache import get_model
from deepaw_widgets.progress_display import ProgressDisplay, format_seconds
from deepaw_widgets.run_options import RunOptions

__all__ = ["PredictionPanel"]


class PredictionPanel(ipw.VBox):
    """Settings, Run / Stop buttons, progress and messages of one prediction.

    Traits: ``structure`` (input), ``result`` (output, a :class:`~deepaw_nb.result.DensityResult`,
    also partial ones after Stop), ``running``.

    Testing from Python: ``panel.run(wait=True)`` or ``panel.run_button.click(); panel.wait()``;
    ``panel.thread`` is the worker thread of the last run.

    Args:
        model: an already loaded model to offer (and preselect) in the model list.
        spacing: default grid spacing in Å.
    """

    structure = StructureTrait()
    result = ResultTrait()
    running = traitlets.Bool(False)

    def __init__(self, model: Any = None, spacing: float = 0.2, **kwargs: Any) -> None:
        self.options = RunOptions(model=model, spacing=spacing)
        self.run_button = ipw.Button(description="Run", icon="play", button_style="primary", tooltip="Predict the density")
        self.stop_button = ipw.Button(description="Stop", icon="stop", button_style="warning", disabled=True,
                                      tooltip="Stop after the current batch and keep what is finished")
        self.progress = ProgressDisplay()
        self.message = MessageLine()
        self.thread: threading.Thread | None = None
        self._cancel = threading.Event()
        super().__init__(
            children=[self.options, ipw.HBox([self.run_button, self.stop_button]), self.progress, self.message],
            **kwargs,
        )
        self.add_class("deepaw-prediction-panel")
        self.run_button.add_class("deepaw-run")
        self.stop_button.add_class("deepaw-stop")
        traitlets.dlink((self, "structure"), (self.options, "structure"))
        self.run_button.on_click(lambda _: self.run())
        self.stop_button.on_click(lambda _: self.stop())

    # ---- public control --------------------------------------------------------------------
    def run(self, wait: bool = False) -> bool:
        """Start a prediction in the background; True if it started (False: see ``message``)."""
        if self.running:
            self.message.show("A prediction is already running; press Stop first", "warning")
            return False
        if self.structure is None:
            self.message.show("Load a structure first (Structure section above)", "error")
            return False
        try:
            kwargs = self.options.predict_kwargs()
            request = self.options.model_request()
        except Exception as exc:  # noqa: BLE001 - shown as one line
            self.message.show_error(exc)
            return False
        self._cancel = threading.Event()
        self.running = True
        self.message.show("Running ...")
        self.progress.reset("loading the model ...")
        self.thread = threading.Thread(
            target=self._work, args=(self.structure, request, kwargs, self._cancel), name="deepaw-predict", daemon=True
        )
        self.thread.start()
        if wait:
            self.wait()
        return True

    def stop(self) -> None:
        """Ask the running prediction to stop after its current batch (keeps finished batches)."""
        if self.running:
            self._cancel.set()
            self.message.show("Stopping after the current batch ...", "warning")

    def wait(self, timeout: float | None = None) -> Any:
        """Block until the current run ends (or ``timeout`` s pass); returns ``result``."""
        if self.thread is not None:
            self.thread.join(timeout)
        return self.result

    # ---- worker ---------------------------------------------------------------------------
    @traitlets.observe("running")
    def _on_running(self, change: dict) -> None:
        self.run_button.disabled = change["new"]
        self.stop_button.disabled = not change["new"]

    def _work(self, structure: Any, request: tuple, kwargs: dict[str, Any], cancel: threading.Event) -> None:
        try:
            result = self._predict(structure, request, kwargs, cancel)
            if result is not None:
                try:
                    self.result = result  # the linked viewers draw it in this thread
                except Exception as exc:  # noqa: BLE001 - a viewer failed; the result itself is fine
                    self.message.show_error(exc)
        finally:
            self.running = False

    def _predict(self, structure: Any, request: tuple, kwargs: dict[str, Any], cancel: threading.Event) -> Any:
        """Load the model and predict; None (with the reason shown) when nothing came out."""
        from deepaw_nb import predict

        try:
            kind, first, second = request
            model, load_seconds = (first, 0.0) if kind == "given" else get_model(first, second)
            if cancel.is_set():
                self.progress.finish("stopped before the first batch", "warning")
                self.message.show("Stopped before any probe was computed; nothing to keep", "warning")
                return None
            self.progress.note("building graphs and running the atom model ...")
            result = predict(structure, model=model, progress=self.progress.update, cancel=cancel, **kwargs)
        except Exception as exc:  # noqa: BLE001 - every failure becomes one line
            self.message.show_error(exc)
            self.progress.finish("failed", "danger")
            return None
        if load_seconds:  # the model was loaded for this run: count it, as predict would
            result.timings["model load"] = result.timings.get("model load", 0.0) + load_seconds
            result.wall_time += load_seconds
        self._report(result)
        return result

    def _report(self, result: Any) -> None:
        done, total = result.filled_probes, result.num_points
        # Probes the model really evaluated (fewer than grid points when symmetry copies some).
        evaluated = self.progress.last_report[0] if self.progress.last_report else done
        seconds = result.timings.get("probe model", 0.0)
        rate = evaluated / seconds if seconds > 0 else 0.0
        shape = " × ".join(str(n) for n in result.grid_shape)
        if result.complete:
            extra = f" ({evaluated:,} evaluated)" if evaluated != total else ""
            self.progress.finish(
                f"<b>100 %</b> · {total:,} grid points{extra} in {format_seconds(result.wall_time)} · {rate:,.0f} probes/s",
                "success",
            )
            self.message.show(f"Done: {result.atoms.get_chemical_formula()} on a {shape} grid in {result.wall_time:.1f} s", "success")
        else:
            percent = 100 * result.filled_fraction
            self.progress.finish(f"<b>stopped at {percent:.1f} %</b> · {done:,} / {total:,} grid points", "warning")
            self.message.show(
                f"Stopped: {percent:.1f} % of the {shape} grid computed; the partial result is kept (NaN where not computed)",
                "warning",
            )
