"""A run's cumulative update exported as a peft LoRA adapter reproduces the merged model."""

from __future__ import annotations

import json

import pytest
import torch
from peft import PeftModel
from safetensors.torch import load_file

from boostlora.cli import main
from boostlora.foundation.config import build_config
from boostlora.foundation.errors import BoostLoraError
from boostlora.runs.export import export_lora
from boostlora.runs.lifecycle import boost

from ..toy_plugin import ToyNet, build_student

SETTINGS = {"plugin": "toy", "task": "toy", "u": 4, "weight_tying": 0.0, "targets": ["hidden", "out"], "max_rounds": 3,
            "show_progress": False, "objective_options": {"lr": 0.1, "steps": 30, "batch_size": 64}}


@pytest.mark.parametrize("strategy,rank", [("rotate", 6), ("top", 2)])
def test_lora_export_round_trip(toy_plugin, tmp_path, capsys, strategy, rank):
    run = tmp_path / strategy
    boost(build_config({**SETTINGS, "strategy": strategy}), run)
    assert main(["export", str(run), "--as", "lora"]) == 0
    out = run / "lora"
    config = json.loads((out / "adapter_config.json").read_text())
    assert config["r"] == rank and config["lora_alpha"] == rank and config["base_model_name_or_path"] == "toy-net"
    weights = load_file(str(out / "adapter_model.safetensors"))
    assert {w.shape[0] for k, w in weights.items() if "lora_A" in k} == {rank}

    merged = ToyNet()
    merged.load_state_dict(load_file(str(run / "final" / "model.safetensors")))
    served = PeftModel.from_pretrained(build_student(0), str(out))
    x = torch.randn(64, 16, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected, got = merged(x), served(x)
        assert not torch.allclose(build_student(0)(x), expected, atol=1e-3)  # the run did change the model
    assert (got - expected).abs().max().item() < 1e-4


def test_export_refuses_a_run_without_rounds(toy_plugin, tmp_path):
    run = tmp_path / "none"
    boost(build_config({**SETTINGS, "task_options": {"strength": 0.0, "teacher_rank": 2}}), run)
    with pytest.raises(BoostLoraError, match="nothing to export"):
        export_lora(run, tmp_path / "out")


def test_adapter_base_names_something_loadable(tmp_path, monkeypatch):
    from boostlora.runs.export import adapter_base

    monkeypatch.chdir(tmp_path)
    model_dir = tmp_path / "my-model"
    model_dir.mkdir()
    (model_dir / "config.json").write_text("{}")
    gguf = tmp_path / "weights.Q4_1.gguf"
    gguf.write_bytes(b"GGUF")
    out = tmp_path / "run" / "lora"
    assert adapter_base("org/model", None, out) == "org/model"  # a hub id stays one
    assert adapter_base("my-model", None, out) == str(model_dir)  # a local directory, made absolute
    assert adapter_base("weights.Q4_1.gguf", None, out) == str(out / "base")  # a GGUF: the dequantised copy
    assert adapter_base("smollm2-135m-instruct", None, out) == str(out / "base")
    assert adapter_base("smollm2-135m-instruct", "my-model", out) == str(model_dir)  # --base wins
    assert adapter_base("smollm2-135m-instruct", "HuggingFaceTB/SmolLM2-135M", out) == "HuggingFaceTB/SmolLM2-135M"


def test_export_refuses_a_base_that_is_not_a_model_directory(toy_plugin, tmp_path, capsys):
    run = tmp_path / "run"
    boost(build_config({**SETTINGS, "max_rounds": 1}), run)
    capsys.readouterr()
    assert main(["export", str(run), "--base", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("boostlora: error: --base ") and "no config.json" in err
    assert not (run / "lora").exists()
