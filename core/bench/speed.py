"""``boostlora bench --suite speed``: the cost measurements gathered under one command.

Each measurement is a script in the checkout's ``benchmarks/`` directory that times its alternatives side by
side in one process (so a ratio is meaningful on a shared machine where an absolute time is not) and writes
its numbers as JSON. This module runs them one after another, one torch thread each, and turns the numbers
into one table. The scripts stay scripts: each can be run, read and changed on its own.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from boostlora.foundation.errors import ConfigError

Row = tuple[str, str, str]  # measurement, numbers, ratio


@dataclass(frozen=True)
class Measurement:
    script: str
    args: tuple[str, ...]
    rows: Callable[[dict[str, Any]], list[Row]]


def _core_rows(n: dict[str, Any]) -> list[Row]:
    svd, rnd, lat = n["svd"], n["round"], n["latency"]
    return [
        (f"one-time SVD of {svd['modules']} modules, {svd['components']} components: truncated vs full",
         f"{svd['truncated_s']:.2f} s vs {svd['full_s']:.2f} s", f"{svd['full_s'] / svd['truncated_s']:.1f}x faster"),
        (f"merge + unload per round vs {rnd['train_steps']} training steps",
         f"{rnd['merge_s']:.2f} s vs {rnd['train_s']:.1f} s", f"{100 * rnd['merge_s'] / rnd['train_s']:.1f}% of training"),
        ("attach a round adapter", f"{rnd['attach_s']:.2f} s", ""),
        ("forward latency: merged vs base", f"{lat['merged_ms']:.0f} ms vs {lat['base_ms']:.0f} ms",
         f"{lat['merged_over_base']:.2f}x base"),
        ("forward latency: unmerged peft TinyLoRA vs base", f"{lat['peft_unmerged_ms']:.0f} ms vs {lat['base_ms']:.0f} ms",
         f"{lat['peft_unmerged_over_base']:.2f}x base"),
    ]


def _eval_rows(n: dict[str, Any]) -> list[Row]:
    batched, naive = n["batched"], n["one_at_a_time"]
    return [(f"math evaluator, {n['n']} problems: batched vs one at a time",
             f"{batched['tokens_per_s']:.1f} vs {naive['tokens_per_s']:.1f} tokens/s ({n['identical_outputs']}/{n['n']} identical)",
             f"{n['speedup']:.1f}x faster")]


def _sandbox_rows(n: dict[str, Any]) -> list[Row]:
    per = n["overhead_s_per_program"]
    bare = per["bare_subprocess"]
    rows = [(f"code sandbox {level}, {n['programs']} HumanEval programs vs bare subprocess",
             f"{1e3 * s:.1f} ms vs {1e3 * bare:.1f} ms per program", f"+{1e3 * (s - bare):.1f} ms")
            for level, s in per.items() if level != "bare_subprocess"]
    rows += [(f"code sandbox {level}: judge + candidate processes vs the single-process runner",
              f"{1e3 * per[level]:.1f} ms vs {1e3 * s:.1f} ms per program", f"+{1e3 * (per[level] - s):.1f} ms")
             for level, s in n.get("single_process_s_per_program", {}).items() if level in per]
    rows += [(f"checker throughput, {name.replace('_', ' ')}", f"{rate:.1f} programs/s", "")
             for name, rate in n["throughput_programs_per_s"].items()]
    return rows


def _grpo_overhead_rows(n: dict[str, Any]) -> list[Row]:
    a, b, cfg = n["bare_trl"], n["boostlora"], n["config"]
    shape = f"{cfg['steps']} steps x {cfg['prompts']} prompts x {cfg['generations']} samples x {cfg['completion']} tokens"
    parts = b["parts"]
    loop = sum(seconds for name, seconds in parts.items() if name != "setup")
    split = ", ".join(f"{name} {100 * seconds / loop:.0f}%" for name, seconds in parts.items() if name != "setup" and seconds / loop >= 0.005)
    return [
        (f"GRPO round, {shape}: boostlora grpo vs bare TRL + peft, per step",
         f"{b['per_step_s']:.2f} s vs {a['per_step_s']:.2f} s", f"{n['per_step_ratio']:.3f}x ({100 * (n['per_step_ratio'] - 1):+.1f}%)"),
        ("GRPO round setup (adapter injection + trainer): boostlora vs bare TRL + peft",
         f"{b['setup_s']:.2f} s vs {a['setup_s']:.2f} s", f"{b['setup_s'] / a['setup_s']:.2f}x"),
        ("where a boostlora GRPO round's training loop goes", split, ""),
    ]


MEASUREMENTS = (
    Measurement("speed_core.py", ("--rounds", "8", "--steps", "3", "--repeats", "5", "--threads", "1"), _core_rows),
    Measurement("math_eval_throughput.py", ("--n", "32"), _eval_rows),
    Measurement("code_sandbox.py", ("--repeat", "1"), _sandbox_rows),
    Measurement("grpo_overhead.py", ("--steps", "3", "--repeats", "3", "--prompts", "4", "--generations", "4"), _grpo_overhead_rows),
)


def scripts_dir() -> Path:
    """``benchmarks/`` of the checkout: the working directory's, else the one beside an editable install."""
    for candidate in (Path.cwd() / "benchmarks", Path(__file__).resolve().parents[2] / "benchmarks"):
        if all((candidate / m.script).is_file() for m in MEASUREMENTS):
            return candidate
    raise ConfigError("the speed suite runs the scripts in a checkout's benchmarks/ directory: run it from the repository root")


