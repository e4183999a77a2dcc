"""The math task: problems in, completions out, judged by the numeric or math-verify oracle.

A ``boostlora.CausalLMTask`` (loading, the tokenizer, batched greedy answers with stop strings and the reward come
from there) that adds ``reference``, so both the GRPO and the SFT objective can train it. Everything
domain-specific a run may want to vary is an option; the presets write them out in full.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from boostlora import CausalLMTask, DataError, Splits, Verdict
from boostlora.lm import LLAMA_STYLE_TARGETS

from . import oracle
from .data import REASONING_GYM_PREFIX, MathExample, distinct_indices, drop_overlap, load_examples
from .options import MathOptions
from .presets import BASELINES, DEFAULT_TASK, PRESETS
from .prompts import build_messages


class MathTask(CausalLMTask):
    """Grade-school and competition math with verifiable final answers."""

    name: ClassVar[str] = "math"
    description: ClassVar[str] = "math word problems and arithmetic (GSM8K, MATH-500, reasoning-gym), GRPO on the answer"
    #: the same projections for every model, whatever its family (what the presets and saved runs assume)
    default_targets: ClassVar[tuple[str, ...]] = LLAMA_STYLE_TARGETS
    Options = MathOptions
    presets: ClassVar[Mapping[str, Mapping[str, Any]]] = PRESETS
    baseline_settings: ClassVar[Mapping[str, Mapping[str, Mapping[str, Any]]]] = BASELINES
    #: The paper's Qwen2.5-3B-Instruct numbers, printed beside ours by `boostlora bench --suite paper`.
    reference_results: ClassVar[Mapping[str, Mapping[str, float]]] = {
        "paper-gsm8k": {"boost-rotate": 0.891, "full-ft": 0.870},
        "paper-math500": {"boost-rotate": 0.688},
    }

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        super().__init__(options)
        self.shots: list[MathExample] = []

    # -- data --------------------------------------------------------------------------------------------------

    def load_splits(self, seed: int) -> Splits:
        o = self.options
        common = {"seed": seed, "fields": o["fields"], "kind": o["answer_format"], "generator_options": o["generator_options"]}
        train = load_examples(
            o["dataset"], o["train_split"], size=self._with_shots(o["train_size"]), config=o["dataset_config"], **common
        )
        held_out = load_examples(
            o["eval_dataset"] or o["dataset"],
            o["eval_split"],
            size=o["eval_size"],
            config=o["eval_dataset_config"] if o["eval_dataset"] else o["dataset_config"],
            **common,
        )
        self.shots, train = train[: o["few_shot"]], train[o["few_shot"] :]
        held_out = drop_overlap(train + self.shots, held_out)
        if not train or not held_out:
            raise DataError(f"dataset '{o['dataset']}' left an empty train or held-out split after removing overlap")
        validation = None  # hub and file datasets: the run carves validation_fraction of train
        if o["dataset"].startswith(REASONING_GYM_PREFIX) and o["validation_size"]:
            # drawn with room to spare: small problem spaces repeat, and repeats of train or held-out are removed.
            # Drawn against the held-out split before distinct_eval filters it, so the option leaves validation alone.
            drawn = load_examples(o["dataset"], "validation", size=4 * o["validation_size"], config=o["dataset_config"], **common)
            distinct = {ex.question: ex for ex in drop_overlap(train + self.shots + held_out, drawn)}  # first of repeats
            validation = list(distinct.values())[: o["validation_size"]] or None
        if o["distinct_eval"]:
            excluded = [*train, *self.shots, *self._reserved_train(common), *(validation or [])]
            held_out = [held_out[i] for i in distinct_indices(held_out, excluded)]
            if not held_out:
                raise DataError(f"dataset '{o['dataset']}' left no held-out problem once repeats and problems a "
                                "validation split can hold were removed (set task_options.distinct_eval=false)")
        return Splits(train=train, eval=held_out, validation=validation)

    def _reserved_train(self, common: Mapping[str, Any]) -> list[MathExample]:
        """The first ``reserved_train_size`` problems of the train source, when that is more than train holds.

        An ``evaluate_on=validation`` run carves its validation split out of train; one run with a larger
        ``train_size`` than the held-out runs carves from problems they never trained on, which the held-out split
        may repeat. Sources give the same first problems whatever the size asked (a generator's seed stream, a
        table's first rows), so leaving out the first N covers every carve, at any ``validation_fraction`` and in
        either carve's seed stream, of every such run with ``train_size`` up to N.
        """
        o = self.options
        loaded = self._with_shots(o["train_size"])
        reserved = o["reserved_train_size"]
        if reserved is None or loaded is None or reserved <= loaded:
            return []
        return load_examples(o["dataset"], o["train_split"], size=reserved, config=o["dataset_config"], **common)

    def _with_shots(self, size: int | None) -> int | None:
        return None if size is None else size + self.options["few_shot"]

    # -- generation --------------------------------------------------------------------------------------------

    def prompt(self, example: MathExample) -> list[dict[str, str]]:
        o = self.options
        return build_messages(example, system=o["system_prompt"], instruction=o["instruction"], shots=self.shots)

    # -- judging -----------------------------------------------------------------------------------------------

    def oracle(self, example: MathExample, prediction: str) -> Verdict:
        if not isinstance(prediction, str):
            return Verdict(False, "no text")
        if example.kind == "latex":
            ok = oracle.check_latex(example.answer, prediction, self.options["verify_timeout"])
            return Verdict(ok, f"boxed={oracle.extract_boxed(prediction)!r} expected={example.answer!r}")
        ok, extracted = oracle.check_numeric(example.answer, prediction, self.options["extractor"])
        if extracted is None:
            return Verdict(False, f"no answer found by the {self.options['extractor']} extractor (expected {example.answer!r})")
        return Verdict(ok, f"extracted={extracted!r} expected={example.answer!r}")

    def reference(self, example: MathExample) -> str:
        if example.solution:
            return example.solution
        return f"\\boxed{{{example.answer}}}" if example.kind == "latex" else example.answer

    def metrics(self, examples: Sequence[MathExample], predictions: Sequence[str], verdicts: Sequence[Verdict]) -> dict[str, float]:
        """Strict (``#### N``) and flexible (last number) accuracy side by side, and how often no answer was found."""
        n = max(len(examples), 1)
        numeric = [(ex, p) for ex, p in zip(examples, predictions) if ex.kind == "numeric"]
        out: dict[str, float] = {}
        if numeric:
            for name in oracle.EXTRACTORS:
                out[f"{name}_accuracy"] = sum(oracle.check_numeric(ex.answer, p, name)[0] for ex, p in numeric) / len(numeric)
            out["no_number_rate"] = sum(oracle.extract_flexible(p) is None for _, p in numeric) / len(numeric)
        latex = [p for ex, p in zip(examples, predictions) if ex.kind == "latex"]
        if latex:
            out["boxed_rate"] = sum(oracle.extract_boxed(p) is not None for p in latex) / len(latex)
        out["mean_completion_chars"] = sum(len(p) for p in predictions) / n
        return out
