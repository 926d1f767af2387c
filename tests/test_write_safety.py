"""A writer killed midway leaves the old file or the new one, never a truncated file."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from deepaw_nb.io import read_chgcar

WRITER = r"""
import sys, numpy as np
from ase.build import bulk
from deepaw_nb.io import write_chgcar
atoms = bulk("Si", "diamond", a=5.43)
rng = np.random.default_rng(int(sys.argv[2]))
density = rng.uniform(0.1, 1.0, size=(90, 90, 90))
print("start", flush=True)
while True:  # keep rewriting the same file until killed
    write_chgcar(sys.argv[1], atoms, density, overwrite=True)
"""


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL semantics")
def test_killed_chgcar_writer_never_leaves_a_truncated_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from ase.build import bulk

    from deepaw_nb.io import write_chgcar

    target = tmp_path / "CHGCAR"
    old = np.full((90, 90, 90), 0.5)
    write_chgcar(target, bulk("Si", "diamond", a=5.43), old)
    rng = np.random.default_rng(11)
    new = rng.uniform(0.1, 1.0, size=(90, 90, 90))
    for attempt, delay in enumerate([0.3, 0.9, 1.7, 2.6]):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(target), "11"], stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None and proc.stdout.readline().strip() == "start"
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        _, density = read_chgcar(target)  # raises if the file is truncated or damaged
        is_old = np.allclose(density, old, rtol=1e-9)
        is_new = np.allclose(density, new, rtol=1e-9)
        assert is_old or is_new, f"attempt {attempt}: file is neither the old nor the new density"
    # Temporary files of killed writers are hidden dot-files next to the target, never the target.
    assert all(p.name == "CHGCAR" or p.name.startswith(".CHGCAR.") for p in tmp_path.iterdir())
