"""The deepaw-nb command line."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
from ase.calculators.vasp import VaspChargeDensity

from conftest import REFERENCE
from deepaw_nb.cli import main


def test_help_lists_commands() -> None:
    out = subprocess.run([sys.executable, "-m", "deepaw_nb.cli", "--help"], capture_output=True, text=True, check=True)
    assert "predict" in out.stdout and "info" in out.stdout


def test_predict_writes_a_chgcar_and_prints_timings(tmp_path, capsys, si_model) -> None:  # type: ignore[no-untyped-def]
    output = tmp_path / "CHGCAR"
    args = ["predict", str(REFERENCE / "si_l2.json"), "-o", str(output), "--grid", "6", "6", "6",
            "--f-nonlocal", str(REFERENCE / "si_l2_f_nonlocal.pth"), "--quiet", "--batch-size", "100"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "probe model" in printed and "wall time" in printed and "electrons" in printed
    assert "symmetry: Fd-3m" in printed
    density = VaspChargeDensity(str(output)).chg[-1]
    assert density.shape == (6, 6, 6) and np.isfinite(density).all()
    # a second run must not overwrite without --overwrite
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "overwrite" in err and err.count("\n") == 1
    assert main(args + ["--overwrite"]) == 0


def test_errors_are_one_line(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["predict", str(tmp_path / "nope.cif"), "-o", str(tmp_path / "CHGCAR"),
                 "--f-nonlocal", str(REFERENCE / "si_l2_f_nonlocal.pth")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("deepaw-nb: error:") and err.count("\n") == 1
    assert main(["predict", "x.cif", "--f-local", str(REFERENCE / "deepaw_f_local.pth")]) == 2


def test_info(capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["info", "--f-nonlocal", str(REFERENCE / "si_l2_f_nonlocal.pth")]) == 0
    out = capsys.readouterr().out
    assert "'mul': 120" in out and "sha256" in out and "ensemble:" not in out


def test_info_of_the_bundled_ensemble_says_how_it_combines(capsys) -> None:  # type: ignore[no-untyped-def]
    import deepaw_nb

    assert main(["info"]) == 0
    out = capsys.readouterr().out
    model = deepaw_nb.load_model()
    assert f"ensemble: {model.combine} of the {len(model.members)} networks' densities" in out
