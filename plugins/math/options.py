"""The math task's options (``task_options``), typed with help text: ``boostlora plugins --verbose`` lists them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from boostlora import ConfigError, Options, option


@dataclass
class MathOptions(Options):
    dataset: str = option("reasoning_gym:basic_arithmetic",
                          "reasoning_gym:NAME, gsm8k, math500, math-train, a hub dataset name or a local file")
    generator_options: dict[str, Any] = option({}, "keyword arguments of the reasoning-gym generator")
    dataset_config: str | None = option(None, "hub config name (the built-in aliases know theirs)")
    eval_dataset: str | None = option(None, "held-out source when it differs from the training one (MATH -> MATH-500)")
    eval_dataset_config: str | None = option(None, "hub config name of eval_dataset")
    train_split: str = option("train", "split of the dataset to train on")
    eval_split: str = option("test", "split to hold out")
    train_size: int | None = option(256, "at most this many training problems (unset: all)")
    eval_size: int | None = option(200, "at most this many held-out problems (unset: all)")
    validation_size: int = option(
        256, "reasoning-gym generators: problems in a validation split drawn from a seed stream of its own (train and "
        "held-out unchanged; repeats of theirs removed); 0, or a hub/file dataset: the run carves validation_fraction "
        "of train instead")
    distinct_eval: bool = option(
        True, "held-out keeps each question once (its first copy) and leaves out any question a validation split of "
        "the same seed can hold: the generated validation split and every validation_fraction carve of the first "
        "reserved_train_size train problems; train is unchanged")
    reserved_train_size: int | None = option(
        None, "with distinct_eval: held-out also leaves out the first N problems of the train source, so an "
        "evaluate_on=validation run with train_size up to N never validates on a held-out question (unset: train_size)")
    fields: dict[str, Any] = option({}, "column mapping {question, answer, solution} for files and unknown hub datasets")
    answer_format: Literal["auto", "numeric", "latex"] = option(
        "auto", "numeric (exact number), latex (math-verify), auto (from the dataset)")
    extractor: Literal["strict", "flexible"] = option(
        "flexible", "numeric answers: which extractor decides correctness (both are reported)")
    system_prompt: str = option("", "system message of every prompt")
    instruction: str = option("", 'appended to every question, e.g. "Answer with just the number."')
    few_shot: int = option(0, "solved training problems shown before each question (taken out of the train split)")
    max_new_tokens: int = option(256, "tokens generated per answer when evaluating")
    batch_size: int = option(64, "evaluation batch size")
    stop: list[str] = option([], "stop strings for evaluation")
    verify_timeout: int = option(5, "seconds math-verify may spend on one answer")

    def validate(self) -> None:
        if self.validation_size < 0:
            raise ConfigError(f"task option validation_size must be 0 or more, got {self.validation_size!r}")
        for key in ("max_new_tokens", "batch_size", "verify_timeout"):
            if self[key] < 1:
                raise ConfigError(f"task option {key} must be a positive integer, got {self[key]!r}")
        for key in ("train_size", "eval_size", "reserved_train_size"):
            if self[key] is not None and self[key] < 1:
                raise ConfigError(f"task option {key} must be a positive integer or null, got {self[key]!r}")
        if self.few_shot < 0:
            raise ConfigError(f"task option few_shot must be a non-negative integer, got {self.few_shot!r}")
        if set(self.fields) - {"question", "answer", "solution"}:
            raise ConfigError(f"fields maps question/answer/solution to column names, got {self.fields!r}")
