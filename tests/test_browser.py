"""A real-browser test of the widget app: JupyterLab + headless Chromium driven by Playwright.

It copies ``notebooks/02_widget_app.ipynb`` into a temporary directory, starts JupyterLab on
127.0.0.1 (random free port, random token, private config/settings/runtime directories),
runs all cells, sets a tiny explicit grid in the app, clicks **Run**, waits for the progress
bar to reach 100 %, and checks that the timing figure and a WebGL isosurface are visible.
A screenshot goes to the test's tmp directory and to /tmp/deepaw_browser_screenshot.png.

Needs Debian's ``chromium`` (/usr/bin/chromium) and the ``playwright`` Python package (never
``playwright install``); the test is skipped when either is missing.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO / "notebooks" / "02_widget_app.ipynb"
CHROMIUM = Path(os.environ.get("DEEPAW_CHROMIUM", "/usr/bin/chromium"))
FALLBACK_MODEL = REPO.parent / "shared" / "reference" / "si_l2_f_nonlocal.pth"
SCREENSHOT_COPY = Path("/tmp/deepaw_browser_screenshot.png")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run",
    # WebGL without a GPU: Chromium only falls back to SwiftShader when explicitly allowed.
    "--enable-unsafe-swiftshader", "--use-angle=swiftshader",
]
# JupyterLab user settings for the run: no news pop-ups, no update checks, no cell windowing
# (windowing would detach off-screen cells from the DOM).
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autoStartDefaultKernel": True},
}

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
    pytest.skip(f"Chromium not found at {CHROMIUM} (apt-get install chromium)", allow_module_level=True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _kernel_env(tmp: Path) -> dict[str, str]:
    from deepaw_nb.model import default_model_path

    env = dict(os.environ)
    if not default_model_path().is_file():
        env["DEEPAW_NB_MODEL"] = str(FALLBACK_MODEL)
    settings = tmp / "lab-settings"
    for name, values in LAB_SETTINGS.items():
        path = settings / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    env.update(
        JUPYTER_CONFIG_DIR=str(tmp / "config"), JUPYTER_RUNTIME_DIR=str(tmp / "runtime"),
        JUPYTERLAB_SETTINGS_DIR=str(settings), JUPYTERLAB_WORKSPACES_DIR=str(tmp / "workspaces"),
        OMP_NUM_THREADS=env.get("OMP_NUM_THREADS", "2"), PYTHONUNBUFFERED="1",
    )
    return env


@pytest.fixture()
def jupyterlab(tmp_path: Path):  # type: ignore[no-untyped-def]
    """(base URL, token, work dir) of a JupyterLab server serving a copy of notebook 02."""
    pytest.importorskip("jupyterlab", reason="jupyterlab is not installed (pip install jupyterlab)")
    work = tmp_path / "lab"
    work.mkdir()
    shutil.copy(NOTEBOOK, work / NOTEBOOK.name)
    port, token = _free_port(), secrets.token_hex(16)
    log = open(tmp_path / "jupyterlab.log", "wb")
    cmd = [
        sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={work}",
        "--LabApp.news_url=", "--LabApp.extension_manager=readonly", "--ServerApp.shutdown_no_activity_timeout=600",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # CI containers often run as root
        cmd.append("--allow-root")
    proc = subprocess.Popen(cmd, cwd=work, env=_kernel_env(tmp_path), stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                pytest.fail(f"JupyterLab exited with {proc.returncode}; log: {(tmp_path / 'jupyterlab.log').read_text()[-2000:]}")
            with contextlib.suppress(OSError):
                with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=5) as reply:
                    if reply.status == 200:
                        break
            if time.monotonic() > deadline:
                pytest.fail("JupyterLab did not answer within 120 s")
            time.sleep(0.5)
        yield base, token, work
    finally:
        _stop_group(proc)
        log.close()


def _stop_group(proc: subprocess.Popen) -> None:
    """Stop JupyterLab and everything it started (kernels share its process group)."""
    for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 10)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=wait)
            break
        except subprocess.TimeoutExpired:
            continue
    with contextlib.suppress(ProcessLookupError):  # kernels left behind in the group
        os.killpg(proc.pid, signal.SIGKILL)


def _accept_kernel_dialog(page) -> None:  # type: ignore[no-untyped-def]
    """Accept a "Select Kernel" dialog if JupyterLab shows one (the notebook names python3)."""
    dialog = page.locator(".jp-Dialog", has_text="Select Kernel")
    with contextlib.suppress(sync_api.TimeoutError):
        dialog.wait_for(state="visible", timeout=5_000)
        dialog.locator("button.jp-mod-accept").click()


def test_app_runs_in_jupyterlab(jupyterlab, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    base, token, _ = jupyterlab
    shot = tmp_path / "deepaw_browser_screenshot.png"
    with sync_api.sync_playwright() as play:
        browser = play.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 3600})
            page.set_default_timeout(60_000)
            console: list[str] = []
            page.on("console", lambda msg: console.append(f"{msg.type}: {msg.text}"))
            page.goto(f"{base}/lab/tree/{NOTEBOOK.name}?token={token}", timeout=180_000)
            page.wait_for_selector(".jp-NotebookPanel .jp-Cell", timeout=180_000)
            _accept_kernel_dialog(page)
            page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=180_000)
            page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
            page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()

            app = page.locator(".deepaw-app")
            app.wait_for(state="visible", timeout=150_000)
            page.locator(".deepaw-structure-loader .deepaw-message", has_text="Loaded").wait_for(timeout=120_000)
            # A tiny explicit grid keeps the CPU run short; set it through the UI like a user.
            page.locator(".deepaw-grid-mode select").select_option(label="explicit nx, ny, nz")
            grid = page.locator(".deepaw-grid-text input")
            grid.fill("6, 6, 6")
            grid.press("Tab")
            page.locator(".deepaw-run-options", has_text="6 × 6 × 6 = 216 points").wait_for(timeout=30_000)

            page.locator("button.deepaw-run").click()
            page.locator(".deepaw-progress-text", has_text="100 %").wait_for(timeout=300_000)
            bar = page.locator(".deepaw-progress-bar .progress-bar")
            assert "100" in (bar.get_attribute("style") or ""), bar.get_attribute("style")

            timing = page.locator(".deepaw-timing-panel .js-plotly-plot")
            timing.wait_for(state="visible", timeout=120_000)
            assert page.locator(".deepaw-timing-panel .deepaw-timing-table").is_visible()
            canvas = page.locator(".deepaw-isosurface-viewer .js-plotly-plot canvas").first
            canvas.wait_for(state="visible", timeout=120_000)
            box = canvas.bounding_box()
            assert box is not None and box["width"] > 200 and box["height"] > 200, box
            assert page.locator(".deepaw-prediction-panel .deepaw-message", has_text="Done").is_visible()
            assert not page.locator(".deepaw-app .deepaw-message", has_text="Unexpected").count()
            page.wait_for_timeout(1500)  # let WebGL draw the first frame
            app.screenshot(path=str(shot))
            # The other result tabs render too: a slice heat map, export buttons.
            page.locator(".deepaw-app .lm-TabBar-tab", has_text="Slices").click()
            page.locator(".deepaw-slice-viewer .js-plotly-plot .heatmaplayer").first.wait_for(state="visible", timeout=60_000)
            page.locator(".deepaw-app .lm-TabBar-tab", has_text="Export").click()
            page.locator(".deepaw-export-panel button", has_text="Save").wait_for(state="visible", timeout=30_000)
        except Exception:
            with contextlib.suppress(Exception):
                page.screenshot(path=str(tmp_path / "failure.png"), full_page=True)
                shutil.copy(tmp_path / "failure.png", SCREENSHOT_COPY.with_name("deepaw_browser_failure.png"))
            print("browser console:\n" + "\n".join(console[-60:]))
            raise
        finally:
            browser.close()
    shutil.copy(shot, SCREENSHOT_COPY)
    assert shot.stat().st_size > 10_000
