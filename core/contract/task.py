"""The task contract: what a plugin hands the boosting loop.

A task owns everything domain-specific (model loading, data, how a model answers, how an answer is judged);
the loop owns everything that is the method (failure sets, subspaces, merges). Keeping the line there lets
one loop serve decoders trained with RL, encoders trained with cross-entropy, and tasks nobody has written yet.

Objectives need more from a task than the loop does. Rather than one wide base class, the optional
capabilities are small protocols (``SupervisedTask``, ``GenerativeTask``, ``ReferenceTask``); an objective
checks for the one it needs and names what is missing when a task lacks it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any, ClassVar, Protocol, runtime_checkable

import torch
from torch import nn

from boostlora.contract.checks import check_metrics, check_predictions, check_verdict
from boostlora.contract.options import Options as OptionsBase
from boostlora.contract.options import check_options_class
from boostlora.contract.values import Evaluation, Splits, Verdict
from boostlora.foundation.errors import ConfigError


class Task(ABC):
    """Base class of a boosting task. Subclass it in a plugin and hand the class to ``register``.

    ``options`` are the run's ``task_options`` mapping; a task validates them in ``__init__`` and raises
    ``ConfigError`` for anything it does not know, so a typo never silently falls back to a default.
    """

    #: Name used on the command line (``--task``) and in reports.
    name: ClassVar[str]
    #: One line for ``boostlora plugins``.
    description: ClassVar[str] = ""
    #: Model loaded when the run names none (hub name or local path).
    default_model: ClassVar[str | None] = None
    #: Module-name suffixes the round adapter attaches to when the run names none.
    default_targets: ClassVar[tuple[str, ...]] = ()
    #: Objective used when the run names none.
    default_objective: ClassVar[str] = "cross_entropy"
    #: Typed options: a ``boostlora.Options`` dataclass with a default and help text per field. When set,
    #: ``task_options`` are checked against its field types and ``default_options`` is derived from it.
    Options: ClassVar[type[OptionsBase] | None] = None
    #: Options the task accepts, with their defaults; anything else is refused. (Untyped: prefer ``Options``.)
    default_options: ClassVar[Mapping[str, Any]] = {}
    #: Named run settings (``--preset NAME``): mappings of RunConfig fields such as ``r``, ``objective_options``
    #: or ``task_options``. A preset called ``default`` applies when the run names none.
    presets: ClassVar[Mapping[str, Mapping[str, Any]]] = {}
    #: Per-method settings for ``boostlora bench``, keyed by preset then method (``lora-r8``, ``full-ft``, ...),
    #: merged over that preset for that method only. Baselines with millions of trainable numbers need a far
    #: smaller learning rate than a round of tens; a fair comparison gives each method its own.
    baseline_settings: ClassVar[Mapping[str, Mapping[str, Mapping[str, Any]]]] = {}
    #: Published numbers to print beside ours in benchmark tables, keyed by preset then method.
    reference_results: ClassVar[Mapping[str, Mapping[str, float]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "Options" in cls.__dict__ and cls.Options is not None:
            check_options_class(cls.__name__, cls.Options)
            cls.default_options = MappingProxyType(cls.Options.defaults())

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        self.options: Mapping[str, Any]
        if self.Options is not None:
            self.options = self.Options.build(options, f"task '{self.name}'", "task_options")
            return
        options = dict(options or {})
        unknown = sorted(set(options) - set(self.default_options))
        if unknown:
            known = ", ".join(sorted(self.default_options)) or "none"
            raise ConfigError(f"task '{self.name}' has no option(s) {', '.join(unknown)} (known: {known})")
        self.options = {**self.default_options, **options}

    @abstractmethod
    def load_model(self, model: str, device: torch.device) -> nn.Module:
        """Load the model to boost from a hub name or a local path; raise ``ConfigError`` when it cannot."""

    @abstractmethod
    def load_splits(self, seed: int) -> Splits:
        """Return the train and held-out examples. Must be deterministic for a given seed."""

    @abstractmethod
    def predict(self, model: nn.Module, examples: Sequence[Any]) -> list[Any]:
        """The model's answers to ``examples``, in order. Called on the whole train split every round."""

    @abstractmethod
    def oracle(self, example: Any, prediction: Any) -> Verdict:
        """Judge one prediction. A pure function of its arguments; never raises on bad predictions."""

    def metrics(self, examples: Sequence[Any], predictions: Sequence[Any], verdicts: Sequence[Verdict]) -> dict[str, float]:
        """Extra held-out metrics beside accuracy (AUROC, pass@k, strict vs flexible match...)."""
        return {}

    def merge_metrics(
        self,
        examples: Sequence[Any],
        predictions: Sequence[Any],
        verdicts: Sequence[Verdict],
        shards: Sequence[tuple[int, Mapping[str, Any]]],
    ) -> dict[str, Any]:
        """Combine the metrics of a split that several processes judged in shards (``torchrun``).

        ``shards`` holds each process's (number of examples, metrics from its own ``evaluate``). By default
        ``metrics`` is recomputed on the gathered whole, and any other number ``evaluate`` added is averaged,
        weighted by shard size (right for means such as pass@k). Override it for counts, which add up.
        """
        merged: dict[str, Any] = {}
        for key in dict.fromkeys(k for _, m in shards for k in m):
            values = [(n, m[key]) for n, m in shards if key in m]
            if all(isinstance(v, (int, float)) and not isinstance(v, bool) for _, v in values):
                merged[key] = sum(n * v for n, v in values) / sum(n for n, _ in values)
            else:
                merged[key] = values[0][1]
        merged.update(self.metrics(examples, predictions, verdicts))
        return merged

    def check_splits(self, splits: Splits) -> None:
        """Refuse data too small or too degenerate for this task, with a ``DataError``, before anything loads.

        Called right after ``load_splits`` (the loop itself refuses empty splits). A task with a fitting step
        (``prepare``) or a classification oracle overrides this to name, in one line, what its data lacks (too
        few examples to fit on, a single class), rather than failing deep inside a solver after the model loaded.
        """

    def prepare(self, model: nn.Module, splits: Splits) -> None:
        """Once, before the base evaluation: fit anything the rounds build on (a linear probe, say)."""

    def extra_state(self, model: nn.Module) -> dict[str, torch.Tensor]:
        """Tensors outside the target modules that the task changes (a fitted head), for checkpoints."""
        return {}

    def save_model(self, model: nn.Module, path: Path) -> None:
        """Write the final merged model in the model's own format."""
        path.mkdir(parents=True, exist_ok=True)
        save_pretrained = getattr(model, "save_pretrained", None)
        if callable(save_pretrained):
            save_pretrained(path)
            tokenizer = getattr(self, "tokenizer", None)
            if tokenizer is not None and hasattr(tokenizer, "save_pretrained"):
                tokenizer.save_pretrained(path)
        else:
            from safetensors.torch import save_file

            save_file({k: v.detach().contiguous() for k, v in model.state_dict().items()}, str(path / "model.safetensors"))

    def judge(self, model: nn.Module, examples: Sequence[Any]) -> tuple[list[Any], list[Verdict]]:
        """Predictions and verdicts for ``examples``, with the model in eval mode and no gradients."""
        was_training = model.training
        model.eval()
        try:
            # no_grad rather than inference_mode: tensors a task caches while predicting may later need autograd.
            with torch.no_grad():
                predictions = self.predict(model, examples)
        finally:
            model.train(was_training)
        owner = f"task '{self.name}'"
        predictions = check_predictions(owner, predictions, len(examples))
        return predictions, [check_verdict(owner, self.oracle(ex, p)) for ex, p in zip(examples, predictions)]

    def evaluate(self, model: nn.Module, examples: Sequence[Any]) -> Evaluation:
        """Predict, judge and measure: the one pass the loop makes over a split.

        Override it to judge a batch at once (the code plugin runs its checks in parallel) or to add metrics
        that need the model (sampled pass@k); the loop calls it for every evaluation, and across processes on
        each process's shard (see ``merge_metrics``). It must return one prediction and one ``Verdict`` per
        example, in order.
        """
        predictions, verdicts = self.judge(model, examples)
        return Evaluation(predictions, verdicts, check_metrics(f"task '{self.name}'", self.metrics(examples, predictions, verdicts)))


@runtime_checkable
class SupervisedTask(Protocol):
    """A task that can score a batch with a differentiable loss (cross-entropy for classification)."""

    def loss(self, model: nn.Module, examples: Sequence[Any]) -> torch.Tensor:
        """Mean loss of ``model`` on ``examples``; gradients flow to whatever is trainable."""
        ...


@runtime_checkable
class GenerativeTask(Protocol):
    """A task whose model writes text, so it can be trained by sampling and rewarding (GRPO)."""

    tokenizer: Any

    def prompt(self, example: Any) -> str | list[dict[str, str]]:
        """The prompt as plain text or as chat messages (the tokenizer's chat template is applied to these)."""
        ...

    def reward(self, example: Any, completion: str) -> float:
        """Reward of one sampled completion, usually ``oracle(example, completion).reward``."""
        ...


@runtime_checkable
class ReferenceTask(GenerativeTask, Protocol):
    """A generative task with reference solutions, so it can be trained by imitation (SFT)."""

    def reference(self, example: Any) -> str:
        """The reference completion for ``example``."""
        ...
