"""Checkpoint loading: config inference, key/shape checks, and refusal of unsafe files."""

from __future__ import annotations

import pickle

import pytest
import torch
from conftest import REFERENCE, load_reference_model, reference_cases

from deepaw_nb import CheckpointError, InputFileError, load_model
from deepaw_nb.model import ModelConfig, default_model_path
from deepaw_nb.model.checkpoint import (
    as_state_dict,
    infer_config,
    learned_only,
    read_checkpoint,
)
from deepaw_nb.model.shapes import learned_shapes

CASES = reference_cases()
pytestmark = pytest.mark.skipif(not CASES, reason="reference fixtures missing")


def _state(name: str) -> dict[str, torch.Tensor]:
    return as_state_dict(read_checkpoint(REFERENCE / f"{name}_f_nonlocal.pth"), name)


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_config_is_inferred_from_shapes(case: dict) -> None:
    config = infer_config(_state(case["name"]))
    for key in ("mul", "lmax", "num_interactions", "num_basis"):
        assert getattr(config, key) == case["config"][key], key


def test_analytic_shapes_equal_the_built_modules() -> None:
    model = load_reference_model("si_l2")
    built = {k: tuple(v.shape) for k, v in learned_only(model.f_nonlocal.state_dict()).items()}
    assert built == {k: tuple(v) for k, v in learned_shapes(model.config).items()}


def test_every_learned_weight_is_consumed() -> None:
    model = load_reference_model("si_l2")
    state = learned_only(_state("si_l2"))
    own = model.f_nonlocal.state_dict()
    assert set(state) == set(learned_only(own))
    for key, value in state.items():
        assert torch.equal(own[key], value), key


def test_missing_key_is_named(tmp_path) -> None:  # type: ignore[no-untyped-def]
    state = _state("si_l2")
    del state["probe_model.interaction_block.convolutions.1.lin2.weight"]
    path = tmp_path / "broken.pth"
    torch.save(state, path)
    with pytest.raises(CheckpointError, match="convolutions.1.lin2.weight") as info:
        load_model(path)
    assert "\n" not in str(info.value)


def test_wrong_shape_is_named(tmp_path) -> None:  # type: ignore[no-untyped-def]
    state = _state("si_l2")
    state["atom_model.interaction_block.convolutions.2.sc.weight"] = torch.zeros(7)
    path = tmp_path / "broken.pth"
    torch.save(state, path)
    with pytest.raises(CheckpointError, match="convolutions.2.sc.weight"):
        load_model(path)


def test_explicit_config_that_contradicts_the_shapes_is_refused() -> None:
    with pytest.raises(CheckpointError, match="does not fit"):
        infer_config(_state("si_l2"), lmax=3)


def test_unknown_option_is_refused() -> None:
    with pytest.raises(CheckpointError, match="unknown model option"):
        infer_config(_state("si_l2"), depth=3)


def test_explicit_cutoff_is_used() -> None:
    assert infer_config(_state("si_l2"), cutoff=5.0).cutoff == 5.0


class _Exploit:
    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (print, ("this must never run",))


def test_pickle_with_code_is_refused(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "evil.pth"
    torch.save({"weights": _Exploit()}, path)
    with pytest.raises(CheckpointError, match="refused for safety"):
        load_model(path)
    assert "must never run" not in capsys.readouterr().out


def test_plain_pickle_is_refused(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "plain.pkl"
    path.write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(CheckpointError):
        load_model(path)


def test_missing_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InputFileError, match="not found"):
        load_model(tmp_path / "nope.pth")


def test_not_a_state_dict(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "tensor.pth"
    torch.save(torch.zeros(3), path)
    with pytest.raises(CheckpointError, match="not a state dict"):
        load_model(path)


def test_f_local_passed_as_f_nonlocal_is_explained() -> None:
    with pytest.raises(CheckpointError, match="not a DeePAW F_nonlocal"):
        load_model(REFERENCE / "deepaw_f_local.pth")


def test_f_local_of_the_wrong_width_is_refused() -> None:
    with pytest.raises(CheckpointError, match="992"):
        load_model(REFERENCE / "si_l2_f_nonlocal.pth", REFERENCE / "deepaw_f_local.pth")


def test_symbolic_kan_branches_are_refused(tmp_path) -> None:  # type: ignore[no-untyped-def]
    state = as_state_dict(read_checkpoint(REFERENCE / "deepaw_f_local.pth"), "f_local")
    state["kan.symbolic_fun.0.mask"] = torch.ones_like(state["kan.symbolic_fun.0.mask"])
    path = tmp_path / "symbolic.pth"
    torch.save(state, path)
    with pytest.raises(CheckpointError, match="symbolic"):
        load_model(REFERENCE / "hfo2_full_f_nonlocal.pth", path)


def test_wrapped_and_prefixed_state_dicts_load(tmp_path) -> None:  # type: ignore[no-untyped-def]
    state = {f"module.{k}": v for k, v in _state("si_l2").items()}
    path = tmp_path / "wrapped.pth"
    torch.save({"state_dict": state, "epoch": 3}, path)
    assert load_model(path).config.mul == 120


def test_default_model_or_clear_error() -> None:
    if default_model_path().is_file():
        assert load_model().info.species
    else:
        with pytest.raises(InputFileError, match="bundled default model"):
            load_model()


def test_invalid_config_values() -> None:
    with pytest.raises(CheckpointError, match="cutoff"):
        ModelConfig(cutoff=-1.0)


def test_quick_construction_restores_e3nn_settings_and_changes_no_output() -> None:
    """Loading builds e3nn modules without einsum path search; outputs equal a default-built copy."""
    import e3nn
    import numpy as np
    from ase.build import bulk

    import deepaw_nb
    from deepaw_nb.model.f_nonlocal import FNonlocal

    before = e3nn.get_optimization_defaults()
    quick = load_reference_model("si_l2")
    assert e3nn.get_optimization_defaults() == before
    default_built = FNonlocal(quick.config)  # built with e3nn's own (optimising) settings
    default_built.load_state_dict(quick.f_nonlocal.state_dict())
    reference = deepaw_nb.model.DensityModel(default_built.eval(), quick.f_local, quick.info, quick.free_atoms)
    atoms = bulk("Si", "diamond", a=5.43)
    points = np.random.default_rng(0).uniform(size=(64, 3)) @ np.asarray(atoms.cell)
    got = deepaw_nb.predict_points(atoms, points, model=quick, kernel="e3nn")
    want = deepaw_nb.predict_points(atoms, points, model=reference, kernel="e3nn")
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_cached_activation_moments_equal_e3nns_own_and_are_restored() -> None:
    """quick_e3nn_construction memoises e3nn's seeded activation moments: same constants."""
    import e3nn.math._normalize_activation as moments
    from e3nn.math import normalize2mom

    from deepaw_nb.model.checkpoint import quick_e3nn_construction
    from deepaw_nb.model.f_nonlocal import FNonlocal

    original = moments.moment
    config = ModelConfig(mul=8, lmax=1, num_interactions=1)
    torch.manual_seed(0)
    plain = FNonlocal(config)
    with quick_e3nn_construction():
        assert moments.moment is not original
        torch.manual_seed(0)
        cached = FNonlocal(config)
        torch.manual_seed(0)
        again = FNonlocal(config)  # served from the cache
    assert moments.moment is original
    constants = [[m.cst for m in net.modules() if isinstance(m, normalize2mom)] for net in (plain, cached, again)]
    assert len(constants[0]) > 0 and constants[0] == constants[1] == constants[2]
