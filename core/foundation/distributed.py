"""Multi-process runs (``torchrun`` / ``accelerate launch``): share the per-round evaluation, stay in lockstep.

The paper's stated cost is evaluating the whole training set every round, which shards perfectly: each process
judges every N-th example and the verdicts are gathered, so every rank holds the identical failure set. Training
averages gradients across ranks, so every rank merges the identical update; a digest of the merged weights is
compared after each round, and a mismatch stops the run rather than letting ranks silently drift. Only rank 0
writes the run directory and prints. With one process every function here is a no-op.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Sequence
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from boostlora.foundation.errors import ConfigError, MergeError


def init_from_env() -> None:
    """Join the process group torchrun or accelerate describe in the environment (nothing for one process)."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and dist.is_available() and not dist.is_initialized():
        if torch.cuda.is_available():
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")


SHARDED_ENGINES = {"ACCELERATE_USE_FSDP": "FSDP", "ACCELERATE_USE_DEEPSPEED": "DeepSpeed"}


def refuse_sharded_engines(environ: dict[str, str] | None = None) -> None:
    """Stop before loading anything when ``accelerate launch`` was given an FSDP or DeepSpeed config.

    A round's merge writes whole weight matrices on every rank and checks them bit for bit; with parameters
    sharded across ranks there is no whole matrix to write, and TRL would hand our round-sized optimizer to an
    engine that wants to own it. Data parallelism (DDP) is what a round of tens of trainable numbers needs.
    """
    environ = dict(os.environ if environ is None else environ)
    for variable, engine in SHARDED_ENGINES.items():
        if environ.get(variable, "").lower() in ("1", "true", "yes"):
            raise ConfigError(
                f"{engine} is not supported ({variable} is set by the accelerate config): rounds merge whole weight "
                "matrices on every rank. Launch with data parallelism instead, e.g. `accelerate launch --multi_gpu "
                "--num_processes N -m boostlora run ...` or `torchrun --nproc-per-node N -m boostlora run ...`"
            )


def world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def is_main() -> bool:
    """True on the process that writes files and prints (rank 0, or the only process)."""
    return rank() == 0


def all_gather(obj: Any) -> list[Any]:
    """Every rank's ``obj``, in rank order (picklable objects)."""
    if world_size() == 1:
        return [obj]
    gathered: list[Any] = [None] * world_size()
    dist.all_gather_object(gathered, obj)
    return gathered


def broadcast(obj: Any) -> Any:
    """Rank 0's ``obj`` on every rank."""
    if world_size() == 1:
        return obj
    holder = [obj]
    dist.broadcast_object_list(holder, src=0)
    return holder[0]


def barrier() -> None:
    if world_size() > 1:
        dist.barrier()


def shard(items: Sequence[Any]) -> list[int]:
    """The indices of ``items`` this rank handles: every ``world_size``-th, starting at its rank."""
    return list(range(rank(), len(items), world_size()))


def average_gradients(params: Iterable[nn.Parameter]) -> None:
    """Mean of each gradient over ranks, so every rank takes the identical optimizer step."""
    if world_size() == 1:
        return
    for p in params:
        if p.grad is not None:
            dist.all_reduce(p.grad, op=dist.ReduceOp.SUM)
            p.grad /= world_size()


def weights_digest(model: nn.Module, names: Iterable[str]) -> str:
    """SHA-256 of the named modules' weights, bit for bit."""
    digest = hashlib.sha256()
    for name in names:
        weight = model.get_submodule(name).weight.detach()
        digest.update(weight.to("cpu").contiguous().view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def check_lockstep(model: nn.Module, names: Sequence[str], round_index: int) -> str | None:
    """Stop the run if the merged weights differ between ranks; return their common digest (None: one process)."""
    if world_size() == 1:
        return None
    digests = all_gather(weights_digest(model, names))
    if len(set(digests)) > 1:
        raise MergeError(f"round {round_index}: merged weights differ across processes ({len(set(digests))} versions)")
    return digests[0]
