"""``CausalLMTask``: the base of a text-to-text task, so an author writes data, a prompt and a judge, nothing more.

Every text task needs the same plumbing: load a causal LM (a hub name, a local path or the offline SmolLM2),
keep its tokenizer where the GRPO and SFT objectives look for it, pick the linear layers a round adapts, and
answer a batch of prompts greedily with stop strings. Written once here, the built-in math and code tasks and a
third-party task share one tested path, and the author's part shrinks to ``load_splits``, ``prompt`` and
``oracle`` (plus ``reference`` to train by imitation with ``sft``).

It sits above ``contract`` (it is a ``Task``) and beside nothing else: ``lm`` is the layer that knows causal LMs.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from boostlora.contract.checks import check_prompt
from boostlora.contract.options import Options, option
from boostlora.contract.task import Task
from boostlora.foundation.errors import ConfigError
from boostlora.lm.causal_lm import OFFLINE_DEFAULT, load_causal_lm
from boostlora.lm.generation import Prompt, generate

#: The attention and MLP projections of Llama-style decoders (Llama, Mistral, Qwen2/3, Gemma, OLMo, SmolLM):
#: every matrix the paper's rounds adapt.
LLAMA_STYLE_TARGETS: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")

#: ``config.model_type`` -> target suffixes, for families whose layer names are known to match.
TARGETS_BY_MODEL_TYPE: dict[str, tuple[str, ...]] = {
    model_type: LLAMA_STYLE_TARGETS
    for model_type in ("llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "gemma3_text", "olmo", "olmo2",
                       "granite", "smollm3", "cohere")
}

#: GPT-2-style models keep their projections in ``Conv1D`` layers (c_attn, c_proj, c_fc), which the round adapter
#: cannot wrap: only ``nn.Linear`` layers are boosted.
CONV1D_MODEL_TYPES = ("gpt2", "gpt_bigcode", "openai-gpt")


def targets_for(model: nn.Module) -> tuple[str, ...]:
    """The target suffixes for ``model``: its family's entry in ``TARGETS_BY_MODEL_TYPE``, else the Llama-style
    names it actually has as ``nn.Linear`` layers; a ``ConfigError`` that says how to choose when neither works."""
    model_type = str(getattr(getattr(model, "config", None), "model_type", "") or "")
    if model_type in TARGETS_BY_MODEL_TYPE:
        return TARGETS_BY_MODEL_TYPE[model_type]
    if model_type in CONV1D_MODEL_TYPES:
        raise ConfigError(
            f"model type '{model_type}' keeps its projections in Conv1D layers (c_attn, c_proj, c_fc), which the round "
            "adapter cannot boost (nn.Linear only): choose a Llama-, Mistral-, Qwen- or Gemma-style model"
        )
    present = {name.rsplit(".", 1)[-1] for name, module in model.named_modules() if isinstance(module, nn.Linear)}
    found = tuple(t for t in LLAMA_STYLE_TARGETS if t in present)
    if not found:
        sample = ", ".join(sorted(present)[:12]) or "none"
        raise ConfigError(
            f"no default targets for model type '{model_type or 'unknown'}' (linear layers found: {sample}): set "
            "`targets` in the run, or default_targets on the task class"
        )
    return found


@dataclass
class CausalLMOptions(Options):
    """Options every ``CausalLMTask`` reads when it answers; a task's own ``Options`` subclass this one."""

    max_new_tokens: int = option(64, "tokens generated per answer when evaluating", at_least=1)
    batch_size: int = option(32, "prompts generated together when evaluating", at_least=1)
    stop: list[str] = option([], "stop strings: an answer is cut before the first one, and generation ends there")


