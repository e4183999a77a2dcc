"""The code task: a causal LM writes a function, the sandboxed checker runs its tests, GRPO learns from the reward.

Executing model-written code needs both opt-ins (see ``consent.py``); the task refuses to start without them,
before any model is loaded, so the refusal costs nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import torch
from torch import nn

from boostlora import CausalLMTask, ConfigError, DataError, Evaluation, Splits, Verdict
from boostlora.lm import LLAMA_STYLE_TARGETS

from . import data
from .checker import Checker, to_verdict
from .consent import OPTION, require_consent
from .data import Problem
from .generated import GENERATED, TEST_SETS, generate_problems
from .limits import ALL_LIMITS, Limits
from .metrics import mean_pass_at_k, pass_at_1_greedy
from .options import CodeOptions

log = logging.getLogger("boostlora_plugins.code")

CHAT_INSTRUCTION = (
    "Complete the following Python function. Reply with the complete function, including any imports it needs, "
    "in a single ```python code block."
)
MBPP_INSTRUCTION = "Write a Python function for this task. Reply with the code in a single ```python code block."
# Where a base model's continuation of a HumanEval prompt ends (the function body is over).
CONTINUATION_STOPS = ("\ndef ", "\nclass ", "\nif __name__", "\nprint(", "\n#", "\n```")
CHAT_STOPS = ("```\n\n",)  # after the closing fence: the explanation that usually follows is not needed


class CodeTask(CausalLMTask):
    """Generated / HumanEval / MBPP / JSONL problems; the verdict comes from a judge process that runs the tests
    and calls the program, which runs in a sandbox (bubblewrap when it works). Loading, the tokenizer and batched
    greedy answers come from ``CausalLMTask``; the stop strings depend on the prompt style (``stop_strings``)."""

    name = "code"
    description = "write Python functions (generated, HumanEval, MBPP, JSONL); judged by running the tests against a sandboxed program"
    default_targets = LLAMA_STYLE_TARGETS  # the same projections whatever the model's family
    Options = CodeOptions
    presets: ClassVar[Mapping[str, Mapping[str, Any]]] = {
        # Offline on 2 idle CPU cores in about a quarter of an hour: SmolLM2-135M-Instruct on the generated
        # function-writing problems (generated.py), where it starts at a held-out greedy pass@1 of 0.45 (29/64,
        # seed 0) instead of next to nothing on HumanEval, so rewards differ within a group and GRPO has a
        # gradient. The reward is graded (fraction of the four tests passed). u=16 untied follows the math
        # plugin's measurement that fully tied rounds barely move SmolLM2.
        "default": {
            "r": 2, "u": 16, "weight_tying": 0.0, "max_rounds": 2,
            "objective_options": {"steps": 2, "prompts_per_step": 4, "num_generations": 4, "max_completion_length": 160},
            "task_options": {"dataset": GENERATED, "max_train": 16, "max_eval": 32, "max_new_tokens": 160,
                             "batch_size": 8, "graded_reward": True},
        },
        # `boostlora bench --suite cpu`: the default task cut to what three methods x three seeds can afford on 2
        # cores in about an hour and a half (8 train problems, one step per round, 64 held-out problems: one
        # problem moves pass@1 by 0.016). 160 new tokens leave room for a complete function. The suite's rows
        # read held-out accuracy per round, not the round keep=best would hand over, so the validation split that
        # every round also answers is cut to 16 problems, a quarter of the cost. block_scale=gain was chosen on
        # the generated validation split (64 problems, seeds 0-1, last round: gain minus matched +0.016 [-0.016,
        # +0.047] over 128 item pairs, a tie) and is the math preset's measured choice. Picking the benchmark
        # preset is the run's consent to execute code; BOOSTLORA_ALLOW_CODE_EXEC=1 must still say the machine
        # allows it.
        "bench-cpu": {
            "r": 2, "u": 16, "weight_tying": 0.0, "max_rounds": 2, "block_scale": "gain",
            "objective_options": {"steps": 1, "prompts_per_step": 4, "num_generations": 4, "max_completion_length": 160},
            "task_options": {OPTION: True, "dataset": GENERATED, "max_train": 8, "max_eval": 64, "validation_size": 16,
                             "max_new_tokens": 160, "batch_size": 8, "graded_reward": True},
        },
        # The paper's code setting written out (Qwen2.5-3B-Instruct; docs/reconstructed-choices.md). Stated: GRPO, rotate, r=2, 12
        # parameters per round (read here as u=12 fully tied). Reconstructed from TinyLoRA reproductions, not the
        # paper: lr 1e-4 constant, beta 0, 4 generations x 64 prompts per step, temperature 1.0, q/k/v/o/gate/up/down.
        # Unknown and chosen here: MBPP train -> MBPP test, 8 rounds, 20 steps, 1024 new tokens, binary reward.
        "paper": {
            "model": "Qwen/Qwen2.5-3B-Instruct", "strategy": "rotate", "r": 2, "u": 12, "weight_tying": 1.0,
            "max_rounds": 8,
            "objective_options": {"lr": 1e-4, "schedule": "constant", "beta": 0.0, "num_generations": 4,
                                  "prompts_per_step": 64, "temperature": 1.0, "steps": 20, "max_completion_length": 1024},
            "task_options": {OPTION: True, "dataset": data.MBPP_HUB, "subset": "full", "train_split": "train", "eval_split": "test",
                             "max_new_tokens": 1024, "batch_size": 32, "pass_k": [1, 5], "pass_k_samples": 10},
        },
        # HumanEval has no train split: the paper's HumanEval number is read here as MBPP train -> HumanEval
        # (all 164 problems), every other setting as in `paper`. Reconstructed, like the rest of `paper`.
        "paper-humaneval": {
            "model": "Qwen/Qwen2.5-3B-Instruct", "strategy": "rotate", "r": 2, "u": 12, "weight_tying": 1.0,
            "max_rounds": 8,
            "objective_options": {"lr": 1e-4, "schedule": "constant", "beta": 0.0, "num_generations": 4,
                                  "prompts_per_step": 64, "temperature": 1.0, "steps": 20, "max_completion_length": 1024},
            "task_options": {OPTION: True, "dataset": data.MBPP_HUB, "subset": "full", "train_split": "train",
                             "eval_dataset": data.HUMANEVAL, "eval_split": "test",
                             "max_new_tokens": 1024, "batch_size": 32, "pass_k": [1, 5], "pass_k_samples": 10},
        },
    }
    #: The paper's Qwen2.5-3B-Instruct numbers, printed beside ours by `boostlora bench --suite paper`.
    reference_results: ClassVar[Mapping[str, Mapping[str, float]]] = {
        "paper": {"boost-rotate": 0.572},
        "paper-humaneval": {"boost-rotate": 0.804, "full-ft": 0.579},
    }

    # The benchmark's many-parameter baselines get their own learning rates (common values, not swept here).
    baseline_settings: ClassVar[Mapping[str, Mapping[str, Mapping[str, Any]]]] = {
        preset: {"lora-r8": {"objective_options": {"lr": 1e-4}}, "full-ft": {"objective_options": {"lr": 1e-5}}}
        for preset in ("bench-cpu", "paper", "paper-humaneval")
    }

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        super().__init__(options)
        require_consent(self.options[OPTION])
        fraction = self.options["eval_fraction"]
        if not (isinstance(fraction, (int, float)) and 0 < fraction < 1):
            raise ConfigError(f"eval_fraction must be between 0 and 1, got {fraction!r}")
        if not isinstance(self.options["sandbox_limits"], Mapping):
            raise ConfigError("sandbox_limits must be a mapping such as {wall_seconds: 5, memory_bytes: 536870912}")
        ks = list(self.options["pass_k"] or [])
        if any(not isinstance(k, int) or k < 1 for k in ks) or (ks and max(ks) > self.options["pass_k_samples"]):
            raise ConfigError(f"pass_k must be positive integers no larger than pass_k_samples, got {ks}")
        self.checker = Checker(
            Limits.from_mapping(self.options["sandbox_limits"]), self.options["sandbox_isolation"],
            self.options["sandbox_workers"], stop_on_failure=not self.options["graded_reward"],  # graded: run every test
        )
        log.warning("code task: executing model-written code; isolation: %s", self.checker.isolation.description)

    # -- data -----------------------------------------------------------------------------------------------
    def load_splits(self, seed: int) -> Splits:
        """Hub MBPP has its own train/test splits; single-split sources are split by a hash of the task id,
        so the split does not depend on ``seed`` and base vs boosted numbers are comparable across seeds."""
        source, elsewhere = self.options["dataset"], self.options["eval_dataset"]
        if elsewhere is not None:
            split = self.options["train_split"] if source == data.MBPP_HUB else self.options["eval_split"]
            train = self._problems(source, split)
            held = self._problems(elsewhere, self.options["eval_split"])
        elif source == data.MBPP_HUB:
            train = self._problems(source, self.options["train_split"])
            held = self._problems(source, self.options["eval_split"])
        else:
            problems = self._problems(source, self.options["eval_split"])
            train, held = data.split_problems(problems, self.options["eval_fraction"])
        validation = None  # other sources: the run carves validation_fraction of train
        if source == GENERATED and elsewhere is None and self.options["validation_size"]:
            # its own seed stream: every train and held-out problem stays as it was; no prompt of theirs reappears
            validation = data.check_calls_program(generate_problems(
                self.options["validation_size"], int(self.options["generated_seed"]), self.options["generated_tests"],
                stream="validation", exclude={p.prompt for p in problems}))
        train, held = data.first(train, self.options["max_train"]), data.first(held, self.options["max_eval"])
        if not train or not held:
            raise DataError(f"dataset {source} gives {len(train)} train and {len(held)} held-out problems; both must be non-empty")
        return Splits(train=train, eval=held, validation=validation)

    def _problems(self, source: str, split: str) -> list[Problem]:
        if source == GENERATED:
            count, seed = self.options["generated_count"], self.options["generated_seed"]
            if not isinstance(count, int) or isinstance(count, bool) or count < 2:
                raise ConfigError(f"generated_count must be an integer of at least 2, got {count!r}")
            tests = self.options["generated_tests"]
            if tests not in TEST_SETS:
                raise ConfigError(f"generated_tests must be one of {', '.join(TEST_SETS)}, got {tests!r}")
            return data.check_calls_program(generate_problems(count, int(seed), tests))
        return data.check_prefixes(data.check_calls_program(data.load_problems(source, self.options["subset"], split)))

    # -- generation -----------------------------------------------------------------------------------------
    def prompt(self, example: Problem) -> str | list[dict[str, str]]:
        if not self.options["chat"]:
            return example.prompt
        if example.prefix:
            text = f"{CHAT_INSTRUCTION}\n\n```python\n{example.prompt.rstrip()}\n```"
        else:
            text = f"{example.prompt.rstrip()}\n\n{MBPP_INSTRUCTION}"
        return [{"role": "user", "content": text}]

    @property
    def stop(self) -> tuple[str, ...]:
        return CHAT_STOPS if self.options["chat"] else CONTINUATION_STOPS

    def stop_strings(self) -> tuple[str, ...]:
        return self.stop

    def reference(self, example: Problem) -> str:
        """The canonical solution as the model should write it (a fenced block for chat, a body otherwise)."""
        if example.reference is None:
            raise DataError(f"problem {example.task_id} has no reference solution")
        if self.options["chat"]:
            return f"```python\n{example.reference.rstrip()}\n```"
        if example.prefix and example.reference.startswith(example.prefix):
            return example.reference[len(example.prefix):]
        return example.reference

    # -- judging --------------------------------------------------------------------------------------------
    def oracle(self, example: Problem, prediction: str) -> Verdict:
        return to_verdict(self.checker.check(example, prediction), self.options["graded_reward"])

    def rewards(self, examples: Sequence[Problem], completions: Sequence[str]) -> list[float]:
        """Batched ``reward``: the sandbox runs the programs in parallel."""
        results = self.checker.check_many(examples, completions)
        return [to_verdict(r, self.options["graded_reward"]).reward for r in results]

    def evaluate(self, model: nn.Module, examples: Sequence[Problem]) -> Evaluation:
        """Greedy answers, checked in parallel; pass@k from samples when asked for."""
        was_training = model.training
        model.eval()
        try:
            with torch.inference_mode():
                predictions = self.predict(model, examples)
        finally:
            model.train(was_training)
        results = self.checker.check_many(examples, predictions)
        verdicts = [to_verdict(r, self.options["graded_reward"]) for r in results]
        metrics = self.metrics(examples, predictions, verdicts)
        for limit in ALL_LIMITS:
            hits = sum(r.limit == limit for r in results)
            if hits:
                metrics[f"limit/{limit}"] = float(hits)
        if self.options["pass_k"] and examples:
            metrics.update(self.sampled_pass_at_k(model, examples))
        return Evaluation(predictions, verdicts, metrics)

    def metrics(self, examples: Sequence[Any], predictions: Sequence[Any], verdicts: Sequence[Verdict]) -> dict[str, float]:
        # The isolation in force, so report.json says what the program ran under (``bwrap`` unless one was named),
        # and what bounded its memory (``cgroup v1``/``cgroup v2`` per program, or ``rlimits`` per process).
        return {"pass@1_greedy": pass_at_1_greedy(v.correct for v in verdicts),
                "sandbox_isolation": self.checker.isolation.name, "sandbox_memory": self.checker.memory_mechanism}

    def merge_metrics(self, examples, predictions, verdicts, shards) -> dict[str, Any]:
        """Across processes: ``limit/*`` are counts of programs stopped by a limit, so the shards' counts add up."""
        merged = super().merge_metrics(examples, predictions, verdicts, shards)
        for key in {k for _, m in shards for k in m if k.startswith("limit/")}:
            merged[key] = float(sum(m.get(key, 0.0) for _, m in shards))
        return merged

    def sampled_pass_at_k(self, model: nn.Module, examples: Sequence[Problem]) -> dict[str, float]:
        """Unbiased pass@k: ``pass_k_samples`` sampled answers per problem, counted and fed to the estimator."""
        from boostlora.lm import render_prompt

        n = self.options["pass_k_samples"]
        device = next(model.parameters()).device
        counts = []
        was_training = model.training
        model.eval()
        try:
            for example in examples:
                text = render_prompt(self.tokenizer, self.prompt(example))
                batch = self.tokenizer(text, return_tensors="pt", add_special_tokens=False).to(device)
                with torch.inference_mode():
                    out = model.generate(**batch, do_sample=True, temperature=self.options["pass_k_temperature"],
                                         num_return_sequences=n, max_new_tokens=self.options["max_new_tokens"],
                                         pad_token_id=self.tokenizer.pad_token_id)
                answers = self.tokenizer.batch_decode(out[:, batch["input_ids"].shape[1]:], skip_special_tokens=True)
                results = self.checker.check_many([example] * n, answers)
                counts.append((n, sum(r.ok for r in results)))
        finally:
            model.train(was_training)
        return {f"pass@{k}": mean_pass_at_k(counts, k) for k in self.options["pass_k"]}
