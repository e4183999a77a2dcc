"""block_scale=gain: every rotate block moves a layer's output on the task's inputs as much as block 0."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from boostlora import BoostLoraError
from boostlora.method.block_gain import MAX_GAIN_FACTOR, gain_factors, input_energy
from boostlora.foundation.config import build_config
from boostlora.runs.lifecycle import boost, resume
from boostlora.method.subspace import Basis, SubspaceAllocator, truncated_svd

from .test_loop import StopAfter, settings


def anisotropic_inputs(n: int, dim: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, dim, generator=g) * torch.linspace(3.0, 0.2, dim)


def test_factors_are_the_ratio_of_block_gains():
    basis = Basis(torch.eye(4), torch.tensor([4.0, 2.0, 1.0, 1.0]), torch.eye(4))
    energy = {"m": torch.tensor([1.0, 1.0, 4.0, 0.0], dtype=torch.float64)}
    factors = gain_factors({"m": basis}, energy, r=2)["m"]
    # G_0 = sqrt(16 + 4), G_1 = sqrt(4 * 1 + 0)
    assert factors.tolist() == pytest.approx([1.0, (20**0.5) / 2.0])


def test_a_block_the_inputs_never_reach_is_clamped():
    basis = Basis(torch.eye(4), torch.tensor([4.0, 2.0, 1.0, 1.0]), torch.eye(4))
    energy = {"m": torch.tensor([1.0, 1.0, 0.0, 0.0], dtype=torch.float64)}
    assert gain_factors({"m": basis}, energy, r=2)["m"].tolist() == [1.0, MAX_GAIN_FACTOR]


def test_every_scaled_block_moves_the_output_as_much_as_block_0():
    torch.manual_seed(0)
    layer = nn.Linear(12, 10, bias=False)
    model = nn.Sequential(layer)
    bases = {"0": truncated_svd(layer.weight, 10)}
    x = anisotropic_inputs(500, 12)
    factors = gain_factors(bases, input_energy(model, bases, lambda: model(x)), r=2)
    assert factors["0"][1:].gt(1.0).all()  # the inputs favour the top directions here: lower blocks are scaled up
    allocator = SubspaceAllocator(bases, "rotate", 2, "gain")
    allocator.gains = factors
    gains = []
    for k in range(5):
        B, A = allocator.block("0", k)
        gains.append(float((x @ A.T @ B.T).pow(2).sum(dim=1).mean().sqrt()))
    assert gains == pytest.approx([gains[0]] * 5, rel=1e-4)
    raw = SubspaceAllocator(bases, "rotate", 2, "raw")
    assert torch.equal(raw.block("0", 0)[0], allocator.block("0", 0)[0])  # block 0 is left as it is


def test_a_module_the_forward_pass_never_reaches_is_refused():
    model = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 4))
    bases = {name: truncated_svd(model.get_submodule(name).weight, 4) for name in ("0", "1")}
    with pytest.raises(BoostLoraError, match="saw no input"):
        input_energy(model, bases, lambda: model[0](torch.randn(3, 4)))


def test_gain_leaves_round_0_and_top_unchanged_and_records_its_factors(toy_plugin):
    gain = boost(settings(block_scale="gain", max_rounds=2))
    matched = boost(settings(block_scale="matched", max_rounds=2))
    assert gain["rounds"][0]["eval_accuracy"] == matched["rounds"][0]["eval_accuracy"]
    factors = gain["block_gain_factors"]
    assert factors[0] == 1.0 and len(factors) == 2 and factors[1] > 0
    top_gain = boost(settings(block_scale="gain", strategy="top", max_rounds=2))
    top_raw = boost(settings(block_scale="raw", strategy="top", max_rounds=2))
    assert [r["eval_accuracy"] for r in top_gain["rounds"]] == [r["eval_accuracy"] for r in top_raw["rounds"]]


def test_a_resumed_gain_run_reuses_the_factors_it_measured(toy_plugin, tmp_path):
    from boostlora.contract.plugins import register_plugin, unregister_plugin

    whole = boost(settings(block_scale="gain"), tmp_path / "whole")
    register_plugin(StopAfter(1), name="killer")
    try:
        with pytest.raises(BoostLoraError, match="interrupted"):
            boost(settings(block_scale="gain"), tmp_path / "broken")
    finally:
        unregister_plugin("killer")
    resumed = resume(tmp_path / "broken")
    assert resumed["block_gain_factors"] == whole["block_gain_factors"]
    assert [r["eval_accuracy"] for r in resumed["rounds"]] == [r["eval_accuracy"] for r in whole["rounds"]]


def test_the_setting_is_known_to_the_config():
    assert build_config({"plugin": "toy", "block_scale": "gain"}).block_scale == "gain"
