"""docs/plugins.md's worked text-task example runs: the code block, as written, is a plugin that boosts a model.

SmolLM2 would take minutes, so the block's task runs on a tiny random-init Llama saved as a local model directory
(the same loading path a hub or local model takes), for one round of one step, under GRPO and under SFT."""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path

import pytest

from boostlora import Verdict
from boostlora.contract.plugins import register_plugin, unregister_plugin
from boostlora.foundation.config import build_config
from boostlora.runs.lifecycle import boost
from math_helpers import make_model, make_tokenizer

DOC = (Path(__file__).resolve().parents[2] / "docs" / "plugins.md").read_text()


@pytest.fixture(scope="module")
def sort_plugin():
    (source,) = [block for block in re.findall(r"```python\n(.*?)```", DOC, flags=re.S) if "class SortNumbers" in block]
    module = types.ModuleType("plugins_doc_sort")
    sys.modules[module.__name__] = module  # as an import would: dataclasses look their module up
    exec(compile(source, "docs/plugins.md", "exec", dont_inherit=True), module.__dict__)
    register_plugin(module, name="sort")
    yield module
    unregister_plugin("sort")
    sys.modules.pop(module.__name__)


@pytest.fixture(scope="module")
def tiny_llama(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny-llama")
    tokenizer = make_tokenizer()
    make_model(len(tokenizer), seed=0, init_range=0.3).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def test_the_oracle_grades_and_the_splits_are_disjoint(sort_plugin):
    task = sort_plugin.SortNumbers({"train_size": 20, "eval_size": 10})
    splits = task.load_splits(0)
    assert len(splits.train) == 20 and len(splits.eval) == 10
    assert not {tuple(x) for x in splits.train} & {tuple(x) for x in splits.eval}
    assert all(3 <= len(x) <= 5 for x in splits.train)
    assert task.oracle([3, 1, 2], "1, 2, 3") == Verdict(True, "got [1, 2, 3], want [1, 2, 3]", score=1.0)
    assert task.oracle([3, 1, 2], "1, 3, 2").score == pytest.approx(1 / 3)
    assert task.oracle([3, 1, 2], "1, 2").score == pytest.approx(2 / 3 - 0.25 / 3)
    assert not task.oracle([3, 1, 2], "1, 3, 2").correct and task.reference([3, 1, 2]) == "1, 2, 3"
    assert task.prompt([3, 1, 2])[0]["content"].startswith("Sort from smallest to largest: 3, 1, 2.")


@pytest.mark.parametrize("objective", ["grpo", "sft"])
def test_the_worked_example_boosts_a_tiny_llama_for_one_round(sort_plugin, tiny_llama, tmp_path, objective):
    preset = sort_plugin.SortNumbers.presets["default"]
    settings = {
        "plugin": "sort", **preset, "model": str(tiny_llama), "objective": objective, "max_rounds": 1,
        "objective_options": {**preset["objective_options"], "steps": 1, "prompts_per_step": 2, "num_generations": 2,
                              "max_completion_length": 4} if objective == "grpo" else {"steps": 1},
        "task_options": {**preset["task_options"], "train_size": 8, "eval_size": 4, "max_new_tokens": 4},
        "show_progress": False,
    }
    report = boost(build_config(settings), tmp_path / "run")
    assert report["plugin"] == "sort" and report["objective"] == objective
    assert len(report["rounds"]) == 1
    record = report["rounds"][0]
    assert record["round"] == 0 and record["trainable_params"] > 0
    assert report["targets"] and all(t.rsplit(".", 1)[-1] in ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj",
                                                             "up_proj", "down_proj") for t in report["targets"])
    assert 0.0 <= report["base_eval_accuracy"] <= 1.0 and 0.0 <= report["final_eval_accuracy"] <= 1.0
    assert (tmp_path / "run" / "report.json").is_file()
