"""Where math problems come from: reasoning-gym generators (offline), hub datasets, local files.

Every source ends as a list of ``MathExample``: the question, the final answer the oracle compares against,
an optional worked solution (the SFT reference) and the answer's kind (``numeric`` or ``latex``). The field
mapping says which columns hold question/answer/solution, so any JSONL/CSV/parquet with a question and an
answer column works without code.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from boostlora import ConfigError, DataError

from .oracle import extract_boxed

REASONING_GYM_PREFIX = "reasoning_gym:"
FILE_SUFFIXES = {".jsonl": "json", ".json": "json", ".csv": "csv", ".parquet": "parquet"}


@dataclass(frozen=True)
class HubSource:
    """A known hub dataset: its name, config, default fields and answer kind."""

    path: str
    config: str | None
    fields: Mapping[str, str | None]
    kind: str


#: Short names for the datasets the paper uses. ``math-train`` is a MATH training set for the MATH-500 runs.
HUB_ALIASES: dict[str, HubSource] = {
    "gsm8k": HubSource("openai/gsm8k", "main", {"question": "question", "answer": None, "solution": "answer"}, "numeric"),
    "math500": HubSource("HuggingFaceH4/MATH-500", None, {"question": "problem", "answer": "answer", "solution": "solution"}, "latex"),
    "math-train": HubSource(
        "DigitalLearningGmbH/MATH-lighteval", "default", {"question": "problem", "answer": None, "solution": "solution"}, "latex"
    ),
}


@dataclass(frozen=True)
class MathExample:
    """One problem. ``answer`` is the final answer only; ``solution`` the worked reference, when known."""

    question: str
    answer: str
    solution: str | None = None
    kind: str = "numeric"


_CALCULATOR = re.compile(r"<<[^>]*>>")


def gsm8k_final_answer(solution: str) -> str | None:
    """GSM8K puts the final answer after ``####`` at the end of the worked solution."""
    _, sep, tail = solution.rpartition("####")
    return tail.strip().replace(",", "") if sep else None


def clean_solution(solution: str) -> str:
    """GSM8K solutions carry ``<<48/2=24>>`` calculator annotations; a model should not learn to write them."""
    return _CALCULATOR.sub("", solution)


def from_reasoning_gym(name: str, size: int, seed: int, options: Mapping[str, Any]) -> list[MathExample]:
    """``size`` problems from the reasoning-gym generator ``name`` (deterministic in ``seed``)."""
    import reasoning_gym

    try:
        dataset = reasoning_gym.create_dataset(name, size=size, seed=seed, **dict(options))
    except (KeyError, ValueError, TypeError, AssertionError) as exc:
        raise ConfigError(f"reasoning-gym cannot make dataset '{name}' with options {dict(options)}: {exc}") from exc
    examples = []
    for item in dataset:
        cot = (item.get("metadata") or {}).get("answer_cot")
        solution = f"{cot}\n#### {item['answer']}" if cot else None
        examples.append(MathExample(item["question"], str(item["answer"]), solution, "numeric"))
    return examples


def _open_local(path: Path, split: str) -> Any:
    """A ``datasets`` split from a file, a folder of split files, or a ``save_to_disk`` folder."""
    import datasets

    if path.is_file():
        builder = FILE_SUFFIXES.get(path.suffix.lower())
        if builder is None:
            raise ConfigError(f"cannot read {path}: use one of {', '.join(FILE_SUFFIXES)}")
        return datasets.load_dataset(builder, data_files=str(path), split="train")
    if (path / "dataset_dict.json").is_file() or (path / "state.json").is_file():
        loaded = datasets.load_from_disk(str(path))
        if isinstance(loaded, datasets.DatasetDict):
            if split not in loaded:
                raise DataError(f"{path} has no split '{split}' (it has {', '.join(loaded)})")
            return loaded[split]
        return loaded
    return _load_split(str(path), None, split)


def _load_split(name: str, config: str | None, split: str) -> Any:
    import datasets

    try:
        return datasets.load_dataset(name, config, split=split)
    except ValueError as exc:
        if "split" in str(exc).lower():
            raise DataError(f"dataset '{name}' has no split '{split}': {exc}".splitlines()[0]) from exc
        raise
    except Exception as exc:  # offline hub access fails in many shapes (ConnectionError, OSError, HfHubHTTPError)
        raise DataError(
            f"cannot load dataset '{name}' (split '{split}'): {type(exc).__name__}. Offline? Download it where there "
            "is network, then point dataset= at a local JSONL/CSV/parquet file or folder and map its columns with "
            "fields={question: ..., answer: ...}"
        ) from exc


