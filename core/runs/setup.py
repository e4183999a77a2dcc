"""Starting a run: every step between the command line and round 0, each refusing bad input before training.

``start_run`` reads as its steps: find the task and objective, check the run directory (and a resume),
load the splits, load the model and resolve its targets, the one-time SVD, the task's first contact
(``prepare`` and the base evaluation), then a fresh report or the restored state.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn

from boostlora.contract.checks import check_extra_state, check_prepare_kept, check_prompt, fingerprint
from boostlora.contract.evaluation import evaluate
from boostlora.contract.objective import Objective
from boostlora.contract.plugins import open_task
from boostlora.contract.splits import run_splits
from boostlora.contract.task import Task
from boostlora.contract.values import Evaluation, Splits
from boostlora.foundation import distributed
from boostlora.foundation.config import RunConfig, dump_settings
from boostlora.foundation.device import run_dtype, set_up_process
from boostlora.foundation.errors import BoostLoraError, ConfigError
from boostlora.method import block_gain
from boostlora.method.adapter import load_frozen_model
from boostlora.method.merge import RankLedger, merge_bound
from boostlora.method.state import Run
from boostlora.method.subspace import SubspaceAllocator, check_capacity
from boostlora.runs import checkpoint as ckpt
from boostlora.runs import svd_cache
from boostlora.runs.persistence import restore, save
from boostlora.runs.recorder import item_verdicts, save_round_predictions
from boostlora.runs.report import format_table
from boostlora.runs.run_identity import (
    check_resume,
    check_same_data,
    check_same_model,
    data_digests,
    settings_digest,
)


def start_run(config: RunConfig, run_dir: Path | None, *, resume: bool) -> Run:
    """Resolve the plugin, data, model and subspaces; refuse a bad configuration before anything trains."""
    task, objective, model_name = open_task(config)
    run_dir = None if run_dir is None else Path(run_dir)
    state = checkpoint_to_resume(run_dir, config, resume)
    data = data_digests(config) if state is None else {}  # the data files as the task is about to read them
    device = set_up_process(config)
    splits = run_splits(task, config)
    model, targets = load_frozen_model(task, model_name, device, config.targets, run_dtype(config))
    identity = settings_digest(config, model_name, targets)
    if state is not None:
        check_same_model(state, identity, run_dir)
    allocator = build_allocator(model, targets, config, run_dir, model_name=model_name,
                                recorded=state["report"].get("svd") if state is not None else None)
    # a fresh start's first contact with the task; anything it writes before its first checkpoint is removed
    # again if the task breaks the contract here (the run directory's claim is abandoned)
    base = None if state is not None else prepare_task(task, objective, model, splits)
    write_config(run_dir, config)
    run = Run(
        config=config, task=task, objective=objective, model=model, splits=splits, targets=targets,
        allocator=allocator, device=device, run_dir=run_dir, report={}, ledger=RankLedger(config.strategy, config.r),
    )
    if state is not None:
        restore(run, state)
        run.report["svd"] = svd_cache.record(allocator.bases)
    else:
        begin_fresh(run, model_name, identity, base, data)
    run.log(f"{task.name}: {len(splits.train)} train / {len(splits.eval)} {config.evaluate_on} examples, {len(targets)} target modules")
    run.log(format_table(run.report))
    return run


def checkpoint_to_resume(run_dir: Path | None, config: RunConfig, resume: bool) -> dict[str, Any] | None:
    """The checkpoint a ``--resume`` continues (checked against ``config``), or None for a fresh start.

    A fresh start into a directory that already holds a checkpoint is refused; a resume whose settings or data
    files differ from the checkpoint's is refused, naming the setting or the file.
    """
    if run_dir is None:
        return None
    state = ckpt.load_checkpoint(run_dir) if resume else None
    if state is not None:
        check_resume(state["settings"], config, len(state["report"]["rounds"]), run_dir / ckpt.CONFIG, run_dir / ckpt.CHECKPOINT)
        check_same_data(state["report"].get("data_sha256", {}), run_dir / ckpt.CHECKPOINT)
    if not resume and (run_dir / ckpt.CHECKPOINT).exists():
        raise ConfigError(f"{run_dir} already holds a run: resume it with --resume, or choose another --out")
    distributed.barrier()  # every rank has looked before rank 0 writes anything
    return state


def write_config(run_dir: Path | None, config: RunConfig) -> None:
    """``config.yaml``: the resolved settings, rewritten on a resume only when a setting changed."""
    saved_config = dump_settings(config.to_dict())
    if run_dir is not None and distributed.is_main() and not same_text(run_dir / ckpt.CONFIG, saved_config):
        ckpt.write_text(run_dir / ckpt.CONFIG, saved_config)


def begin_fresh(run: Run, model_name: str, identity: str, base: tuple[Evaluation, Evaluation], data: dict[str, Any]) -> None:
    """A fresh run's report, block gains measured on the original model, and its first checkpoint."""
    base, base_validation = base
    config, task, allocator = run.config, run.task, run.allocator
    if config.block_scale == "gain":  # measured on the original model, before anything merges
        allocator.gains = block_gain.calibrate(task, run.model, allocator.bases, config.r, run.splits.train, config.seed)
    run.report = new_report(config, task, model_name, run.targets, base, base_validation)
    if allocator.gains is not None:
        run.report["block_gain_factors"] = block_gain.summary(allocator.gains)
    run.report["settings_sha256"] = identity
    run.report["data_sha256"] = data
    run.report["fitted_params"] = sum(t.numel() for t in task.extra_state(run.model).values())
    run.best_eval = base.accuracy
    run.best_validation = base_validation.accuracy
    run.report["svd"] = svd_cache.record(allocator.bases)
    save(run)
    save_round_predictions(run, "base", base_validation, base)


