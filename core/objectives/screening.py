"""Screening a GRPO round's examples by sampled pass rate, so its steps go to prompts that carry a gradient.

A failure set is, by construction, mostly prompts the model gets wrong. On the math task 70-95% of the GRPO
groups drawn from it had no reward variance (every sample scored alike): zero advantage, no gradient, and with
``drop_zero_variance`` the group is simply lost. With ``screen_samples: k`` the round first samples k completions
per example (at the round's temperature, top-p and completion length), scores them with the task's reward, and
trains on the examples whose samples disagree: problems the model sometimes solves. If fewer than one step's
worth disagree, the step is filled with other examples drawn at random, so a round never has fewer prompts to
draw from than a step needs. The screen costs k generations per example and no optimizer step.

TRL has no hook for this (its dynamic sampling drops groups after generating them), so the screen runs before
the trainer is built, through the same batched generator the evaluation uses.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from boostlora.foundation import distributed
from boostlora.lm.generation import generate


@dataclass(frozen=True)
class Screen:
    """Which of a round's examples to train on, and what the screen saw."""

    kept: list[int]  #: indices into the round's examples; the informative ones first, then any fill
    pass_rates: list[float]  #: mean sampled reward per example
    informative: int  #: how many examples' samples disagreed

    def metrics(self) -> dict[str, float]:
        n = len(self.pass_rates)
        return {
            "screened_examples": float(n),
            "screened_informative_fraction": self.informative / n if n else 0.0,
            "screened_mean_pass_rate": sum(self.pass_rates) / n if n else 0.0,
        }


def choose(rewards: Sequence[Sequence[float]], fill_to: int, seed: int) -> Screen:
    """The examples whose sampled rewards disagree, filled at random up to ``fill_to`` with the others."""
    disagree = [bool(r) and max(r) > min(r) for r in rewards]
    informative = [i for i, d in enumerate(disagree) if d]
    others = [i for i, d in enumerate(disagree) if not d]
    random.Random(seed).shuffle(others)
    fill = others[: max(0, fill_to - len(informative))]
    return Screen(kept=informative + fill, pass_rates=[sum(r) / len(r) if r else 0.0 for r in rewards],
                  informative=len(informative))


def sampled_rewards(complete: Callable[[list[Any]], list[str]], prompts: Sequence[Any], reward: Callable[[int, str], float],
                    samples: int) -> list[list[float]]:
    """``samples`` rewards per prompt: every prompt repeated ``samples`` times, completed in one batched call."""
    completions = complete([p for p in prompts for _ in range(samples)])
    return [[reward(i, completions[i * samples + j]) for j in range(samples)] for i in range(len(prompts))]


def screen_examples(model: Any, task: Any, examples: Sequence[Any], *, samples: int, max_new_tokens: int,
                    temperature: float, top_p: float, fill_to: int, seed: int, show_progress: bool) -> Screen:
    """Sample, score and choose on the first process; every process trains on the same examples."""
    screen = None
    if distributed.is_main():
        def complete(prompts: list[Any]) -> list[str]:
            with torch.random.fork_rng():  # seeded, without moving the run's own random stream
                torch.manual_seed(seed)
                return generate(model, task.tokenizer, prompts, max_new_tokens=max_new_tokens, temperature=temperature,
                                top_p=top_p, show_progress=show_progress)

        rewards = sampled_rewards(complete, [task.prompt(ex) for ex in examples],
                                  lambda i, text: float(task.reward(examples[i], text)), samples)
        screen = choose(rewards, fill_to, seed)
    return distributed.broadcast(screen)
