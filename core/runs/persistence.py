"""A live run to disk and back: the checkpoint and report after every round, and the rebuild on ``--resume``.

A resumed run replays every merged round's cores on the freshly loaded model, so it continues bit-identically.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from boostlora.foundation import distributed
from boostlora.foundation.device import run_dtype
from boostlora.foundation.errors import BoostLoraError
from boostlora.foundation.faults import fault_point
from boostlora.method.adapter import load_frozen_model
from boostlora.method.merge import replay_round
from boostlora.method.state import Run
from boostlora.runs import checkpoint as ckpt
from boostlora.runs.rundir import check_claimed


def save(run: Run) -> None:
    """Checkpoint and report, each written atomically; the checkpoint first, so a report never runs ahead."""
    if run.run_dir is None or not distributed.is_main():
        return
    fault_point("save")
    check_claimed(run.run_dir)  # never write into a directory that replaced the claimed one
    state = {
        "settings": run.config.to_dict(),
        "report": run.report,
        "cores": run.round_cores,
        "extra": {k: v.detach().cpu() for k, v in run.task.extra_state(run.model).items()},
        "best_eval": run.best_eval,
        "rounds_since_best": run.rounds_since_best,
        "best_validation": run.best_validation,
        "best_round": run.best_round,
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
    run.best_validation = state.get("best_validation", float("-inf"))
    run.best_round = state.get("best_round")
    if (run.report.get("stop_reason") or "").startswith("max_rounds") and run.rounds_done < run.config.max_rounds:
        run.report["stop_reason"] = None


def rebuild_model(run: Run, rounds: int) -> nn.Module:
    """The model after the first ``rounds`` merged rounds, rebuilt exactly as ``--resume`` rebuilds a run: the task's
    model loaded afresh, its fitted state restored, and those rounds' cores replayed in order.

    ``keep: best`` writes this model when the best round on validation is not the last. A task whose
    ``load_model`` does not load the same weights every time (resume relies on that too) is refused, because the
    rebuilt model would not be the model the run measured.
    """
    torch.manual_seed(run.config.seed)  # as when the run started, for tasks that initialise weights at random
    model, _ = load_frozen_model(run.task, run.report["model"], run.device, run.targets, run_dtype(run.config))
    extra = {k: v.detach() for k, v in run.task.extra_state(run.model).items()}
    if extra:
        model.load_state_dict(extra, strict=False)
    for k, cores in enumerate(run.round_cores[:rounds]):
        replay_round(model, run.allocator, k, cores)
    adapted = {f"{name}.weight" for name in run.targets}
    live = run.model.state_dict()
    for name, tensor in model.state_dict().items():
        if name not in adapted and not torch.equal(tensor, live[name]):
            raise BoostLoraError(
                f"task '{run.task.name}': load_model() gave other weights the second time ({name} differs), so the "
                f"kept round's model cannot be rebuilt; make load_model deterministic, or set keep=last"
            )
    return model
