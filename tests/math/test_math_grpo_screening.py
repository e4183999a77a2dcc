"""Screening a GRPO round's examples by sampled pass rate (``screen_samples``): only examples whose samples
disagree carry a gradient, so only those (filled to one step) are trained on."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from boostlora import ConfigError, RoundContext
from boostlora.objectives.grpo import GRPO
from boostlora.objectives.screening import choose, sampled_rewards

from math_helpers import CountA, make_model, make_tokenizer

pytest.importorskip("trl")


def test_the_examples_whose_samples_disagree_come_first_then_a_seeded_fill_to_one_step():
    rewards = [[0, 0, 0], [1, 0, 1], [1, 1, 1], [0, 0.5, 0], [0, 0, 0]]
    screen = choose(rewards, fill_to=4, seed=3)
    assert screen.kept[:2] == [1, 3] and len(screen.kept) == 4 and set(screen.kept[2:]) <= {0, 2, 4}
    assert screen.informative == 2
    assert screen.pass_rates == pytest.approx([0, 2 / 3, 1, 1 / 6, 0])
    assert choose(rewards, fill_to=4, seed=3) == screen  # the fill is seeded
    assert choose(rewards, fill_to=1, seed=3).kept == [1, 3]  # enough informative ones: no fill
    assert choose([[1, 1], [0, 0]], fill_to=2, seed=0).informative == 0  # nothing disagrees: the fill is all
    metrics = screen.metrics()
    assert metrics["screened_examples"] == 5 and metrics["screened_informative_fraction"] == pytest.approx(0.4)


def test_every_prompt_is_sampled_the_asked_number_of_times_and_scored_against_its_own_example():
    asked = []

    def complete(prompts):
        asked.extend(prompts)
        return [f"{p}#{i}" for i, p in enumerate(prompts)]

    rewards = sampled_rewards(complete, ["x", "y"], lambda i, text: float(text.startswith("xy"[i])), samples=3)
    assert asked == ["x", "x", "x", "y", "y", "y"]
    assert rewards == [[1.0, 1.0, 1.0], [1.0, 1.0, 1.0]]


class Mixed(CountA):
    """Prompts of three kinds: 'b c d' always scores 1, '1 + 2 =' never, the rest by the share of 'a' words (varies)."""

    name = "mixed"

    def __init__(self, tokenizer: Any) -> None:
        super().__init__()
        self.tokenizer = tokenizer
        self.rewarded: list[str] = []

    def reward(self, example: str, completion: str) -> float:
        self.rewarded.append(example)
        if example == "b c d":
            return 1.0
        if example == "1 + 2 =":
            return 0.0
        return super().reward(example, completion)


def test_a_screened_round_trains_only_on_the_examples_whose_samples_disagree(tmp_path, monkeypatch):
    from peft import TinyLoraConfig, get_peft_model

    monkeypatch.chdir(tmp_path)
    tokenizer = make_tokenizer()
    model = make_model(len(tokenizer), seed=0)
    peft_model = get_peft_model(model, TinyLoraConfig(r=2, u=4, target_modules=["q_proj", "v_proj"], init_weights=True))
    trainable = [p for p in peft_model.parameters() if p.requires_grad]
    task = Mixed(tokenizer)
    varying = ["what is the answer ?", "what is 3 + 1 ?"]
    examples = ["b c d", "1 + 2 =", *varying, "b c d", "1 + 2 ="]
    objective = GRPO({"lr": 0.05, "steps": 2, "prompts_per_step": 2, "num_generations": 4, "max_completion_length": 6,
                      "warmup_steps": 0, "screen_samples": 6})
    ctx = RoundContext(peft_model, task, examples, trainable, round=0, seed=0, device=torch.device("cpu"), show_progress=False)
    result = objective.train(ctx)

    screened, trained = task.rewarded[: 6 * len(examples)], task.rewarded[6 * len(examples):]
    assert screened == [ex for ex in examples for _ in range(6)]
    assert trained and set(trained) == set(varying), "the round trained on an example whose samples all agreed"
    assert result.metrics["screened_examples"] == len(examples)
    assert result.metrics["screened_informative_fraction"] == pytest.approx(2 / 6)
    assert result.seconds_by_phase["screen"] > 0
    assert result.steps == 2


def test_screen_samples_must_be_able_to_disagree():
    for bad in (1, -2):
        with pytest.raises(ConfigError, match="screen_samples"):
            GRPO({"screen_samples": bad})
    assert GRPO({"screen_samples": 0}).options["screen_samples"] == 0
