"""Whole-train-split evaluation of the default math task: one process vs several (sharded), same machine.

    python benchmarks/distributed_eval.py --threads 2                        # one process, 2 threads
    torchrun --nproc-per-node 2 benchmarks/distributed_eval.py --threads 1   # two processes, 1 thread each

Prints (rank 0) the wall time of one evaluation of the train split and its accuracy, which must not depend
on the number of processes.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from boostlora.foundation import distributed
from boostlora.contract.evaluation import evaluate
from boostlora.contract.plugins import find_task


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    distributed.init_from_env()
    cls = find_task("math")
    task = cls(cls.presets["default"]["task_options"])
    model = task.load_model(cls.presets["default"]["model"], torch.device("cpu"))
    splits = task.load_splits(0)
    distributed.barrier()
    start = time.perf_counter()
    result = evaluate(task, model, splits.train)
    seconds = time.perf_counter() - start
    if distributed.is_main():
        print(json.dumps({"processes": distributed.world_size(), "threads_each": args.threads,
                          "examples": len(splits.train), "seconds": round(seconds, 1),
                          "accuracy": result.accuracy}))


if __name__ == "__main__":
    main()