class CausalLMTask(Task):
    """Base class of a text task: a causal LM answers a prompt, the task's oracle judges the answer.

    Subclass it and write ``load_splits(seed)``, ``prompt(example)`` and ``oracle(example, prediction)``; for the
    ``sft`` objective also ``reference(example) -> str``. Everything else has a working default:

    - ``load_model`` loads ``model`` with ``boostlora.lm.load_causal_lm`` (a hub name, a local directory with
      ``config.json``, a ``.gguf`` file, or ``smollm2-135m-instruct``, the offline default) and sets
      ``self.tokenizer``, which GRPO and SFT read. ``tokenizer`` is declared on the class (``None`` until the
      model loads) so the objectives' capability checks pass before anything loads.
    - ``default_targets``: when the class leaves it empty (the default), the round adapter attaches to the
      model family's projections, chosen at load from ``model.config.model_type`` (``TARGETS_BY_MODEL_TYPE``:
      q/k/v/o and gate/up/down for Llama-, Mistral-, Qwen- and Gemma-style models) or, for an unknown family,
      to those of the same names it has. Override it on the class (``default_targets = ("q_proj", "v_proj")``)
      or per run (``targets=[q_proj,v_proj]``). GPT-2-style models are refused: their ``Conv1D`` layers cannot
      be boosted.
    - ``predict`` renders every prompt (chat messages through the tokenizer's chat template), checks it, and
      generates greedily in batches of ``batch_size``, at most ``max_new_tokens`` each, cut at the first of
      ``stop`` (``stop_strings()``). This is ``boostlora.lm.generate``: its own stopping criterion and
      ``truncate_at_stop`` rather than ``generate(stop_strings=...)`` of transformers, because that one stops a
      row but still returns the stop string and what follows it, so the text must be cut anyway, and the
      built-in tasks' results stay bit-identical to what they were.
    - ``reward(example, completion)`` is ``self.oracle(example, completion).reward``.

    Options: ``Options`` must have ``max_new_tokens``, ``batch_size`` and ``stop`` fields; subclass
    ``CausalLMOptions`` (``@dataclass class MyOptions(CausalLMOptions): ...``) to inherit them. A task that
    computes its stop strings overrides ``stop_strings()`` and needs no ``stop`` option.
    """

    default_model: ClassVar[str | None] = OFFLINE_DEFAULT
    default_objective: ClassVar[str] = "grpo"
    Options: ClassVar[type[Options] | None] = CausalLMOptions
    #: The loaded model's tokenizer (pads on the left, always has a pad token); ``None`` until ``load_model``.
    tokenizer: Any = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        needed = {"max_new_tokens", "batch_size"} | ({"stop"} if cls.stop_strings is CausalLMTask.stop_strings else set())
        missing = sorted(needed - set(cls.default_options))
        if missing:
            raise ConfigError(
                f"{cls.__name__}.Options has no {', '.join(missing)}: CausalLMTask.predict reads them; subclass "
                "boostlora.CausalLMOptions for your Options (or override predict)"
            )

    # -- model -------------------------------------------------------------------------------------------------

    def load_model(self, model: str, device: torch.device) -> nn.Module:
        loaded, self.tokenizer = load_causal_lm(model, device)
        if not type(self).default_targets:
            self.default_targets = targets_for(loaded)
        return loaded

    # -- what the author writes ----------------------------------------------------------------------------------

    @abstractmethod
    def prompt(self, example: Any) -> Prompt:
        """What the model is asked: plain text, or chat messages ``[{"role": "user", "content": ...}]`` (a system
        turn and few-shot turns included). Messages go through the tokenizer's chat template, for evaluation
        here and for GRPO and SFT alike; a model without a template sees ``role: content`` lines."""

    def reward(self, example: Any, completion: str) -> float:
        """Reward of one GRPO sample. ``completion`` is always the generated text alone (a ``str``, the prompt
        not included), whether the prompt was text or chat messages. Default: ``oracle(example, completion).reward``,
        i.e. ``Verdict.score`` when the oracle grades, else 1.0 for ``correct`` and 0.0 for not."""
        return self.oracle(example, completion).reward

    def stop_strings(self) -> Sequence[str]:
        """Where an answer ends when evaluating. Default: the ``stop`` option."""
        return self.options["stop"]

    # -- answering ----------------------------------------------------------------------------------------------

    def require_tokenizer(self) -> Any:
        """The tokenizer ``load_model`` set, or a ``ConfigError`` naming the task."""
        if self.tokenizer is None:
            raise ConfigError(f"task '{self.name}': load_model must run before predict (it provides the tokenizer)")
        return self.tokenizer

    def prompts(self, examples: Sequence[Any]) -> list[Prompt]:
        """``prompt`` of every example, each checked (text or chat messages) before the model sees any."""
        owner = f"task '{self.name}'"
        return [check_prompt(owner, self.prompt(example)) for example in examples]

    def predict(self, model: nn.Module, examples: Sequence[Any]) -> list[str]:
        """Greedy answers to ``examples``, in order, each cut at the first stop string."""
        tokenizer = self.require_tokenizer()
        return generate(
            model,
            tokenizer,
            self.prompts(examples),
            max_new_tokens=self.options["max_new_tokens"],
            batch_size=self.options["batch_size"],
            stop=self.stop_strings(),
            show_progress=True,
        )
