"""A catalogue of malformed and hostile inputs thrown at the public API.

Each must end in a one-line DeepawError, write nothing outside the intended directory and
overwrite nothing that exists unless asked.
"""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest
import torch

import deepaw_nb
from deepaw_nb import CheckpointError, DeepawError, OutputError
from deepaw_nb.io import read_chgcar, safe_output_path
from deepaw_nb.model.checkpoint import read_checkpoint

SI_POSCAR = """Si2
1.0
0.0 2.715 2.715
2.715 0.0 2.715
2.715 2.715 0.0
Si
2
Direct
0.0 0.0 0.0
0.25 0.25 0.25
"""

MALFORMED = {
    "truncated.cif": "data_x\n_cell_length_a 5.4\n_cell_length_b",
    "wrong_counts_POSCAR": SI_POSCAR.replace("Si\n2\n", "Si\n5\n"),
    "junk.cif": b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 20,
    "empty.cif": b"",
    "truncated_CHGCAR": SI_POSCAR + "\n4 4 4\n" + " 0.1" * 10,
    "huge_grid_CHGCAR": SI_POSCAR + "\n1000000 1000000 1000000\n 0.1 0.2\n",
    "nan_POSCAR": SI_POSCAR.replace("0.25 0.25 0.25", "nan 0.25 0.25"),
    "letters_POSCAR": SI_POSCAR.replace("2.715 0.0 2.715", "abc def ghi"),
}


def _write(tmp_path, name: str, content) -> str:  # type: ignore[no-untyped-def]
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return str(path)


def _one_line(exc: BaseException) -> None:
    assert str(exc) and "\n" not in str(exc) and "Traceback" not in str(exc)


# A CHGCAR whose value block is damaged still has an intact structure header, which is all
# predict() reads; its damage is caught when it is read as a reference density (next test).
STRUCTURE_CASES = sorted(name for name in MALFORMED if "CHGCAR" not in name)


@pytest.mark.parametrize("name", STRUCTURE_CASES)
def test_malformed_structure_files_fail_cleanly(tmp_path, si_model, name: str) -> None:  # type: ignore[no-untyped-def]
    path = _write(tmp_path, name, MALFORMED[name])
    before = sorted(os.listdir(tmp_path))
    with pytest.raises(DeepawError) as info:
        deepaw_nb.predict(path, model=si_model, grid=(4, 4, 4), progress=False)
    _one_line(info.value)
    assert sorted(os.listdir(tmp_path)) == before


@pytest.mark.parametrize("name", ["truncated_CHGCAR", "huge_grid_CHGCAR", "junk.cif", "empty.cif"])
def test_malformed_chgcar_as_reference(tmp_path, name: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(DeepawError) as info:
        read_chgcar(_write(tmp_path, name, MALFORMED[name]))
    _one_line(info.value)


@pytest.mark.parametrize("name", ["../evil.cif", "/etc/passwd", "a/../../b.cif", "..", "x\x00y.cif", ""])
def test_upload_names_cannot_escape_their_directory(tmp_path, name: str) -> None:  # type: ignore[no-untyped-def]
    box = tmp_path / "uploads"
    box.mkdir()
    try:
        path = safe_output_path(box, name)
    except OutputError as exc:
        _one_line(exc)
        return
    assert path.resolve().parent == box.resolve()


class _RunsCode:
    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (os.system, ("touch /tmp/deepaw-pwned",))


@pytest.mark.parametrize("payload", ["code", "plain_pickle", "tensor", "list", "junk"])
def test_checkpoints_that_are_not_state_dicts(tmp_path, payload: str) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "model.pth"
    if payload == "code":
        torch.save({"a": _RunsCode()}, path)
    elif payload == "plain_pickle":
        path.write_bytes(pickle.dumps({"a": _RunsCode()}))
    elif payload == "tensor":
        torch.save(torch.ones(3), path)
    elif payload == "list":
        torch.save([torch.ones(3)], path)
    else:
        path.write_bytes(np.random.default_rng(0).bytes(4096))
    if os.path.exists("/tmp/deepaw-pwned"):
        os.remove("/tmp/deepaw-pwned")
    with pytest.raises(CheckpointError) as info:
        deepaw_nb.load_model(path)
    _one_line(info.value)
    assert not os.path.exists("/tmp/deepaw-pwned")


def _corrupted_checkpoints(tmp_path) -> list[bytes]:  # type: ignore[no-untyped-def]
    """Random bytes, random bytes behind a pickle header, and truncated / bit-flipped real checkpoints."""
    rng = np.random.default_rng(12345)
    real = tmp_path / "real.pt"
    torch.save({"w": torch.arange(50.0), "meta": {"name": "x"}}, real)
    good = real.read_bytes()
    payloads = [rng.bytes(int(rng.integers(1, 5000))) for _ in range(150)]
    payloads += [b"\x80\x02" + rng.bytes(int(rng.integers(1, 300))) for _ in range(150)]
    payloads += [good[: int(rng.integers(1, len(good)))] for _ in range(40)]
    for _ in range(60):
        flipped = bytearray(good)
        for position in rng.integers(0, len(good), size=3):
            flipped[position] ^= 1 << int(rng.integers(0, 8))
        payloads.append(bytes(flipped))
    return payloads


def test_corrupted_checkpoints_fail_with_one_clear_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Whatever bytes a checkpoint holds, reading it raises CheckpointError (never IndexError & co.)."""
    path = tmp_path / "model.pth"
    for payload in _corrupted_checkpoints(tmp_path):
        path.write_bytes(payload)
        try:
            read_checkpoint(path)
        except CheckpointError as exc:
            _one_line(exc)
        # a flipped bit inside tensor data leaves a loadable file; that is fine (checked by hashes elsewhere)


def test_existing_outputs_are_never_overwritten_unasked(tmp_path, si_model, si_atoms) -> None:  # type: ignore[no-untyped-def]
    result = deepaw_nb.predict(si_atoms, model=si_model, grid=(4, 4, 4), progress=False)
    for writer, name in ((result.to_chgcar, "CHGCAR"), (result.to_cube, "rho.cube"), (result.to_npy, "rho.npy")):
        target = tmp_path / name
        target.write_text("precious")
        with pytest.raises(OutputError) as info:
            writer(target)
        _one_line(info.value)
        assert target.read_text() == "precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["CHGCAR", "rho.cube", "rho.npy"]
