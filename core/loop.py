"""The boosting loop (BoostLoRA, arXiv 2604.27308), top to bottom.

    once:     SVD of every target module's ORIGINAL weight
    round k:  F_k = examples of the train split the current model gets wrong
              stop if F_k is empty or the rounds are spent
              attach a fresh zero-initialised TinyLoRA adapter on block k of the singular directions
              train it on F_k with the task's objective (then, optionally, a line search over its scale)
              merge it into the weights in fp32, check the merge, unload the adapter
              evaluate the held-out split

Everything domain-specific comes from the task plugin; ``boosting_round`` is the method alone. What a run
does about each round (records, the cross-rank check, patience, checkpoints, hooks) is ``recorder.py``.
"""

from __future__ import annotations

import random
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import yaml
from torch import nn

from . import checkpoint as ckpt
from . import block_gain, distributed, svd_cache
from .adapter import RoundAdapter, attach_round_adapter, resolve_targets
from .config import RunConfig, build_config, load_yaml, merge_settings
from .contract import check_extra_state, check_prepare_kept, fingerprint
from .errors import BoostLoraError, ConfigError, DataError, Interrupted, RunDirError
from .evaluation import evaluate
from .faults import fault_point
from .merge import RankLedger, merge_round, replay_round
from .objectives.base import Objective, RoundContext
from .plugins import find_objective, find_task
from .recorder import Phases, RoundResult, after_round, item_verdicts, run_ended, run_started
from .report import format_table
from .rundir import RunDirectory, interrupted_message
from .run_identity import RESUMABLE, check_resume, settings_digest
from .splits import evaluation_splits
from .subspace import SubspaceAllocator, check_capacity
from .task import Evaluation, Splits, Task


@dataclass
class Run:
    """The live, mutable state of a run, private to core: lifecycle hooks receive a read-only ``RunView``."""

    config: RunConfig
    task: Task
    objective: Objective
    model: nn.Module
    splits: Splits
    targets: list[str]
    allocator: SubspaceAllocator
    device: torch.device
    run_dir: Path | None
    report: dict[str, Any]
    ledger: RankLedger
    round_cores: list[dict[str, torch.Tensor]] = field(default_factory=list)
    best_eval: float = float("-inf")
    rounds_since_best: int = 0

    @property
    def rounds_done(self) -> int:
        return len(self.report["rounds"])

    def stop(self, reason: str) -> None:
        if not self.report.get("stop_reason"):
            self.report["stop_reason"] = reason

    @property
    def stopped(self) -> bool:
        return bool(self.report.get("stop_reason"))

    def log(self, line: str) -> None:
        if self.config.show_progress and distributed.is_main():
            print(line, flush=True)


def round_seed(seed: int, round_index: int) -> int:
    """A per-round seed, so a resumed round draws exactly what the uninterrupted one drew."""
    return (seed * 1_000_003 + 7_919 * (round_index + 1)) % (2**31 - 1)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise ConfigError(f"device '{name}' is not a torch device (use auto, cpu, cuda or cuda:N)") from exc
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device '{name}' asked for, but no CUDA device is available")
    return device


def boost(config: RunConfig, run_dir: Path | None = None, *, resume: bool = False) -> dict[str, Any]:
    """Run (or resume) BoostLoRA as ``config`` describes; return the report that is also written to ``run_dir``.

    The run directory is claimed (checked, created, locked) before anything loads and released when the run
    ends; a fresh start that fails before its first checkpoint leaves nothing behind (see ``rundir``).
    """
    distributed.refuse_sharded_engines()
    distributed.init_from_env()
    claim = claim_run_dir(run_dir, resume)
    run = None
    try:
        fault_point("claimed")
        run = start_run(config, run_dir, resume=resume)
        run_started(run)
        while not run.stopped:
            result = boosting_round(run)
            if result is not None:
                after_round(run, result, save)
        finish_run(run)
    except KeyboardInterrupt:
        if claim is not None:
            claim.abandon()
        raise Interrupted(interrupted_message(run_dir, run.rounds_done if run else None)) from None
    except BaseException:
        if claim is not None:
            claim.abandon()
        raise
    finally:
        if claim is not None:
            claim.release()
    return run.report


def claim_run_dir(run_dir: Path | None, resume: bool) -> RunDirectory | None:
    """Rank 0 claims the run directory; every rank stops together when it cannot."""
    if run_dir is None:
        return None
    claim, failure = None, None
    if distributed.is_main():
        try:
            claim = RunDirectory.claim(Path(run_dir), resume=resume)
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


