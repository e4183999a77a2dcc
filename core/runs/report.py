"""What a run tells the world: per-round records, report.json, the per-round table and plots."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from boostlora.foundation.errors import BoostLoraError, RunDirError
from boostlora.foundation.stats import paired_comparison, wilson_interval
from boostlora.runs.checkpoint import REPORT


def rank_summary(ranks: dict[str, int]) -> str:
    """``min-max`` of a per-module rank map, for one table cell."""
    if not ranks:
        return "-"
    lo, hi = min(ranks.values()), max(ranks.values())
    return str(lo) if lo == hi else f"{lo}-{hi}"


def metric_names(report: dict[str, Any]) -> list[str]:
    """The task's own numeric held-out metrics (strict and flexible match, AUROC, pass@k ...), as table columns."""
    metrics = report.get("base_eval_metrics") or {}
    return [name for name, value in metrics.items() if isinstance(value, (int, float)) and not isinstance(value, bool)]


def accuracy_cell(verdicts: list[int] | None, accuracy: float | None) -> str:
    """``0.482 [0.38,0.59]``: an accuracy with its Wilson 95% interval over the split's items."""
    if accuracy is None:
        return "-"
    if not verdicts:
        return f"{accuracy:.3f}"
    interval = wilson_interval(sum(verdicts), len(verdicts))
    return f"{accuracy:.3f} [{interval.low:.2f},{interval.high:.2f}]"


def table_header(metrics: list[str]) -> str:
    extra = "".join(f" {name[:12]:>12}" for name in metrics)
    return (f"{'round':>5} {'failures':>8} {'train acc':>9} {'validation acc':>20} {'test acc':>20} {'test +/-':>9} "
            f"{'step':>5} {'params':>7} {'rank':>6} {'secs':>7}{extra}  notes")


def table_row(record: dict[str, Any], previous: dict[str, Any] | None = None, metrics: list[str] | None = None,
              kept: bool = False) -> str:
    """One round; ``previous`` (the round before, or the base as a record) gives the test items gained and lost and
    whether validation went down."""
    previous = previous or {}
    before, after = previous.get("eval_verdicts") or [], record.get("eval_verdicts") or []
    changed = "-"
    if before and len(before) == len(after):
        gained = sum(1 for b, a in zip(before, after) if a and not b)
        lost = sum(1 for b, a in zip(before, after) if b and not a)
        changed = f"+{gained}/-{lost}"
    notes = []
    if kept:
        notes.append("kept")
    val, val_before = record.get("validation_accuracy"), previous.get("validation_accuracy")
    if val is not None and val_before is not None and val < val_before:
        notes.append("lost on validation")
    if record.get("no_signal"):
        notes.append("no learning signal")
    extra = "".join(f" {record.get('eval_metrics', {}).get(name, float('nan')):>12.3f}" for name in metrics or [])
    return (
        f"{record['round']:>5} {record['n_failures']:>8} {record['train_accuracy']:>9.3f} "
        f"{accuracy_cell(record.get('validation_verdicts'), val):>20} "
        f"{accuracy_cell(record.get('eval_verdicts'), record['eval_accuracy']):>20} {changed:>9} "
        f"{record.get('step_size', 1.0):>5.2g} {record['trainable_params']:>7} "
        f"{rank_summary(record['effective_rank']):>6} {record['seconds']:>7.1f}{extra}  {', '.join(notes)}".rstrip()
    )


def base_record(report: dict[str, Any]) -> dict[str, Any]:
    """The base model's evaluations in a round record's shape, as the 'previous round' of round 0."""
    return {
        "eval_verdicts": report.get("base_eval_verdicts"),
        "eval_accuracy": report["base_eval_accuracy"],
        "eval_metrics": report.get("base_eval_metrics") or {},
        "validation_verdicts": report.get("base_validation_verdicts"),
        "validation_accuracy": report.get("base_validation_accuracy"),
    }


def format_table(report: dict[str, Any]) -> str:
    """The per-round table of a report, with the base model as its first row.

    Accuracies carry Wilson 95% intervals over the split's items; ``test +/-`` counts held-out items gained and
    lost against the row above; notes mark the kept round, rounds that lost on validation, and rounds with no
    learning signal.
    """
    metrics = metric_names(report)
    base = base_record(report)
    kept = report.get("kept_round", "unset")
    base_extra = "".join(f" {base['eval_metrics'].get(name, float('nan')):>12.3f}" for name in metrics)
    base_note = "  kept" if kept is None and report.get("rounds") else ""
    lines = [table_header(metrics),
             f"{'base':>5} {'':>8} {'':>9} {accuracy_cell(base['validation_verdicts'], base['validation_accuracy']):>20} "
             f"{accuracy_cell(base['eval_verdicts'], base['eval_accuracy']):>20} {'':>9} {'':>5} {'':>7} {'':>6} {'':>7}"
             f"{base_extra}{base_note}".rstrip()]
    previous = base
    for record in report.get("rounds", []):
        lines.append(table_row(record, previous, metrics, kept=record["round"] == kept))
        previous = record
    if report.get("stop_reason"):
        lines.append(f"stopped: {report['stop_reason']}")
    return "\n".join(lines)