def run_speed_suite(out: Path, *, results_file: Path | None = None, command: str = "",
                    only: list[str] | None = None) -> dict[str, Any]:
    """Run every measurement (or those whose script name starts with one of ``only``); write JSON and a table."""
    from boostlora.bench.suite import environment
    from boostlora.bench.tables import written_by_hand

    folder = scripts_dir()
    chosen = [m for m in MEASUREMENTS if not only or any(m.script.startswith(o) for o in only)]
    if not chosen:
        raise ConfigError(f"no speed measurement matches {only} (available: {', '.join(m.script for m in MEASUREMENTS)})")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    numbers: dict[str, Any] = {}
    out.mkdir(parents=True, exist_ok=True)
    for m in chosen:
        with tempfile.TemporaryDirectory() as tmp:
            target = Path(tmp) / "numbers.json"
            print(f"[{time.strftime('%H:%M:%S')}] {m.script} {' '.join(m.args)}", file=sys.stderr, flush=True)
            done = subprocess.run([sys.executable, str(folder / m.script), *m.args, "--json", str(target)],
                                  env=env, stdout=subprocess.DEVNULL)
            if done.returncode != 0 or not target.exists():
                raise ConfigError(f"benchmarks/{m.script} failed (exit {done.returncode}); run it alone to see why")
            numbers[m.script] = json.loads(target.read_text())
    environment_ = environment(command or "boostlora bench --suite speed")
    (out / "suite-speed.json").write_text(json.dumps({"environment": environment_, "results": numbers}, indent=2) + "\n")
    table = speed_markdown(numbers, environment_, {m.script: m for m in chosen})
    (out / "RESULTS-speed.md").write_text(table)
    if results_file is not None:
        results_file.write_text(written_by_hand(results_file) + table)
    return numbers


def speed_markdown(numbers: dict[str, Any], env: dict[str, Any], measurements: dict[str, Measurement]) -> str:
    lines = [
        "# Benchmark results: `speed` suite", "", "Generated by the command below; do not edit by hand.", "",
        f"    {env['command']}", "", f"- date: {env['date']}", f"- machine: {env['machine']}",
        "- versions: " + ", ".join(f"{k} {v}" for k, v in env["versions"].items()), "",
        "Each line's alternatives were timed side by side in one process with one torch thread; absolute times",
        "depend on the machine's load, ratios much less. Model: SmolLM2-135M-Instruct (offline default).", "",
        "| measurement | numbers | ratio | script |", "|---|---|---|---|",
    ]
    for script, values in numbers.items():
        for what, value, ratio in measurements[script].rows(values):
            lines.append(f"| {what} | {value} | {ratio} | `benchmarks/{script} {' '.join(measurements[script].args)}` |")
    return "\n".join(lines) + "\n"
