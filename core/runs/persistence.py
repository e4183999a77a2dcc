"""A live run to disk and back: the checkpoint and report after every round, and the rebuild on ``--resume``.

A resumed run replays every merged round's cores on the freshly loaded model, so it continues bit-identically.
"""

from __future__ import annotations

from typing import Any

from boostlora.foundation import distributed
from boostlora.foundation.errors import BoostLoraError
from boostlora.foundation.faults import fault_point
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
