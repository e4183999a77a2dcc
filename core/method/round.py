"""The boosting loop (BoostLoRA, arXiv 2604.27308), top to bottom.

    once:     SVD of every target module's ORIGINAL weight
    round k:  F_k = examples of the train split the current model gets wrong
              stop if F_k is empty or the rounds are spent
              attach a fresh zero-initialised TinyLoRA adapter on block k of the singular directions
              train it on F_k with the task's objective (then, optionally, a line search over its scale)
              merge it into the weights in fp32, check the merge, unload the adapter
              evaluate the validation split (for the run's decisions) and the held-out split (reported)

Everything domain-specific comes from the task plugin; ``boosting_round`` is the method alone. Starting a run
is ``runs.setup``, driving rounds until a stop is ``runs.lifecycle``, and what a run does about each round
(records, the cross-rank check, patience, checkpoints, hooks) is ``runs.recorder``.
"""

from __future__ import annotations

import random

import torch

from boostlora.contract.evaluation import evaluate
from boostlora.contract.objective import RoundContext
from boostlora.contract.values import Evaluation
from boostlora.method.adapter import RoundAdapter, attach_round_adapter
from boostlora.method.merge import merge_round
from boostlora.method.state import Phases, RoundResult, Run


def round_seed(seed: int, round_index: int) -> int:
    """A per-round seed, so a resumed round draws exactly what the uninterrupted one drew."""
    return (seed * 1_000_003 + 7_919 * (round_index + 1)) % (2**31 - 1)


def boosting_round(run: Run) -> RoundResult | None:
    """One round of the method: failure set, fresh adapter, train, line search, merge, held-out evaluation.

    Returns what the round produced (``recorder.after_round`` records it), or None after stopping the run when
    the rounds are spent or nothing is left to fix.
    """
    config, task, k = run.config, run.task, run.rounds_done
    if k >= config.max_rounds:
        return run.stop(f"max_rounds={config.max_rounds} reached")
    phases = Phases()
    seed = round_seed(config.seed, k)

    # F_k: what the current model gets wrong, on the whole training split.
    with phases("eval_train"):
        train_eval = evaluate(task, run.model, run.splits.train)
        failures = train_eval.failures
        if config.train_on == "all":
            examples = list(run.splits.train)
        else:
            examples = [run.splits.train[i] for i in failures + replay_sample(train_eval, config.replay_fraction, seed)]
    if not failures:
        return run.stop("no failures left on the training split")

    # A fresh adapter on this round's block of singular directions, trained on F_k (plus any replay).
    with phases("attach"):
        adapter = attach_round_adapter(
            run.model, run.targets, run.allocator,
            round_index=k, r=config.r, u=config.u, weight_tying=config.weight_tying, seed=config.seed,
            projection_round=k if config.projections == "per_round" else 0,
        )
    with phases("train"):
        torch.manual_seed(seed)
        trained = run.objective.train(
            RoundContext(adapter.model, task, examples, adapter.trainable, k, seed, run.device, config.show_progress)
        )
    with phases("line_search"):
        step = choose_step_size(run, adapter, seed) if config.step_sizes else 1.0

    # Merge in fp32, check it, and drop the adapter: the model is a plain model again.
    with phases("merge"):
        merged = merge_round(adapter, run.allocator, config.merge_tolerance, seed)
    run.model = merged.model

    with phases("eval_validation"):
        validation = evaluate(task, run.model, run.splits.validation)
    with phases("eval_heldout"):
        held_out = evaluate(task, run.model, run.splits.eval)
    return RoundResult(
        round=k, train_eval=train_eval, held_out=held_out, validation=validation, n_trained_on=len(examples),
        trainable_params=adapter.trainable_count, trained=trained, step_size=step, cores=merged.cores,
        merge_gap=merged.max_relative_gap, phases=phases,
    )


def replay_sample(evaluation: Evaluation, fraction: float, seed: int) -> list[int]:
    """Indices of correctly answered examples to train on beside the failures (``replay_fraction``)."""
    if fraction <= 0:
        return []
    correct = [i for i, v in enumerate(evaluation.verdicts) if v.correct]
    count = min(len(correct), round(fraction * len(evaluation.failures)))
    return sorted(random.Random(seed).sample(correct, count))


def choose_step_size(run: Run, adapter: RoundAdapter, seed: int) -> float:
    """Gradient boosting's line search: scale the trained v by the candidate that scores best on a train slice.

    Including 0 among ``step_sizes`` means a round that would hurt is never merged. Ties prefer the step
    closest to 1 (the update as trained).
    """
    train = run.splits.train
    size = len(train) if run.config.line_search_size is None else min(run.config.line_search_size, len(train))
    indices = random.Random(seed + 1).sample(range(len(train)), size)
    probe = [train[i] for i in indices]
    trained = [p.detach().clone() for p in adapter.trainable]
    best: tuple[float, float] | None = None
    for step in run.config.step_sizes:
        with torch.no_grad():
            for p, t in zip(adapter.trainable, trained):
                p.copy_(t * step)
        accuracy = evaluate(run.task, adapter.model, probe).accuracy
        if best is None or (accuracy, -abs(step - 1.0)) > (best[1], -abs(best[0] - 1.0)):
            best = (step, accuracy)
    with torch.no_grad():
        for p, t in zip(adapter.trainable, trained):
            p.copy_(t * best[0])
    return best[0]
