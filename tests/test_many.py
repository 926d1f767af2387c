"""predict_many: outputs, manifest, resume, isolated failures; locally and on a Dask LocalCluster."""

from __future__ import annotations

import json

import numpy as np
import pytest
from ase.build import bulk

from conftest import REFERENCE
from deepaw_nb import OutputError
from deepaw_nb.many import predict_many

OPTIONS = {"grid": (6, 6, 6), "batch_size": 200, "device": "cpu"}


def _structures(tmp_path):  # type: ignore[no-untyped-def]
    si = bulk("Si", "diamond", a=5.43)
    si.info["name"] = "Si diamond"
    squeezed = bulk("Si", "diamond", a=5.2)
    broken = tmp_path / "broken.cif"
    broken.write_text("data_nothing\n_cell_length_a 3\n")
    return [si, squeezed, broken]


def test_local_run_writes_outputs_and_manifest_and_resumes(tmp_path, si_model) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "out"
    entries = predict_many(_structures(tmp_path), out, model=si_model, formats=("chgcar", "npz"), **OPTIONS)
    assert entries["Si_diamond"]["status"] == "done" and entries["Si2_1"]["status"] == "done"
    assert entries["broken"]["status"] == "failed" and entries["broken"]["error"]
    assert (out / "Si_diamond.CHGCAR").is_file() and (out / "Si2_1.npz").is_file()
    manifest = json.loads((out / "manifest.json").read_text())["structures"]
    assert set(manifest) == {"Si_diamond", "Si2_1", "broken"}
    assert manifest["Si_diamond"]["timings"]["probe model"] > 0
    before = (out / "Si_diamond.CHGCAR").stat().st_mtime_ns
    again = predict_many(_structures(tmp_path), out, model=si_model, formats=("chgcar", "npz"), **OPTIONS)
    assert again["Si_diamond"]["skipped"] and (out / "Si_diamond.CHGCAR").stat().st_mtime_ns == before
    assert again["broken"]["status"] == "failed"  # failures are retried, and fail again


def test_bad_arguments(tmp_path, si_model) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(OutputError, match="format"):
        predict_many([], tmp_path / "o", model=si_model, formats=("xsf",))
    with pytest.raises(OutputError, match="does not exist"):
        predict_many([], tmp_path / "missing" / "o", model=si_model)
    with pytest.raises(OutputError, match="block_size"):
        predict_many([], tmp_path / "o", model=si_model, block_size=0)
    with pytest.raises(OutputError, match="block_size instead"):
        predict_many([], tmp_path / "o", model=si_model, checkpoint_dir=tmp_path / "c")
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "manifest.json").write_text("{not json")
    with pytest.raises(OutputError, match="not a deepaw-nb manifest"):
        predict_many([], tmp_path / "junk", model=si_model)


def test_dask_local_cluster_with_two_workers(tmp_path, si_model) -> None:  # type: ignore[no-untyped-def]
    distributed = pytest.importorskip("distributed")
    checkpoint = REFERENCE / "si_l2_f_nonlocal.pth"
    local = predict_many([bulk("Si", "diamond", a=5.43)], tmp_path / "local", model=si_model, **OPTIONS)
    assert local["Si2_0"]["status"] == "done"
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        with distributed.Client(cluster) as client:
            entries = predict_many(_structures(tmp_path), tmp_path / "dask", model=str(checkpoint), client=client, **OPTIONS)
            with pytest.raises(OutputError, match="checkpoint path"):
                predict_many(_structures(tmp_path), tmp_path / "dask2", model=si_model, client=client, **OPTIONS)
            # One structure split into blocks of probes, one task each, then assembled.
            split = predict_many({"Si_blocks": bulk("Si", "diamond", a=5.43)}, tmp_path / "blocks",
                                 model=str(checkpoint), client=client, block_size=50, **OPTIONS, symmetry=False)
    assert [entries[n]["status"] for n in ("Si_diamond", "Si2_1", "broken")] == ["done", "done", "failed"]
    record = split["Si_blocks"]
    assert record["status"] == "done" and len(record["blocks"]) == 5  # 216 probes in blocks of 50
    assert all(b["status"] == "done" for b in record["blocks"]) and record["probes_from_blocks"] == 216
    assert not (tmp_path / "blocks" / ".blocks" / "Si_blocks").exists()  # checkpoint removed once written
    from deepaw_nb import DensityResult

    a = DensityResult.from_chgcar(tmp_path / "local" / "Si2_0.CHGCAR").density
    b = DensityResult.from_chgcar(tmp_path / "dask" / "Si_diamond.CHGCAR").density
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-9)
    c = DensityResult.from_chgcar(tmp_path / "blocks" / "Si_blocks.CHGCAR").density
    np.testing.assert_allclose(a, c, rtol=1e-5, atol=1e-6 * float(a.max()))
