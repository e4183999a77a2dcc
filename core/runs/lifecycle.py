"""A run from start to finish: claim the directory, start, boost round after round, write ``final/``.

``boost`` is what ``boostlora run`` calls and ``resume`` what ``--resume`` calls. The steps of starting are
``runs.setup.start_run``; one round of the method is ``method.round.boosting_round``; what happens after each
round is ``runs.recorder.after_round``.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from boostlora.contract.plugins import check_options, find_task
from boostlora.foundation import distributed
from boostlora.foundation.config import (
    RunConfig,
    build_config,
    load_yaml,
    merge_settings,
)
from boostlora.foundation.device import resolve_device
from boostlora.foundation.errors import (
    BoostLoraError,
    ConfigError,
    Interrupted,
    RunDirError,
    interruption,
)
from boostlora.foundation.faults import fault_point
from boostlora.method.round import boosting_round
from boostlora.method.state import Run
from boostlora.runs import checkpoint as ckpt
from boostlora.runs import progress
from boostlora.runs.persistence import rebuild_model, save
from boostlora.runs.recorder import after_round, run_ended, run_started
from boostlora.runs.report import summary_lines
from boostlora.runs.run_identity import RESUMABLE
from boostlora.runs.rundir import (
    RunDirectory,
    check_claimed,
    interrupted_message,
    remove_owned,
)
from boostlora.runs.setup import start_run
from boostlora.runs.tracking import Tracker, tracker_names


def boost(config: RunConfig, run_dir: Path | None = None, *, resume: bool = False, overwrite: bool = False) -> dict[str, Any]:
    """Run (or resume) BoostLoRA as ``config`` describes; return the report that is also written to ``run_dir``.

    The run directory is claimed (checked, created, locked) before anything loads and released when the run
    ends; a fresh start that fails before its first checkpoint leaves nothing behind (see ``rundir``).
    ``overwrite`` lets a fresh start take a directory that holds other files, replacing only boostlora's own.
    """
    distributed.refuse_sharded_engines()
    check_settings(config)
    distributed.init_from_env()
    tracker = Tracker.for_run(config, run_dir)
    claim = claim_run_dir(run_dir, resume, overwrite)
    run = None
    try:
        fault_point("claimed")
        model = config.model or find_task(config.plugin, config.task).default_model
        progress.first_line(config, model, resolve_device(config.device), resume=resume)
        run = start_run(config, run_dir, resume=resume)
        run_started(run)
        with progress.RoundProgress(config, run.rounds_done) as rounds:
            while not run.stopped:
                rounds.start(run.rounds_done)
                result = boosting_round(run)
                if result is not None:
                    record = after_round(run, result, save)
                    if tracker is not None:  # opened here, after the round's checkpoint: a failed start leaves nothing
                        tracker.log_round(run.report, record, result.trained)
                rounds.finished(run.rounds_done)
        finish_run(run)
    except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM/SIGHUP (errors.StopSignal, raised by the CLI's handlers)
        if claim is not None:
            claim.abandon()
        signal_name, code = interruption(exc)
        raise Interrupted(interrupted_message(run_dir, run.rounds_done if run else None, signal_name), code) from None
    except BaseException:
        if claim is not None:
            claim.abandon()
        raise
    finally:
        if tracker is not None:
            tracker.close()
        if claim is not None:
            claim.release()
    return run.report


def check_settings(config: RunConfig) -> None:
    """Every setting, checked before the run directory is claimed or anything is written (``--overwrite`` replaces
    a previous run's files at claim time): the run's own (``RunConfig.validate``), the device, the trackers of
    ``report_to``, the task's and the objective's options."""
    config.validate()
    resolve_device(config.device)
    tracker_names(config.report_to)
    check_options(config)


def claim_run_dir(run_dir: Path | None, resume: bool, overwrite: bool = False) -> RunDirectory | None:
    """Rank 0 claims the run directory; every rank stops together when it cannot."""
    if run_dir is None:
        return None
    claim, failure = None, None
    if distributed.is_main():
        try:
            claim = RunDirectory.claim(Path(run_dir), resume=resume, overwrite=overwrite)
        except BoostLoraError as exc:
            failure = exc
    failure = distributed.broadcast(failure)
    if failure is not None:
        raise failure
    return claim


def resume(run_dir: Path, changes: dict[str, Any] | None = None) -> dict[str, Any]:
    """Continue the run in ``run_dir`` from its last checkpoint, with the configuration it was started with.

    ``changes`` may set only the settings in ``run_identity.RESUMABLE`` (raising ``max_rounds``, say); an edited
    ``config.yaml`` that contradicts the checkpoint is refused by ``start_run``, naming the setting.
    """
    run_dir = Path(run_dir)
    if not (run_dir / ckpt.CONFIG).exists():
        if (run_dir / ckpt.CHECKPOINT).exists():
            raise RunDirError(f"{run_dir / ckpt.CONFIG} is missing beside {run_dir / ckpt.CHECKPOINT}: restore it to resume")
        raise ConfigError(f"{run_dir} has no {ckpt.CONFIG}: nothing to resume")
    settings = load_yaml(run_dir / ckpt.CONFIG)
    fixed = sorted(key for key in changes or {} if key.partition(".")[0] not in RESUMABLE)
    if fixed:
        raise ConfigError(
            f"--resume cannot change {', '.join(fixed)}: it continues a run as it was configured "
            f"(it may change only {', '.join(RESUMABLE)})"
        )
    if changes:
        settings = merge_settings(settings, changes, "the command line")
    return boost(build_config(settings), run_dir, resume=True)


def finish_run(run: Run) -> None:
    """Final report, the kept model (``keep``) in the task's own format, and the run-end hook."""
    kept = kept_round(run)
    rounds = run.report["rounds"]
    run.report["kept_round"] = kept
    run.report["kept_reason"] = kept_reason(run, kept)
    record = rounds[kept] if kept is not None else None
    run.report["final_eval_accuracy"] = record["eval_accuracy"] if record else run.report["base_eval_accuracy"]
    run.report["final_validation_accuracy"] = (
        record.get("validation_accuracy") if record else run.report.get("base_validation_accuracy")
    )
    adapters = record["cumulative_params"] if record else 0
    run.report["total_trainable_params"] = adapters + run.report.get("fitted_params", 0)
    save(run)
    if run.run_dir is not None and distributed.is_main():
        if run.config.save_final:
            holds_kept = kept == (len(rounds) - 1 if rounds else None)  # the live model is the kept one
            model = run.model if holds_kept else rebuild_model(run, 0 if kept is None else kept + 1)
            final = run.run_dir / ckpt.FINAL
            staging = run.run_dir / (ckpt.FINAL + ckpt.TMP_SUFFIX)
            check_claimed(run.run_dir)
            remove_owned(run.run_dir, staging.name)
            try:
                run.task.save_model(model, staging)
                ckpt.follow_umask(staging)
                fault_point("final")
            except BaseException as exc:  # the checkpoint is kept: a resume writes final/ again
                shutil.rmtree(staging, ignore_errors=True)
                failure = ckpt.write_failure(final, exc) if isinstance(exc, Exception) else None
                if failure is None:
                    raise
                raise failure from exc
            remove_owned(run.run_dir, final.name)
            staging.rename(final)
    run.log(f"stopped: {run.report['stop_reason']}")
    for line in summary_lines(run.report):
        run.log(line)
    run_ended(run)


def kept_round(run: Run) -> int | None:
    """The round whose model the run hands over (None: the base model): the best on validation, or the last."""
    if not run.report["rounds"]:
        return None
    if run.config.keep == "last":
        return run.report["rounds"][-1]["round"]
    return run.best_round


def kept_reason(run: Run, kept: int | None) -> str:
    """One line for the report: which model final/ holds and why."""
    done = len(run.report["rounds"])
    if run.config.keep == "last":
        return f"the last round (keep=last), round {kept}" if kept is not None else "the base model (no round merged)"
    if kept is None:
        if not done:
            return "the base model (no round merged)"
        return (f"the base model: no round of {done} beat its validation accuracy "
                f"{run.report.get('base_validation_accuracy', float('nan')):.3f} (keep=best)")
    return (f"round {kept} of {done}: the best validation accuracy, {run.best_validation:.3f} "
            f"(keep=best; ties go to the earlier round)")