def prepare_task(task: Task, objective: Objective, model: nn.Module, splits: Splits) -> tuple[Evaluation, Evaluation]:
    """A fresh run's first contact with the task: the prompts of two training examples (a task that has
    ``prompt``), ``prepare``, the base evaluations (held-out, then validation), the objective's probe.

    Everything a task returns here is checked (``contract``), and a ``prepare`` that changes tensors
    ``extra_state`` does not return is refused, so a resumed run never silently loses fitted state.
    """
    owner = f"task '{task.name}'"
    if callable(getattr(task, "prompt", None)):  # text tasks: a wrong prompt is named before the model first runs
        for example in [splits.train[i] for i in range(min(2, len(splits.train)))]:
            check_prompt(owner, task.prompt(example))  # type: ignore[attr-defined]
    overrides_prepare = type(task).prepare is not Task.prepare
    before = fingerprint(model) if overrides_prepare else {}
    task.prepare(model, splits)
    extra = check_extra_state(owner, task.extra_state(model), set(model.state_dict(keep_vars=True)))
    if overrides_prepare:
        check_prepare_kept(owner, before, fingerprint(model), extra)
    base = evaluate(task, model, splits.eval)
    base_validation = evaluate(task, model, splits.validation)
    objective.preflight(task, model, [splits.train[i] for i in range(min(2, len(splits.train)))])
    return base, base_validation


def same_text(path: Path, text: str) -> bool:
    """Whether ``path`` already holds ``text`` (a resume rewrites config.yaml only when a setting changed)."""
    try:
        return path.read_text() == text
    except (OSError, UnicodeDecodeError):
        return False


def build_allocator(
    model: nn.Module,
    targets: list[str],
    config: RunConfig,
    run_dir: Path | None,
    *,
    model_name: str | None = None,
    recorded: dict[str, Any] | None = None,
) -> SubspaceAllocator:
    """The one-time SVD; across processes rank 0 computes it and every rank gets rank 0's exact bases.

    The run directory's SVD cache is used only when it was computed from this model's weights for these settings
    and, on resume, reproduces the directions the checkpoint ``recorded`` (see ``svd_cache``).
    """
    shapes = {name: tuple(model.get_submodule(name).weight.shape) for name in targets}
    check_capacity(shapes, config.strategy, config.r, config.max_rounds)  # on every rank: fail together
    bases, failure = None, None
    if distributed.is_main():
        identity = svd_cache.SvdIdentity.of(model, model_name or str(config.model), targets, config.strategy, config.r, config.svd)
        cache = None if run_dir is None else Path(run_dir) / ckpt.SVD_CACHE
        try:
            bases = svd_cache.bases_for_run(model, targets, identity, config.max_rounds, cache, recorded, config.show_progress)
        except BoostLoraError as exc:
            failure = exc
    bases, failure = distributed.broadcast((bases, failure))
    if failure is not None:
        raise failure
    return SubspaceAllocator(bases, config.strategy, config.r, config.block_scale)


def new_report(config: RunConfig, task: Task, model_name: str, targets: list[str], base: Evaluation,
               base_validation: Evaluation) -> dict[str, Any]:
    return {
        "plugin": config.plugin,
        "task": task.name,
        "model": model_name,
        "strategy": config.strategy,
        "block_scale": config.block_scale,
        "r": config.r,
        "u": config.u,
        "weight_tying": config.weight_tying,
        "objective": config.objective or task.default_objective,
        "seed": config.seed,
        "targets": targets,
        "evaluate_on": config.evaluate_on,
        "n_eval": len(base.verdicts),
        "base_eval_accuracy": base.accuracy,
        "base_eval_metrics": base.metrics,
        "base_eval_verdicts": item_verdicts(base),
        "n_validation": len(base_validation.verdicts),
        "base_validation_accuracy": base_validation.accuracy,
        "base_validation_metrics": base_validation.metrics,
        "base_validation_verdicts": item_verdicts(base_validation),
        "keep": config.keep,
        "dtype": config.dtype,
        "merge_bound": merge_bound(run_dtype(config), config.merge_tolerance),  # what every round's merge_gap is held to
        "rounds": [],
        "stop_reason": None,
    }
