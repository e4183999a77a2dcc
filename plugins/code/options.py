"""The code task's options (``task_options``), typed with help text: ``boostlora plugins --verbose`` lists them.

The types are checked when the task is built, before any model loads. What they cannot say stays in
``CodeTask.__init__`` (the two-switch consent, ranges, pass@k against its sample count) and with the code that
owns the value (sandbox limit names in ``Limits``, isolation levels in ``isolation.select``, dataset names in
``data.load_problems``), so those refusals read as they did before the options were typed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from boostlora import Options, option

from .generated import GENERATED


@dataclass
class CodeOptions(Options):
    # The field name is consent.OPTION; the consent check reads it by that name.
    allow_code_execution: bool = option(
        False, "execute model-written code (sandboxed); also needs BOOSTLORA_ALLOW_CODE_EXEC=1 in the environment")
    dataset: str = option(
        GENERATED, "generated (offline, seeded), humaneval (offline), openai/openai_humaneval, "
                   "google-research-datasets/mbpp, or a .jsonl path")
    generated_count: int = option(400, "dataset=generated: how many problems (at least 2)")
    generated_seed: int = option(0, "dataset=generated: the seed the problems are drawn from")
    generated_tests: str = option(
        "strong", "dataset=generated: strong (edge cases + seeded random inputs, ~25 hidden tests) or four "
                  "(the four random calls of earlier versions, which classic bugs pass; only to reproduce old numbers)")
    validation_size: int = option(
        64, "dataset=generated: problems in a validation split drawn from a seed stream of its own (train and "
        "held-out unchanged; none shares a prompt with them); 0, or another dataset: the run carves "
        "validation_fraction of train instead", at_least=0)
    subset: str = option("full", "MBPP only: full or sanitized")
    eval_dataset: str | None = option(
        None, "held-out problems from another source (e.g. train on MBPP, evaluate on humaneval)")
    train_split: str = option("train", "split to train on, for hub datasets with their own splits (MBPP)")
    eval_split: str = option("test", "split to hold out, for hub datasets with their own splits (MBPP)")
    eval_fraction: float = option(
        0.25, "single-split sources (generated, HumanEval, JSONL): share held out, by a hash of the task id")
    max_train: int | None = option(None, "keep only the first N training problems (unset: all)")
    max_eval: int | None = option(None, "keep only the first N held-out problems (unset: all)")
    chat: bool = option(True, "instruction prompt + fenced answer; false: raw prompt continued by a base model")
    max_new_tokens: int = option(384, "tokens generated per answer (greedy evaluation and pass@k samples)")
    batch_size: int = option(16, "prompts per generation batch when evaluating")
    graded_reward: bool = option(False, "reward = fraction of tests passed instead of all-or-nothing")
    sandbox_isolation: str = option(
        "auto", "auto (= bwrap: the run stops if bubblewrap is unusable), or a weaker level named explicitly: "
                "unshare (fallback) or rlimits (weak)")
    sandbox_workers: int | None = option(None, "programs run in parallel (unset and maximum: the CPU cores available)")
    sandbox_limits: dict[str, Any] = option(
        {}, "overrides of the per-program limits (wall_seconds, cpu_seconds, memory_bytes, ...), e.g. {wall_seconds: 5}")
    # Optional because the task has always read a null pass_k as "none" (``pass_k or []``).
    pass_k: list[int] | None = option(
        [], "e.g. [1, 5]: also estimate unbiased pass@k on the held-out split from sampled answers")
    pass_k_samples: int = option(10, "sampled answers per held-out problem for pass@k (at least the largest k)")
    pass_k_temperature: float = option(0.8, "sampling temperature of the pass@k answers")