def start_run(config: RunConfig, run_dir: Path | None, *, resume: bool) -> Run:
    """Resolve the plugin, data, model and subspaces; refuse a bad configuration before anything trains."""
    task = find_task(config.plugin, config.task)(config.task_options)
    objective = find_objective(config.objective or task.default_objective)(config.objective_options)
    objective.check(task)
    model_name = config.model or task.default_model
    if not model_name:
        raise ConfigError(f"task '{task.name}' has no default model: set `model`")
    state = None
    if run_dir is not None:
        run_dir = Path(run_dir)
        state = ckpt.load_checkpoint(run_dir) if resume else None
        if state is not None:
            check_resume(state["settings"], config, len(state["report"]["rounds"]), run_dir / ckpt.CONFIG, run_dir / ckpt.CHECKPOINT)
        if not resume and (run_dir / ckpt.CHECKPOINT).exists():
            raise ConfigError(f"{run_dir} already holds a run: resume it with --resume, or choose another --out")
        distributed.barrier()  # every rank has looked before rank 0 writes anything
    device = resolve_device(config.device)
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    splits = evaluation_splits(task.load_splits(config.seed), config.evaluate_on, config.validation_fraction, config.seed)
    if len(splits.train) == 0:
        raise DataError(f"task '{task.name}' produced an empty training split: nothing to boost on")
    if len(splits.eval) == 0:
        raise DataError(f"task '{task.name}' produced an empty held-out split: nothing to measure progress on")
    task.check_splits(splits)
    model = task.load_model(model_name, device)
    model.requires_grad_(False)
    targets = resolve_targets(model, config.targets or list(task.default_targets))
    identity = settings_digest(config, model_name, targets)
    if state is not None and state["report"].get("settings_sha256") != identity:
        raise ConfigError(
            f"{run_dir / ckpt.CONFIG} resolves to another model or other targets than {run_dir / ckpt.CHECKPOINT} "
            f"was made with (model {state['report'].get('model')}, targets {', '.join(state['report'].get('targets', []))})"
        )
    recorded_svd = state["report"].get("svd") if state is not None else None
    allocator = build_allocator(model, targets, config, run_dir, model_name=model_name, recorded=recorded_svd)
    # a fresh start's first contact with the task; anything it writes before its first checkpoint is removed
    # again if the task breaks the contract here (the run directory's claim is abandoned)
    base = None if state is not None else prepare_task(task, objective, model, splits)
    saved_config = yaml.safe_dump(config.to_dict(), sort_keys=False)
    if run_dir is not None and distributed.is_main() and not same_text(run_dir / ckpt.CONFIG, saved_config):
        ckpt.write_text(run_dir / ckpt.CONFIG, saved_config)
    run = Run(
        config=config,
        task=task,
        objective=objective,
        model=model,
        splits=splits,
        targets=targets,
        allocator=allocator,
        device=device,
        run_dir=run_dir,
        report={},
        ledger=RankLedger(config.strategy, config.r),
    )
    if state is not None:
        restore(run, state)
        run.report["svd"] = svd_cache.record(allocator.bases)
    else:
        if config.block_scale == "gain":  # measured on the original model, before anything merges
            allocator.gains = block_gain.calibrate(task, model, allocator.bases, config.r, splits.train, config.seed)
        run.report = new_report(config, task, model_name, targets, base)
        if allocator.gains is not None:
            run.report["block_gain_factors"] = block_gain.summary(allocator.gains)
        run.report["settings_sha256"] = identity
        run.report["fitted_params"] = sum(t.numel() for t in task.extra_state(model).values())
        run.best_eval = base.accuracy
        run.report["svd"] = svd_cache.record(allocator.bases)
        save(run)
    run.log(f"{task.name}: {len(splits.train)} train / {len(splits.eval)} {config.evaluate_on} examples, {len(targets)} target modules")
    run.log(format_table(run.report))
    return run


