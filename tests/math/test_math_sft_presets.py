"""SFT rounds on a tiny model, the plugin's registration and its presets."""

from __future__ import annotations

import argparse

import pytest
import torch

from boostlora import ConfigError, RoundContext
from boostlora.objectives.sft import SFT, sft_batch
from boostlora_plugins.math.data import MathExample
from boostlora_plugins.math.task import MathTask
from math_helpers import make_model, make_tokenizer


def _adapted(model):
    from peft import TinyLoraConfig, get_peft_model

    peft_model = get_peft_model(model, TinyLoraConfig(r=2, u=4, target_modules=["q_proj", "v_proj", "up_proj", "down_proj"], init_weights=True))
    return peft_model, [p for p in peft_model.parameters() if p.requires_grad]


def test_sft_batch_masks_the_prompt():
    tok = make_tokenizer()
    batch = sft_batch(tok, ["what is 1 + 2 ?", "a"], ["3", "b c"], max_length=32)
    labels = batch["labels"].tolist()
    eos = tok.eos_token_id
    assert [t for t in labels[0] if t != -100] == tok("3")["input_ids"] + [eos]
    assert [t for t in labels[1] if t != -100] == tok("b c")["input_ids"] + [eos]
    assert batch["attention_mask"][1].sum() == len(tok("a")["input_ids"]) + 3


def test_sft_round_lowers_the_reference_loss():
    tok = make_tokenizer()
    task = MathTask()
    task.tokenizer = tok
    examples = [MathExample("what is 1 + 2 ?", "3"), MathExample("what is 3 + 3 ?", "1"), MathExample("b c", "a a")]
    peft_model, trainable = _adapted(make_model(len(tok), seed=0, init_range=0.3))
    frozen = {n: p.detach().clone() for n, p in peft_model.named_parameters() if "tinylora" not in n}

    def loss() -> float:
        batch = sft_batch(tok, [task.prompt(e) for e in examples], [task.reference(e) for e in examples], 64)
        with torch.no_grad():
            return float(peft_model(**batch).loss)

    before = loss()
    objective = SFT({"lr": 0.1, "steps": 20, "batch_size": 3, "warmup_steps": 0})
    objective.check(task)
    result = objective.train(RoundContext(peft_model, task, examples, trainable, 0, 0, torch.device("cpu"), False))
    after = loss()
    assert result.steps == 20
    assert after < before - 0.3, f"{before:.3f} -> {after:.3f}"
    for name, p in peft_model.named_parameters():
        if name in frozen:
            assert torch.equal(p, frozen[name]), f"{name} moved"


def test_sft_refuses_bad_options():
    with pytest.raises(ConfigError, match="steps"):
        SFT({"steps": 0})


def test_plugin_registers_the_math_task():
    from boostlora.contract.plugins import find_task

    assert find_task("math") is MathTask


def _args(**kw):
    base = {"config": None, "overrides": [], "plugin": "math", "task": None, "preset": None, "model": None}
    return argparse.Namespace(**{**base, **kw})


@pytest.mark.parametrize("preset", ["default", "paper-gsm8k", "paper-math500"])
def test_presets_make_valid_configs_and_tasks(preset):
    from boostlora.cli import resolve_settings
    from boostlora.foundation.config import build_config
    from boostlora.contract.plugins import find_objective

    config = build_config(resolve_settings(_args(preset=preset)))
    task = MathTask(config.task_options)  # every task option of the preset is known and valid
    find_objective(config.objective)(config.objective_options)  # and every objective option
    if preset == "default":
        assert config.model == "smollm2-135m-instruct" and task.options["dataset"].startswith("reasoning_gym:")
    else:
        assert config.model == "Qwen/Qwen2.5-3B-Instruct" and config.u == 12 and config.weight_tying == 1.0


def test_unknown_preset_is_refused_by_name():
    from boostlora.cli import resolve_settings

    with pytest.raises(ConfigError, match="no preset 'paper-gsm9k'.*paper-gsm8k"):
        resolve_settings(_args(preset="paper-gsm9k"))
