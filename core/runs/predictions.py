"""What the model answered: every evaluation's predictions and verdicts, kept beside report.json.

``report.json`` holds 0/1 verdicts only, enough for paired statistics. To see *what* a round got right or wrong,
each evaluation a run makes (the base model and every round, on the validation and the held-out split) is
written as ``predictions/<label>-<split>.json.gz``: one entry per example, in the split's order, with a short
description of the example, the prediction, the verdict and its detail. ``boostlora report DIR --examples N``
reads them back.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from boostlora.contract.values import Evaluation
from boostlora.foundation.errors import RunDirError
from boostlora.runs import checkpoint as ckpt
from boostlora.runs.rundir import check_claimed

#: Characters of an example's ``repr`` kept to show it: enough to recognise a question, not a copy of the data.
EXAMPLE_CHARS = 400


def file_name(label: str, split: str) -> str:
    """``base-validation.json.gz``, ``round-3-eval.json.gz``: one file per evaluation."""
    return f"{label}-{split}.json.gz"


def save_predictions(run_dir: Path, label: str, split: str, examples: Sequence[Any], evaluation: Evaluation) -> None:
    """Write one evaluation's predictions and verdicts (atomically, like every file of a run directory)."""
    entries = [
        {
            "example": repr(example)[:EXAMPLE_CHARS],
            "prediction": prediction,
            "correct": bool(verdict.correct),
            "score": verdict.score,
            "detail": verdict.detail,
        }
        for example, prediction, verdict in zip(examples, evaluation.predictions, evaluation.verdicts)
    ]
    check_claimed(Path(run_dir))  # never into a directory that replaced the claimed one
    folder = Path(run_dir) / ckpt.PREDICTIONS
    folder.mkdir(exist_ok=True)
    data = gzip.compress(json.dumps(entries, default=str).encode(), mtime=0)
    ckpt.write_bytes(folder / file_name(label, split), data)


def load_predictions(run_dir: Path, label: str, split: str) -> list[dict[str, Any]] | None:
    """The entries ``save_predictions`` wrote, or None when that evaluation was not kept (older runs)."""
    path = Path(run_dir) / ckpt.PREDICTIONS / file_name(label, split)
    if not path.exists():
        return None
    try:
        return json.loads(gzip.decompress(path.read_bytes()))
    except (OSError, EOFError, ValueError) as exc:
        raise RunDirError(f"{path} is damaged ({exc}): it cannot be read back") from exc


def format_examples(run_dir: Path, report: dict[str, Any], count: int) -> str:
    """Up to ``count`` held-out examples with the base model's and the kept round's answers, flips first (items
    the kept round gained, then items it lost), then others in split order."""
    kept = report.get("kept_round")
    label = "base" if kept is None else f"round-{kept}"
    base, after = load_predictions(run_dir, "base", "eval"), load_predictions(run_dir, label, "eval")
    if base is None or after is None:
        return f"no saved predictions in {Path(run_dir) / ckpt.PREDICTIONS} (the run predates them, or has not started)"
    gained = [i for i, (b, a) in enumerate(zip(base, after)) if a["correct"] and not b["correct"]]
    lost = [i for i, (b, a) in enumerate(zip(base, after)) if b["correct"] and not a["correct"]]
    rest = [i for i in range(len(after)) if i not in set(gained) | set(lost)]
    name = "base" if kept is None else f"round {kept}"
    lines = [f"held-out examples, base vs the kept model ({name}): {len(gained)} gained, {len(lost)} lost"]
    for i in (gained + lost + rest)[:count]:
        tag = "gained" if i in gained else "lost" if i in lost else "same"
        lines.append(f"[{i}] {tag}: {one_line(after[i]['example'])}")
        for who, entry in (("base", base[i]), (name, after[i])):
            verdict = "correct" if entry["correct"] else "wrong"
            detail = f" ({one_line(entry['detail'], 80)})" if entry.get("detail") else ""
            lines.append(f"    {who:>9}: {verdict}{detail}: {one_line(str(entry['prediction']))}")
    return "\n".join(lines)


def one_line(text: str, limit: int = 160) -> str:
    """``text`` on one line, without control characters, cut to ``limit`` characters."""
    flat = " ".join("".join(ch if ch.isprintable() else " " for ch in str(text)).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."