def from_table(
    rows: Any, fields: Mapping[str, str | None], kind: str, source: str, limit: int | None = None
) -> list[MathExample]:
    """Map table rows to examples. The answer may come from its own column or from the solution's end."""
    columns = set(getattr(rows, "column_names", None) or (rows[0].keys() if len(rows) else ()))
    wanted = {role: col for role, col in fields.items() if col}
    missing = sorted(f"{role}='{col}'" for role, col in wanted.items() if col not in columns)
    if missing:
        raise DataError(
            f"{source} lacks mapped column(s) {', '.join(missing)}; its columns are {', '.join(sorted(columns))} "
            "(set task_options.fields to map them)"
        )
    if not wanted.get("question"):
        raise ConfigError("fields.question must name the column that holds the problem text")
    if not wanted.get("answer") and not wanted.get("solution"):
        raise ConfigError("fields must name an answer column, or a solution column the answer can be read from")
    examples = []
    for i, row in enumerate(rows):
        if limit is not None and len(examples) >= limit:
            break
        solution = str(row[wanted["solution"]]) if wanted.get("solution") else None
        if wanted.get("answer"):
            answer = str(row[wanted["answer"]])
        else:
            answer = gsm8k_final_answer(solution) if kind == "numeric" else extract_boxed(solution)
        if answer is None or not str(row[wanted["question"]]).strip():
            raise DataError(f"{source} row {i} has no usable question or final answer")
        if solution is not None and kind == "numeric":
            solution = clean_solution(solution)
        examples.append(MathExample(str(row[wanted["question"]]), answer.strip(), solution, kind))
    if not examples:
        raise DataError(f"{source} has no rows")
    return examples


def load_examples(
    dataset: str,
    split: str,
    *,
    size: int | None,
    seed: int,
    fields: Mapping[str, str | None] | None,
    kind: str,
    config: str | None = None,
    generator_options: Mapping[str, Any] | None = None,
) -> list[MathExample]:
    """Examples from ``dataset``: ``reasoning_gym:NAME``, a hub alias/name, or a local path.

    ``kind`` ``auto`` picks the alias's kind (``numeric`` otherwise). For generators ``split`` only varies the
    seed, so train and held-out problems are drawn independently.
    """
    if dataset.startswith(REASONING_GYM_PREFIX):
        offset = {"train": 0, "test": 1, "validation": 2}.get(split, 3) * 1_000_003
        return from_reasoning_gym(dataset[len(REASONING_GYM_PREFIX):], size or 256, seed + offset, generator_options or {})
    alias = HUB_ALIASES.get(dataset)
    if kind == "auto":
        kind = alias.kind if alias else "numeric"
    mapping = dict(alias.fields) if alias else {"question": "question", "answer": "answer", "solution": None}
    mapping.update(fields or {})
    local = Path(dataset).expanduser()
    if local.exists():
        rows = _open_local(local, split)
    elif alias is not None:
        rows = _load_split(alias.path, config or alias.config, split)
    elif Path(dataset).suffix.lower() in FILE_SUFFIXES or dataset.startswith((".", "/", "~")):
        raise DataError(f"dataset file {dataset} does not exist")
    else:
        rows = _load_split(dataset, config, split)
    return from_table(rows, mapping, kind, f"dataset '{dataset}' split '{split}'", size)


def drop_overlap(train: Sequence[MathExample], held_out: Sequence[MathExample]) -> list[MathExample]:
    """Held-out problems that do not also appear in train (generators can repeat small problem spaces)."""
    seen = {ex.question for ex in train}
    return [ex for ex in held_out if ex.question not in seen]


def normalise_question(question: str) -> str:
    """What makes two questions the same problem: the text with runs of whitespace collapsed, case folded.

    Generators write one problem the same way every time, so this only guards against files and hub datasets that
    differ in spacing or capitalisation; the prompt a model sees is otherwise the same.
    """
    return " ".join(question.split()).casefold()


def distinct_indices(held_out: Sequence[MathExample], excluded: Sequence[MathExample]) -> list[int]:
    """Positions of the held-out problems a distinct evaluation keeps, in their order.

    Each question is kept once, at its first occurrence, and not at all when it also appears (normalised) in
    ``excluded``. Repeated questions would be judged once per copy, so a one-seed standard error computed as if
    items were independent would be too small; a question also seen in a validation split lets the settings chosen
    there be scored on it again. The rule depends only on the lists, so the same positions can be applied to
    verdicts saved for the unfiltered split (``benchmarks/check_results.py`` does that).
    """
    seen = {normalise_question(ex.question) for ex in excluded}
    kept = []
    for i, example in enumerate(held_out):
        key = normalise_question(example.question)
        if key not in seen:
            seen.add(key)
            kept.append(i)
    return kept
