"""A GRPO round on a tiny random-init model: the adapter's parameters move and the reward goes up."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from boostlora import ConfigError, RoundContext, Task, Verdict
from boostlora.objectives.grpo import GRPO, completion_text

from math_helpers import make_model, make_tokenizer

pytest.importorskip("trl")


class CountA(Task):
    """Constructed task: reward = share of the completion's words that are 'a'."""

    name = "count_a"

    def __init__(self, tokenizer: Any) -> None:
        super().__init__()
        self.tokenizer = tokenizer

    def load_model(self, model, device):  # pragma: no cover - not used
        raise NotImplementedError

    def load_splits(self, seed):  # pragma: no cover - not used
        raise NotImplementedError

    def predict(self, model, examples):  # pragma: no cover - not used
        raise NotImplementedError

    def oracle(self, example, prediction) -> Verdict:
        words = prediction.split()
        return Verdict(bool(words) and all(w == "a" for w in words), score=sum(w == "a" for w in words) / max(len(words), 1))

    def prompt(self, example: str) -> str:
        return example

    def reward(self, example: str, completion: str) -> float:
        return self.oracle(example, completion).reward


def _adapted(model):
    from peft import TinyLoraConfig, get_peft_model

    config = TinyLoraConfig(r=2, u=4, target_modules=["q_proj", "v_proj", "up_proj", "down_proj"], init_weights=True)
    peft_model = get_peft_model(model, config)
    trainable = [p for p in peft_model.parameters() if p.requires_grad]
    return peft_model, trainable


def _mean_reward(model, tokenizer, task, prompts, samples: int = 8) -> float:
    torch.manual_seed(123)
    batch = tokenizer(prompts * samples, return_tensors="pt", padding=True)
    with torch.no_grad():
        out = model.generate(**batch, do_sample=True, temperature=1.0, max_new_tokens=6, pad_token_id=0)
    texts = tokenizer.batch_decode(out[:, batch["input_ids"].shape[1] :], skip_special_tokens=True)
    return sum(task.reward(None, t) for t in texts) / len(texts)


