"""Answer checking: a pure function of (reference answer, completion), never raising on bad completions.

Two families, as in lm-evaluation-harness and the TinyLoRA reproductions:

* numeric answers (GSM8K, arithmetic): two extractors side by side, because on instruction-tuned models the
  extractor alone moves GSM8K scores by 15 points. ``strict`` takes the number after ``#### ``; ``flexible``
  takes the last number in the text. Numbers are compared exactly as rationals after removing thousands
  separators, ``$`` and a trailing ``.`` (so ``1,000`` == ``1000.00`` and ``\\frac{1}{2}`` == ``0.5``).
* LaTeX answers (MATH): ``math-verify`` on the ``\\boxed{}`` answer. Its own timeouts use SIGALRM, which only
  works on the main thread, so off the main thread we run it in a worker thread and give up after a deadline.
"""

from __future__ import annotations

import concurrent.futures
import logging
import re
import threading
from fractions import Fraction

# lm-evaluation-harness's GSM8K patterns (strict-match and flexible-extract).
STRICT_PATTERN = re.compile(r"#### (\-?[0-9\.\,]+)")
# A LaTeX fraction is tried first so ``\\frac{1}{2}`` is one answer, not the number 2.
FLEXIBLE_PATTERN = re.compile(r"(-?\\d?frac\{-?\d+\}\{-?\d+\})|(-?[$0-9.,]{2,})|(-?[0-9]+)")
_FRAC_PATTERN = re.compile(r"^(-?)\\d?frac\{(-?\d+)\}\{(-?\d+)\}$")
_SLASH_PATTERN = re.compile(r"^(-?\d+)\s*/\s*(-?\d+)$")


def to_number(text: str | None) -> Fraction | None:
    """An exact rational from an answer string, or None when it is not a plain number.

    Accepts ``-12``, ``1,000``, ``$5``, ``3.50``, ``7.`` (sentence end), ``1/2``, ``\\frac{1}{2}``.
    """
    if text is None:
        return None
    s = text.strip().replace(",", "").replace("$", "").replace(" ", "")
    s = s.rstrip(".")
    if s.startswith("\\boxed{") and s.endswith("}"):
        s = s[len("\\boxed{") : -1]
    match = _FRAC_PATTERN.match(s) or _SLASH_PATTERN.match(s)
    if match:
        groups = match.groups()
        sign = -1 if len(groups) == 3 and groups[0] == "-" else 1
        num, den = int(groups[-2]), int(groups[-1])
        return None if den == 0 else sign * Fraction(num, den)
    try:
        return Fraction(s)
    except (ValueError, ZeroDivisionError):
        return None


def extract_strict(completion: str) -> str | None:
    """The number after the first ``#### `` marker, or None."""
    match = STRICT_PATTERN.search(completion)
    return match.group(1) if match else None


def extract_flexible(completion: str) -> str | None:
    """The last number-like token in the completion (lm-eval's flexible-extract), or None."""
    for groups in reversed(FLEXIBLE_PATTERN.findall(completion)):
        token = next((g for g in groups if g), "")
        if to_number(token) is not None:
            return token
    return None


EXTRACTORS = {"strict": extract_strict, "flexible": extract_flexible}


def numbers_equal(reference: str, candidate: str | None) -> bool:
    """Exact rational equality; False when either side is not a number."""
    ref, got = to_number(reference), to_number(candidate)
    return ref is not None and got is not None and ref == got


def check_numeric(reference: str, completion: str, extractor: str) -> tuple[bool, str | None]:
    """(correct, extracted answer) with the named extractor (``strict`` or ``flexible``)."""
    extracted = EXTRACTORS[extractor](completion)
    return numbers_equal(reference, extracted), extracted


# -- LaTeX answers through math-verify -------------------------------------------------------------------------

_POOL: concurrent.futures.ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def _pool() -> concurrent.futures.ThreadPoolExecutor:
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="math-verify")
        return _POOL


def _verify(reference: str, completion: str, use_signals: bool, timeout: int) -> bool:
    from math_verify import parse, verify

    limit = timeout if use_signals else None  # math-verify's SIGALRM timeouts need the main thread
    if not use_signals:  # we enforce the deadline ourselves; its "timeout is disabled" warning is noise here
        logging.getLogger("math_verify").setLevel(logging.ERROR)
    gold = parse(reference if "$" in reference or "\\boxed" in reference else f"${reference}$", parsing_timeout=limit)
    pred = parse(completion, parsing_timeout=limit)
    return bool(gold) and bool(pred) and bool(verify(gold, pred, timeout_seconds=limit))


def check_latex(reference: str, completion: str, timeout: int = 5) -> bool:
    """math-verify equivalence of the completion's final (boxed) answer with ``reference``.

    On the main thread math-verify enforces ``timeout`` itself; elsewhere (a DataLoader worker, a reward
    thread) the check runs in a worker thread and counts as wrong when it has not finished by the deadline.
    """
    try:
        if threading.current_thread() is threading.main_thread():
            return _verify(reference, completion, True, timeout)
        future = _pool().submit(_verify, reference, completion, False, timeout)
        return future.result(timeout=timeout)
    except concurrent.futures.TimeoutError:
        return False
    except Exception:  # a malformed completion is a wrong answer, never a crash
        return False


def extract_boxed(completion: str) -> str | None:
    """Contents of the last ``\\boxed{...}`` (balanced braces), or None."""
    start = completion.rfind("\\boxed{")
    if start == -1:
        return None
    depth, i = 0, start + len("\\boxed")
    for j in range(i, len(completion)):
        if completion[j] == "{":
            depth += 1
        elif completion[j] == "}":
            depth -= 1
            if depth == 0:
                return completion[i + 1 : j]
    return None
