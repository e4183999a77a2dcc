"""Core's bookkeeping around the method: round records, the cross-rank check, patience, checkpoints and hooks.

``method.round.boosting_round`` holds the method alone and returns a ``RoundResult``; everything a run does
*about* a round happens here, in the same order for every round: check that the processes merged identical
weights, build the ``RoundRecord`` that ``report.json`` and the ``boostlora_round_end`` hook receive, track the
best held-out accuracy for ``patience``, checkpoint, then ask the lifecycle hooks whether to stop. Hooks see a
``RunView`` (``run_view``), a read-only snapshot, never the live run.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

from boostlora.contract.records import RoundRecord
from boostlora.contract.values import Evaluation
from boostlora.contract.views import RunView
from boostlora.foundation import distributed
from boostlora.method.state import RoundResult, Run
from boostlora.runs.report import table_row


def run_view(run: Run) -> RunView:
    """A read-only snapshot of ``run`` for the lifecycle hooks: a copy of the settings, the records so far."""
    return RunView(
        config=copy.deepcopy(run.config),
        task=run.task,
        run_dir=run.run_dir,
        base_eval_accuracy=run.report.get("base_eval_accuracy"),
        best_eval_accuracy=run.best_eval,
        rounds=tuple(RoundRecord(**record) for record in run.report["rounds"]),
        stop_reason=run.report.get("stop_reason"),
    )


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
        seconds_train_by_phase={name: round(seconds, 4) for name, seconds in result.trained.seconds_by_phase.items()},
        eval_verdicts=item_verdicts(result.held_out),
        weights_sha256=digest,
    )


def after_round(run: Run, result: RoundResult, save: Callable[[Run], None]) -> RoundRecord:
    """Record the round, checkpoint it with ``save(run)``, and decide (on every rank alike) whether to stop."""
    record = build_record(run, result)
    run.report["rounds"].append(record.to_dict())
    run.log(table_row(record.to_dict()))
    if record.eval_accuracy > run.best_eval:
        run.best_eval, run.rounds_since_best = record.eval_accuracy, 0
    else:
        run.rounds_since_best += 1
    save(run)
    if distributed.is_main():
        from boostlora.contract.plugins import round_end_stop_reason

        reason = round_end_stop_reason(run=run_view(run), record=record)
        if reason:
            run.stop(reason)
    patience = run.config.patience
    if patience is not None and run.rounds_since_best >= patience:
        run.stop(f"held-out accuracy has not improved for {patience} round(s)")
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