def test_grpo_round_moves_v_and_raises_reward(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # anything TRL writes into the working directory would show up here
    tokenizer = make_tokenizer()
    model = make_model(len(tokenizer), seed=0, init_range=0.3)  # logits sensitive enough to learn in 16 steps
    peft_model, trainable = _adapted(model)
    task = CountA(tokenizer)
    prompts = ["what is the answer ?", "1 + 2 =", "b c d", "what is 3 + 1 ?"]
    before = _mean_reward(peft_model, tokenizer, task, prompts)
    v_before = [p.detach().clone() for p in trainable]
    frozen_before = {n: p.detach().clone() for n, p in peft_model.named_parameters() if "tinylora" not in n}

    objective = GRPO(
        {"lr": 0.1, "steps": 16, "prompts_per_step": 4, "num_generations": 8, "max_completion_length": 6, "warmup_steps": 0}
    )
    objective.check(task)
    ctx = RoundContext(peft_model, task, prompts, trainable, round=0, seed=0, device=torch.device("cpu"), show_progress=False)
    result = objective.train(ctx)

    after = _mean_reward(peft_model, tokenizer, task, prompts)
    moved = sum(float((a.detach() - b).abs().sum()) for a, b in zip(trainable, v_before))
    assert result.steps == 16
    assert moved > 1e-3, "the adapter's v did not change"
    for name, p in peft_model.named_parameters():
        if name in frozen_before:
            assert torch.equal(p, frozen_before[name]), f"{name} moved but is not in ctx.trainable"
    assert after > before + 0.05, f"reward did not go up: {before:.3f} -> {after:.3f}"
    assert result.metrics["reward_last"] > result.metrics["reward_first"]
    assert list(tmp_path.iterdir()) == [], "TRL wrote into the working directory"
    assert set(peft_model.peft_config) == {"default"}


def test_grpo_refuses_bad_options_and_non_generative_tasks():
    with pytest.raises(ConfigError, match="num_generations"):
        GRPO({"num_generations": 1})
    with pytest.raises(ConfigError, match="no option"):
        GRPO({"learning_rate": 1e-3})

    class Plain(Task):
        name = "plain"
        load_model = load_splits = predict = oracle = lambda *a: None

    with pytest.raises(ConfigError, match="generates text"):
        GRPO().check(Plain())


def test_completion_text_accepts_both_trl_shapes():
    assert completion_text("42") == "42"
    assert completion_text([{"role": "assistant", "content": "#### 7"}]) == "#### 7"


class FakeAccelerator:
    """Stands in for accelerate: ``processes`` ranks that all hold the same tokens."""

    def __init__(self, processes: int) -> None:
        self.num_processes = processes
        self.gathered = 0

    def gather(self, tensor):
        self.gathered += 1
        return tensor.reshape(1).repeat(self.num_processes)


def _fake_trainer(processes: int):
    from boostlora.objectives.grpo import _dynamic_sampling_trainer

    class FakeTrainer:
        num_generations = 2
        accelerator = FakeAccelerator(processes)

        def _generate_and_score_completions(self, inputs):
            return {
                "prompt_ids": torch.arange(6).view(6, 1),
                "completion_mask": torch.tensor([[1, 1], [1, 0], [1, 1], [1, 1], [1, 0], [0, 0]]),
                "advantages": torch.tensor([0.7, -0.7, 0.0, 0.0, 1.0, -1.0]),  # group 2 all-equal rewards
                "num_items_in_batch": torch.tensor(16),
            }

    trainer = _dynamic_sampling_trainer(FakeTrainer)()
    trainer.kept_fractions = []
    return trainer


def test_dynamic_sampling_under_several_processes_masks_instead_of_dropping():
    trainer = _fake_trainer(processes=2)
    out = trainer._generate_and_score_completions(None)
    assert out["prompt_ids"].flatten().tolist() == list(range(6))  # equal row counts on every rank
    assert out["completion_mask"].tolist() == [[1, 1], [1, 0], [0, 0], [0, 0], [1, 0], [0, 0]]
    assert int(out["num_items_in_batch"]) == 2 * 4 and trainer.accelerator.gathered == 1  # summed over ranks


def test_dynamic_sampling_gathers_every_step_even_with_nothing_to_drop():
    trainer = _fake_trainer(processes=2)
    trainer.num_generations = 3  # groups (0.7,-0.7,0) and (0,1,-1): both have variance
    out = trainer._generate_and_score_completions(None)
    assert trainer.accelerator.gathered == 1 and out["prompt_ids"].numel() == 6


def test_dynamic_sampling_drops_zero_variance_groups():
    trainer = _fake_trainer(processes=1)
    out = trainer._generate_and_score_completions(None)
    assert out["prompt_ids"].flatten().tolist() == [0, 1, 4, 5]
    assert out["advantages"].tolist() == pytest.approx([0.7, -0.7, 1.0, -1.0])
    assert int(out["num_items_in_batch"]) == 4  # tokens left after the drop
    assert trainer.kept_fractions == [pytest.approx(2 / 3)]


def test_kl_reference_adapter_is_dropped_and_the_round_adapter_stays_active(tmp_path, monkeypatch):
    """With beta > 0 TRL may add a 'ref' adapter; only the round's own (named as the loop names it) may remain."""
    from peft import TinyLoraConfig, get_peft_model

    from boostlora.method.adapter import ADAPTER_NAME

    monkeypatch.chdir(tmp_path)
    tokenizer = make_tokenizer()
    config = TinyLoraConfig(r=2, u=4, target_modules=["q_proj", "v_proj"], init_weights=True)
    peft_model = get_peft_model(make_model(len(tokenizer), seed=0), config, adapter_name=ADAPTER_NAME)
    trainable = [p for p in peft_model.parameters() if p.requires_grad]
    task = CountA(tokenizer)
    objective = GRPO({"lr": 0.05, "steps": 2, "prompts_per_step": 2, "num_generations": 2, "max_completion_length": 4,
                      "warmup_steps": 0, "beta": 0.05})
    ctx = RoundContext(peft_model, task, ["1 + 2 =", "b c d"], trainable, round=0, seed=0, device=torch.device("cpu"),
                       show_progress=False)
    objective.train(ctx)
    assert set(peft_model.peft_config) == {ADAPTER_NAME}
    assert peft_model.active_adapter == ADAPTER_NAME
