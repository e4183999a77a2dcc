"""What a run tells the world: per-round records, report.json, the per-round table and plots."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from boostlora.foundation.errors import BoostLoraError, RunDirError
from boostlora.runs.checkpoint import REPORT


def rank_summary(ranks: dict[str, int]) -> str:
    """``min-max`` of a per-module rank map, for one table cell."""
    if not ranks:
        return "-"
    lo, hi = min(ranks.values()), max(ranks.values())
    return str(lo) if lo == hi else f"{lo}-{hi}"


TABLE_HEADER = f"{'round':>5} {'failures':>9} {'train acc':>9} {'eval acc':>8} {'step':>5} {'params':>7} {'rank':>6} {'secs':>7}"


def table_row(record: dict[str, Any]) -> str:
    return (
        f"{record['round']:>5} {record['n_failures']:>9} {record['train_accuracy']:>9.3f} "
        f"{record['eval_accuracy']:>8.3f} {record.get('step_size', 1.0):>5.2g} {record['trainable_params']:>7} "
        f"{rank_summary(record['effective_rank']):>6} {record['seconds']:>7.1f}"
    )


def format_table(report: dict[str, Any]) -> str:
    """The per-round table of a report, with the base model as round '-'."""
    lines = [TABLE_HEADER, f"{'base':>5} {'':>9} {'':>9} {report['base_eval_accuracy']:>8.3f}"]
    lines += [table_row(record) for record in report.get("rounds", [])]
    if report.get("stop_reason"):
        lines.append(f"stopped: {report['stop_reason']}")
    return "\n".join(lines)


def format_time_table(report: dict[str, Any]) -> str:
    """Where the rounds' time went: each phase's seconds over all rounds, its share and its mean per round.

    The objective's own split of training (``seconds_train_by_phase``) is indented under ``train``; ``unmeasured``
    is the rounds' wall time no phase covers. Empty for a report without rounds or without ``seconds_by_phase``
    (written before it existed).
    """
    rounds = [rec for rec in report.get("rounds", []) if rec.get("seconds_by_phase")]
    if not rounds:
        return ""
    total = sum(rec["seconds"] for rec in rounds)
    rows: list[tuple[str, float]] = []
    for name in _ordered_keys(rec["seconds_by_phase"] for rec in rounds):
        rows.append((name, sum(rec["seconds_by_phase"].get(name, 0.0) for rec in rounds)))
        if name == "train":
            for part in _ordered_keys(rec.get("seconds_train_by_phase", {}) for rec in rounds):
                rows.append(("  " + part, sum(rec.get("seconds_train_by_phase", {}).get(part, 0.0) for rec in rounds)))
    measured = sum(seconds for name, seconds in rows if not name.startswith(" "))
    rows.append(("unmeasured", total - measured))
    share = (lambda x: 100 * x / total) if total > 0 else (lambda x: 0.0)
    lines = [f"time by phase over {len(rounds)} round(s), {total:.1f} s in all",
             f"{'phase':<20} {'seconds':>9} {'share':>6} {'per round':>9}"]
    lines += [f"{name:<20} {seconds:>9.2f} {share(seconds):>5.1f}% {seconds / len(rounds):>9.2f}" for name, seconds in rows]
    return "\n".join(lines)


def _ordered_keys(dicts: Any) -> list[str]:
    """The keys of several dicts, each once, in first-seen order."""
    return list(dict.fromkeys(key for d in dicts for key in d))


#: Fields ``boostlora report`` reads, and the JSON types they must have.
REPORT_FIELDS = {"plugin": str, "task": str, "model": str, "strategy": str, "r": int, "u": int,
                 "base_eval_accuracy": (int, float), "rounds": list}
ROUND_FIELDS = {"round": int, "n_failures": int, "train_accuracy": (int, float), "eval_accuracy": (int, float),
                "trainable_params": int, "effective_rank": dict, "seconds": (int, float)}


def read_report(run_dir: Path) -> dict[str, Any]:
    """``report.json`` of a run directory, checked for every field the table and plot read.

    A damaged or hand-edited file is one ``RunDirError`` naming the file and the first bad field, not a
    traceback from deep inside the table code.
    """
    path = Path(run_dir) / REPORT
    if not path.exists():
        raise BoostLoraError(f"{run_dir} has no {REPORT}: is it a boostlora run directory?")
    try:
        report = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise RunDirError(f"{path} is not valid JSON ({exc.msg} at line {exc.lineno})") from exc
    except UnicodeDecodeError as exc:
        raise RunDirError(f"{path} is not text (byte {exc.start} is not UTF-8)") from exc
    problem = _report_problem(report)
    if problem:
        raise RunDirError(f"{path} is not a boostlora report: {problem}")
    return report


def _report_problem(report: Any) -> str | None:
    if not isinstance(report, dict):
        return f"it holds a JSON {type(report).__name__}, not an object"
    problem = _fields_problem(report, REPORT_FIELDS, "")
    if problem:
        return problem
    for i, record in enumerate(report["rounds"]):
        if not isinstance(record, dict):
            return f"'rounds[{i}]' is {record!r}, not an object"
        problem = _fields_problem(record, ROUND_FIELDS, f"rounds[{i}].")
        if problem:
            return problem
        step = record.get("step_size", 1.0)
        if isinstance(step, bool) or not isinstance(step, (int, float)):
            return f"'rounds[{i}].step_size' is {step!r}, not a number"
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in record["effective_rank"].values()):
            return f"'rounds[{i}].effective_rank' holds a value that is not an integer"
        for key in ("seconds_by_phase", "seconds_train_by_phase"):
            parts = record.get(key, {})
            if not isinstance(parts, dict) or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in parts.values()):
                return f"'rounds[{i}].{key}' is not an object of seconds"
    return None


def _fields_problem(record: dict[str, Any], fields: dict[str, Any], where: str) -> str | None:
    for name, kind in fields.items():
        if name not in record:
            return f"'{where}{name}' is missing"
        value = record[name]
        if isinstance(value, bool) or not isinstance(value, kind):
            return f"'{where}{name}' is {value!r}, not {_kind_name(kind)}"
    return None


def _kind_name(kind: type | tuple[type, ...]) -> str:
    names = {int: "an integer", float: "a number", str: "a string", list: "a list", dict: "an object"}
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return "a number" if float in kinds else names[kinds[0]]


def plot_report(report: dict[str, Any], path: Path) -> Path | None:
    """Held-out accuracy and effective rank per round, as one PNG; None when matplotlib is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    rounds = report.get("rounds", [])
    xs = [0] + [rec["round"] + 1 for rec in rounds]
    accuracy = [report["base_eval_accuracy"]] + [rec["eval_accuracy"] for rec in rounds]
    rank = [0] + [max(rec["effective_rank"].values(), default=0) for rec in rounds]
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.5))
    left.plot(xs, accuracy, marker="o")
    left.set(xlabel="rounds merged", ylabel="held-out accuracy", title=f"{report['task']} ({report['strategy']})")
    right.plot(xs, rank, marker="o", color="tab:orange")
    right.set(xlabel="rounds merged", ylabel="rank of the cumulative update (max over modules)", title="effective rank")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