def prepare_task(task: Task, objective: Objective, model: nn.Module, splits: Splits) -> Evaluation:
    """A fresh run's first contact with the task: ``prepare``, the base evaluation, the objective's probe.

    Everything a task returns here is checked (``contract``), and a ``prepare`` that changes tensors
    ``extra_state`` does not return is refused, so a resumed run never silently loses fitted state.
    """
    owner = f"task '{task.name}'"
    overrides_prepare = type(task).prepare is not Task.prepare
    before = fingerprint(model) if overrides_prepare else {}
    task.prepare(model, splits)
    extra = check_extra_state(owner, task.extra_state(model), set(model.state_dict(keep_vars=True)))
    if overrides_prepare:
        check_prepare_kept(owner, before, fingerprint(model), extra)
    base = evaluate(task, model, splits.eval)
    objective.preflight(task, model, [splits.train[i] for i in range(min(2, len(splits.train)))])
    return base


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
    if not failures:
        return run.stop("no failures left on the training split")
    if config.train_on == "all":
        examples = list(run.splits.train)
    else:
        examples = [run.splits.train[i] for i in failures + replay_sample(train_eval, config.replay_fraction, seed)]

    # A fresh adapter on this round's block of singular directions, trained on F_k (plus any replay).
    with phases("attach"):
        adapter = attach_round_adapter(
            run.model, run.targets, run.allocator,
            round_index=k, r=config.r, u=config.u, weight_tying=config.weight_tying, seed=config.seed,
            projection_round=k if config.projections == "per_round" else 0,
        )
    torch.manual_seed(seed)
    with phases("train"):
        trained = run.objective.train(
            RoundContext(adapter.model, task, examples, adapter.trainable, k, seed, run.device, config.show_progress)
        )
    with phases("line_search"):
        step = choose_step_size(run, adapter, seed) if config.step_sizes else 1.0

    # Merge in fp32, check it, and drop the adapter: the model is a plain model again.
    with phases("merge"):
        merged = merge_round(adapter, run.allocator, config.merge_tolerance, seed)
    run.model = merged.model

    with phases("eval_heldout"):
        held_out = evaluate(task, run.model, run.splits.eval)
    return RoundResult(
        round=k, train_eval=train_eval, held_out=held_out, n_trained_on=len(examples),
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


def new_report(config: RunConfig, task: Task, model_name: str, targets: list[str], base: Evaluation) -> dict[str, Any]:
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
        "rounds": [],
        "stop_reason": None,
    }


def save(run: Run) -> None:
    """Checkpoint and report, each written atomically; the checkpoint first, so a report never runs ahead."""
    if run.run_dir is None or not distributed.is_main():
        return
    fault_point("save")
    state = {
        "settings": run.config.to_dict(),
        "report": run.report,
        "cores": run.round_cores,
        "extra": {k: v.detach().cpu() for k, v in run.task.extra_state(run.model).items()},
        "best_eval": run.best_eval,
        "rounds_since_best": run.rounds_since_best,
        "block_gains": run.allocator.gains,
    }
    ckpt.save_checkpoint(run.run_dir, state)
    ckpt.write_json(run.run_dir / ckpt.REPORT, run.report)
    fault_point("saved")


def restore(run: Run, state: dict[str, Any]) -> None:
    """Rebuild the interrupted run: task state, then every merged round replayed in order."""
    if state.get("version") != ckpt.VERSION:
        raise BoostLoraError(f"{run.run_dir / ckpt.CHECKPOINT} was written by an incompatible boostlora version")
    extra = state.get("extra") or {}
    if extra:
        missing = run.model.load_state_dict(extra, strict=False).unexpected_keys
        if missing:
            raise BoostLoraError(f"checkpoint holds task state the model does not have: {', '.join(missing[:3])}")
    for k, cores in enumerate(state["cores"]):
        replay_round(run.model, run.allocator, k, cores)
        run.ledger.add(k, cores)
    run.round_cores = list(state["cores"])
    if run.config.block_scale == "gain":
        if not state.get("block_gains"):
            raise BoostLoraError(f"{run.run_dir / ckpt.CHECKPOINT} has no block gains, which block_scale=gain needs")
        run.allocator.gains = state["block_gains"]
    run.report = state["report"]
    run.best_eval = state["best_eval"]
    run.rounds_since_best = state["rounds_since_best"]
    if (run.report.get("stop_reason") or "").startswith("max_rounds") and run.rounds_done < run.config.max_rounds:
        run.report["stop_reason"] = None


def finish_run(run: Run) -> None:
    """Final report, the merged model in its own format, and the run-end hook."""
    rounds = run.report["rounds"]
    run.report["final_eval_accuracy"] = rounds[-1]["eval_accuracy"] if rounds else run.report["base_eval_accuracy"]
    adapters = rounds[-1]["cumulative_params"] if rounds else 0
    run.report["total_trainable_params"] = adapters + run.report.get("fitted_params", 0)
    save(run)
    if run.run_dir is not None and distributed.is_main():
        if run.config.save_final:
            final = run.run_dir / ckpt.FINAL
            staging = run.run_dir / (ckpt.FINAL + ".tmp")
            shutil.rmtree(staging, ignore_errors=True)
            try:
                run.task.save_model(run.model, staging)
                fault_point("final")
            except BaseException as exc:  # the checkpoint is kept: a resume writes final/ again
                shutil.rmtree(staging, ignore_errors=True)
                failure = ckpt.write_failure(final, exc) if isinstance(exc, Exception) else None
                if failure is None:
                    raise
                raise failure from exc
            shutil.rmtree(final, ignore_errors=True)
            staging.rename(final)
    run.log(f"stopped: {run.report['stop_reason']}")
    run_ended(run)
