"""``boostlora.CausalLMTask``: loading from a local directory, default targets per model family, batched answers
with stop strings, prompts checked before the model runs, and the math task's answers unchanged by the rebase."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch

import boostlora
from boostlora import CausalLMOptions, CausalLMTask, ConfigError, Splits, Verdict, option
from boostlora.lm import LLAMA_STYLE_TARGETS, generate, targets_for
from boostlora.objectives.grpo import GRPO
from boostlora_plugins.math.data import MathExample
from boostlora_plugins.math.task import MathTask
from math_helpers import make_model, make_tokenizer

CPU = torch.device("cpu")


class Echo(CausalLMTask):
    name = "echo"

    def load_splits(self, seed):
        return Splits(train=["a b", "c d"], eval=["a b"])

    def prompt(self, example):
        return f"what is {example} ?"

    def oracle(self, example, prediction):
        return Verdict(prediction.strip() == "a", score=0.25)


def test_the_base_is_public_and_the_api_has_a_version():
    assert boostlora.CausalLMTask is CausalLMTask and boostlora.lm.CausalLMTask is CausalLMTask
    assert boostlora.PLUGIN_API_VERSION == "2"
    assert Echo.default_objective == "grpo" and Echo.default_model == "smollm2-135m-instruct"
    assert dict(Echo.default_options) == {"max_new_tokens": 64, "batch_size": 32, "stop": []}


def test_grpo_accepts_it_before_the_model_loads():
    task = Echo()
    assert task.tokenizer is None
    GRPO({}).check(task)  # tokenizer declared on the class, prompt and reward present


def test_load_model_reads_a_local_directory_and_picks_llama_targets(tmp_path):
    tokenizer = make_tokenizer()
    make_model(len(tokenizer)).save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    task = Echo()
    model = task.load_model(str(tmp_path), CPU)
    assert task.tokenizer is not None and task.tokenizer.padding_side == "left"
    assert task.default_targets == LLAMA_STYLE_TARGETS and Echo.default_targets == ()
    assert model.config.model_type == "llama"


def test_a_class_that_names_its_targets_keeps_them(tmp_path):
    class QV(Echo):
        default_targets = ("q_proj", "v_proj")

    tokenizer = make_tokenizer()
    make_model(len(tokenizer)).save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    task = QV()
    task.load_model(str(tmp_path), CPU)
    assert task.default_targets == ("q_proj", "v_proj")


def test_targets_for_other_families():
    from transformers import GPT2Config, GPT2LMHeadModel

    gpt2 = GPT2LMHeadModel(GPT2Config(n_layer=1, n_embd=8, n_head=2, vocab_size=20, n_positions=16))
    with pytest.raises(ConfigError, match="model type 'gpt2' keeps its projections in Conv1D layers"):
        targets_for(gpt2)

    class Unknown(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.q_proj, self.v_proj, self.head = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)

    assert targets_for(Unknown()) == ("q_proj", "v_proj")
    with pytest.raises(ConfigError, match=r"no default targets for model type 'unknown' \(linear layers found: head\)"):
        targets_for(torch.nn.ModuleDict({"head": torch.nn.Linear(2, 2)}))


def test_options_without_the_generation_fields_are_refused_at_class_creation():
    @dataclass
    class Plain(boostlora.Options):
        size: int = option(3, "how many")

    with pytest.raises(ConfigError, match=r"Broken.Options has no batch_size, max_new_tokens, stop: .*CausalLMOptions"):
        class Broken(Echo):  # noqa: F841
            Options = Plain

    @dataclass
    class Extended(CausalLMOptions):
        size: int = option(3, "how many")

    class Fine(Echo):
        Options = Extended

    assert Fine({"size": 4, "max_new_tokens": 3}).options["max_new_tokens"] == 3


def test_predict_is_generate_with_the_options_and_cuts_at_stop():
    tokenizer = make_tokenizer()
    model = make_model(len(tokenizer), seed=2, init_range=0.3)
    task = Echo({"max_new_tokens": 6, "batch_size": 2})
    task.tokenizer = tokenizer
    examples = ["a b", "c d", "1 + 2", "3"]
    expected = generate(model, tokenizer, [task.prompt(e) for e in examples], max_new_tokens=6, batch_size=2,
                        show_progress=False)
    assert task.predict(model, examples) == expected
    first_word = expected[0].split()[0]
    stopped = Echo({"max_new_tokens": 6, "stop": [first_word]})
    stopped.tokenizer = tokenizer
    assert stopped.predict(model, examples[:1]) == [expected[0][: expected[0].find(first_word)]]
    assert task.reward("a b", "a") == 0.25  # Verdict.score when the oracle grades


def test_a_wrong_prompt_is_refused_before_the_model_runs():
    class IntPrompt(Echo):
        def prompt(self, example):
            return 7

    model = make_model(len(make_tokenizer()))
    model.generate = lambda *a, **k: pytest.fail("the model ran")
    task = IntPrompt()
    task.tokenizer = make_tokenizer()
    with pytest.raises(ConfigError, match=r"task 'echo': prompt\(\) returned 7 \(int\); it must return a string or a list"):
        task.predict(model, ["a b"])
    with pytest.raises(ConfigError, match="task 'echo': load_model must run before predict"):
        Echo().predict(model, ["a b"])


@pytest.mark.parametrize("chat", [False, True])
def test_math_answers_are_those_of_generate_with_its_own_settings(chat):
    """The rebased math task asks exactly what it asked before: its prompts, max_new_tokens, batch_size, stop."""
    task = MathTask({"max_new_tokens": 5, "batch_size": 2, "stop": ["3"], "instruction": "what is the answer ?"})
    task.tokenizer = make_tokenizer(chat_template=chat)
    model = make_model(len(task.tokenizer), seed=2, init_range=0.3)
    examples = [MathExample("1 + 2", "3"), MathExample("3 + 3", "6"), MathExample("1 + 1", "2")]
    expected = generate(model, task.tokenizer, [task.prompt(e) for e in examples], max_new_tokens=5, batch_size=2,
                        stop=["3"], show_progress=False)
    assert task.predict(model, examples) == expected
    assert isinstance(task, CausalLMTask) and task.default_targets == LLAMA_STYLE_TARGETS


def test_a_wrong_prompt_in_a_run_is_one_line_before_the_model_runs(tmp_path, capsys):
    """Through the command: exit 2, one line naming the task, nothing written; the model's forward never ran."""
    import types

    from boostlora.cli import main
    from boostlora.contract.plugins import register_plugin, unregister_plugin

    calls = []

    class DictPrompt(Echo):
        name = "dict-prompt"
        default_targets = ("q_proj", "v_proj")

        def load_model(self, model, device):
            self.tokenizer = make_tokenizer()
            loaded = make_model(len(self.tokenizer))
            loaded.register_forward_pre_hook(lambda *a: calls.append("forward"))
            return loaded

        def prompt(self, example):
            return {"text": example}

    @boostlora.hookimpl
    def boostlora_register_tasks(register):
        register(DictPrompt)

    register_plugin(types.SimpleNamespace(boostlora_register_tasks=boostlora_register_tasks), name="dictprompt")
    try:
        code = main(["run", "--plugin", "dictprompt", "--out", str(tmp_path / "run"), "show_progress=false",
                     "block_scale=matched", "validation_fraction=0.5"])
    finally:
        unregister_plugin("dictprompt")
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert err[0].startswith("boostlora: error: task 'dict-prompt': prompt() returned {'text': "
                             "'c d'} (dict); it must "
                             "return a string or a list of chat messages"), err[0]
    assert calls == [] and not (tmp_path / "run").exists()