def summary_lines(report: dict[str, Any]) -> list[str]:
    """Did boosting help? The base model against the kept one on the held-out split, paired over its items, and
    which model the run kept and why. Empty before a run has finished."""
    if "kept_round" not in report:
        return []
    kept = report["kept_round"]
    record = report["rounds"][kept] if kept is not None else base_record(report)
    base_verdicts = report.get("base_eval_verdicts") or []
    kept_verdicts = record.get("eval_verdicts") or []
    name = f"round {kept}" if kept is not None else "the base model"
    head = f"test: base {report['base_eval_accuracy']:.3f} -> {name} {record['eval_accuracy']:.3f}"
    if base_verdicts and len(base_verdicts) == len(kept_verdicts):
        head += ": " + paired_comparison(base_verdicts, kept_verdicts).describe()
    lines = [head, f"kept: {report.get('kept_reason', name)}"]
    flagged = [rec["round"] for rec in report.get("rounds", []) if rec.get("no_signal")]
    if flagged:
        lines.append(f"no learning signal in round(s) {', '.join(map(str, flagged))}: see the warning printed by the run")
    return lines


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
    peaks = {name: max((rec.get("peak_rss_mb_by_phase") or {}).get(name, 0.0) for rec in rounds) for name, _ in rows}
    lines = [f"time and peak memory by phase over {len(rounds)} round(s), {total:.1f} s in all",
             f"{'phase':<20} {'seconds':>9} {'share':>6} {'per round':>9} {'peak MiB':>9}"]
    lines += [f"{name:<20} {seconds:>9.2f} {share(seconds):>5.1f}% {seconds / len(rounds):>9.2f} "
              f"{peaks.get(name) or '-':>9}" for name, seconds in rows]
    inside = {}
    for rec in rounds:
        for name, peak in (rec.get("peak_rss_mb_train_by_phase") or {}).items():
            inside[name] = max(inside.get(name, 0.0), peak)
    if inside:
        lines.append("peak MiB inside train: " + ", ".join(f"{name} {peak}" for name, peak in inside.items()))
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
    """Validation and held-out accuracy per round with Wilson 95% intervals, and the effective rank, as one PNG;
    None when matplotlib is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.ticker import MaxNLocator
    except ImportError:
        return None
    records = [base_record(report), *report.get("rounds", [])]
    xs = list(range(len(records)))
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for key, label, offset in (("validation", "validation", -0.05), ("eval", "held-out (test)", 0.05)):
        points = [(x + offset, rec.get(f"{key}_accuracy"), rec.get(f"{key}_verdicts")) for x, rec in zip(xs, records)]
        points = [(x, acc, verdicts) for x, acc, verdicts in points if acc is not None]
        if not points:
            continue
        intervals = [wilson_interval(sum(v), len(v)) if v else None for _, _, v in points]
        low = [acc - i.low if i else 0.0 for (_, acc, _), i in zip(points, intervals)]
        high = [i.high - acc if i else 0.0 for (_, acc, _), i in zip(points, intervals)]
        left.errorbar([x for x, _, _ in points], [acc for _, acc, _ in points], yerr=[low, high], marker="o",
                      capsize=3, label=label)
    kept = report.get("kept_round", "unset")
    if kept != "unset":
        left.axvline(0 if kept is None else kept + 1, color="grey", linestyle=":", label="kept")
    left.set(xlabel="rounds merged", ylabel="accuracy (95% interval)", title=f"{report['task']} ({report['strategy']})")
    left.legend(loc="best", fontsize="small")
    rank = [0] + [max(rec["effective_rank"].values(), default=0) for rec in report.get("rounds", [])]
    right.plot(xs, rank, marker="o", color="tab:orange")
    right.set(xlabel="rounds merged", ylabel="rank of the update (max over modules)", title="effective rank")
    for axis in (left, right):
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
    right.yaxis.set_major_locator(MaxNLocator(integer=True))
    fig.tight_layout()
    try:
        fig.savefig(path, dpi=120)
    finally:
        plt.close(fig)
    return path
