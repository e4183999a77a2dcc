"""Core's bookkeeping around the method: round records, the cross-rank check, patience, checkpoints and hooks.

``method.round.boosting_round`` holds the method alone and returns a ``RoundResult``; everything a run does
*about* a round happens here, in the same order for every round: check that the processes merged identical
weights, build the ``RoundRecord`` that ``report.json`` and the ``boostlora_round_end`` hook receive, track the
best held-out accuracy for ``patience``, checkpoint, then ask the lifecycle hooks whether to stop. Hooks see a
``RunView`` (``run_view``), a read-only snapshot, never the live run.
"""

from __future__ import annotations

import copy
import sys
from collections.abc import Callable

from boostlora.contract.records import RoundRecord
from boostlora.contract.values import Evaluation
from boostlora.contract.views import RunView
from boostlora.foundation import distributed
from boostlora.method.state import RoundResult, Run
from boostlora.runs.predictions import save_predictions
from boostlora.runs.report import base_record, metric_names, table_row


def run_view(run: Run) -> RunView:
    """A read-only snapshot of ``run`` for the lifecycle hooks: a copy of the settings, the records so far."""
    return RunView(
        config=copy.deepcopy(run.config),
        task=run.task,
        run_dir=run.run_dir,
        base_eval_accuracy=run.report.get("base_eval_accuracy"),
        best_eval_accuracy=run.best_eval,
        best_validation_accuracy=run.best_validation,
        best_round=run.best_round,
        rounds=tuple(RoundRecord(**record) for record in run.report["rounds"]),
        stop_reason=run.report.get("stop_reason"),
    )


def save_round_predictions(run: Run, label: str, validation: Evaluation, held_out: Evaluation) -> None:
    """Keep what the model answered on both measured splits (``runs.predictions``), on the process that writes."""
    if run.run_dir is None or not distributed.is_main():
        return
    save_predictions(run.run_dir, label, "validation", run.splits.validation, validation)
    save_predictions(run.run_dir, label, "eval", run.splits.eval, held_out)


def item_verdicts(evaluation: Evaluation) -> list[int]:
    """1 where the example was judged correct, 0 where not, in the split's order."""
    return [int(bool(v.correct)) for v in evaluation.verdicts]


def build_record(run: Run, result: RoundResult) -> RoundRecord:
    """The round's ``RoundRecord``; also the ledger of merged cores it measures ranks from, and the lockstep check."""
    with result.phases("record"):  # the cross-rank digest and the ranks of the cumulative update
        digest = distributed.check_lockstep(run.model, run.targets, result.round)
        run.round_cores.append(result.cores)
        run.ledger.add(result.round, result.cores)
        effective_rank = {name: run.ledger.numerical_rank(name) for name in run.targets}
        entropy_rank = {name: round(run.ledger.entropy_rank(name), 4) for name in run.targets}
    previous = run.report["rounds"][-1]["cumulative_params"] if run.report["rounds"] else 0
    laps = result.phases.laps
    return RoundRecord(
        round=result.round,
        n_train=len(run.splits.train),
        n_failures=len(result.train_eval.failures),
        train_accuracy=result.train_eval.accuracy,
        eval_accuracy=result.held_out.accuracy,
        trainable_params=result.trainable_params,
        cumulative_params=previous + (result.trainable_params if result.step_size != 0 else 0),
        effective_rank=effective_rank,
        entropy_rank=entropy_rank,
        seconds=round(result.phases.elapsed(), 3),
        n_trained_on=result.n_trained_on,
        step_size=result.step_size,
        eval_metrics=result.held_out.metrics,
        train_metrics={**result.train_eval.metrics, **result.trained.metrics},
        merge_gap=result.merge_gap,
        seconds_train=round(laps.get("train", 0.0), 3),
        seconds_eval_train=round(laps.get("eval_train", 0.0), 3),
        seconds_merge=round(laps.get("merge", 0.0), 3),
        seconds_by_phase={name: round(seconds, 4) for name, seconds in laps.items()},
        seconds_train_by_phase={name: round(seconds, 6) for name, seconds in result.trained.seconds_by_phase.items()},
        peak_rss_mb_by_phase=dict(result.phases.memory.peaks),
        peak_rss_mb_train_by_phase=dict(result.trained.peak_rss_mb_by_phase),
        eval_verdicts=item_verdicts(result.held_out),
        validation_accuracy=result.validation.accuracy,
        validation_metrics=result.validation.metrics,
        validation_verdicts=item_verdicts(result.validation),
        no_signal=no_learning_signal(result),
        weights_sha256=digest,
    )


def no_learning_signal(result: RoundResult) -> bool:
    """True when the round could not have learned anything: every GRPO group had the same reward for all its
    completions (zero advantage, zero gradient), or the trained update is exactly zero although it was merged
    with a nonzero step."""
    all_groups_flat = result.trained.metrics.get("frac_reward_zero_std") == 1.0
    zero_update = result.step_size != 0 and all(not bool(core.any()) for core in result.cores.values())
    return all_groups_flat or zero_update


NO_SIGNAL_WARNING = (
    "warning: round {round} had no learning signal (every sampled group got the same reward, or the update is "
    "zero): the reward is probably always 0 or always 1 on these prompts; try a graded reward (Verdict.score), "
    "more generations per prompt (objective_options.num_generations), or objective=sft"
)


def after_round(run: Run, result: RoundResult, save: Callable[[Run], None]) -> RoundRecord:
    """Record the round, checkpoint it with ``save(run)``, and decide (on every rank alike) whether to stop."""
    record = build_record(run, result)
    run.report["rounds"].append(record.to_dict())
    rounds = run.report["rounds"]
    previous = rounds[-2] if len(rounds) > 1 else base_record(run.report)
    run.log(table_row(rounds[-1], previous, metric_names(run.report)))
    if record.no_signal and distributed.is_main():
        print(NO_SIGNAL_WARNING.format(round=record.round), file=sys.stderr, flush=True)
    run.best_eval = max(run.best_eval, record.eval_accuracy)  # shown to hooks only: no decision reads it
    if record.validation_accuracy > run.best_validation:  # ties keep the earlier round (the smaller update)
        run.best_validation, run.best_round, run.rounds_since_best = record.validation_accuracy, record.round, 0
    else:
        run.rounds_since_best += 1
    save(run)
    save_round_predictions(run, f"round-{record.round}", result.validation, result.held_out)
    if distributed.is_main():
        from boostlora.contract.plugins import round_end_stop_reason

        reason = round_end_stop_reason(run=run_view(run), record=record)
        if reason:
            run.stop(reason)
    patience = run.config.patience
    if patience is not None and run.rounds_since_best >= patience:
        run.stop(f"validation accuracy has not improved for {patience} round(s)")
    run.report["stop_reason"] = distributed.broadcast(run.report.get("stop_reason"))
    if run.stopped:
        save(run)
    return record


def run_started(run: Run) -> None:
    """``boostlora_run_start``, on the process that writes (rank 0)."""
    if distributed.is_main():
        from boostlora.contract.plugins import pm

        pm.hook.boostlora_run_start(run=run_view(run))


def run_ended(run: Run) -> None:
    """``boostlora_run_end`` with a copy of the final report, on rank 0."""
    if distributed.is_main():
        from boostlora.contract.plugins import pm

        pm.hook.boostlora_run_end(run=run_view(run), report=copy.deepcopy(run.report))
