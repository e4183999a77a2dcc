"""Checks at the plugin boundary: what a plugin hands back is checked where it enters core.

A task or hook that returns the wrong kind of value would otherwise fail far from the cause (a ``bool`` verdict
breaks the failure set, a tensor metric breaks ``report.json`` three rounds later). Each check here raises a
``ConfigError`` of one line naming the plugin's method and what it returned, so the CLI prints it and exits 2.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from boostlora.contract.values import Evaluation, Verdict
from boostlora.foundation.errors import ConfigError


def describe(value: Any, limit: int = 60) -> str:
    """A short ``repr`` with the type, for one-line messages."""
    text = repr(value)
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return f"{text} ({type(value).__name__})"


def _json_default(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    raise TypeError(type(value).__name__)


def is_jsonable(value: Any) -> bool:
    """True when ``json`` can hold ``value``: str, numbers, bool, None, lists, str-keyed dicts, dataclasses of these."""
    try:
        json.dumps(value, default=_json_default)
    except (TypeError, ValueError):
        return False
    return True


def check_verdict(owner: str, value: Any) -> Any:
    """``oracle`` must return a ``Verdict``; a bare bool would make every example look correct or wrong alike."""
    if not isinstance(value, Verdict):
        raise ConfigError(f"{owner}: oracle() returned {describe(value)}; it must return a boostlora.Verdict")
    return value


def check_predictions(owner: str, predictions: Any, count: int, method: str = "predict") -> list[Any]:
    """One JSON-holdable answer per example: predictions are gathered across processes and read by reports."""
    if isinstance(predictions, (str, bytes, Mapping)) or not isinstance(predictions, Sequence):
        raise ConfigError(f"{owner}: {method}() returned {describe(predictions)}; it must return a list of answers")
    if len(predictions) != count:
        raise ConfigError(f"{owner}: {method}() returned {len(predictions)} answers for {count} examples")
    for i, prediction in enumerate(predictions):
        if not is_jsonable(prediction):
            raise ConfigError(
                f"{owner}: {method}() returned {describe(prediction)} for example {i}; answers must be something JSON "
                "can hold (str, numbers, lists, dicts, dataclasses of these)"
            )
    return list(predictions)


def check_metrics(owner: str, metrics: Any, method: str = "metrics") -> dict[str, Any]:
    """A str-keyed mapping that ``report.json`` can hold."""
    if not isinstance(metrics, Mapping):
        raise ConfigError(f"{owner}: {method}() returned {describe(metrics)}; it must return a dict of named numbers")
    for key, value in metrics.items():
        if not isinstance(key, str) or not is_jsonable(value):
            raise ConfigError(
                f"{owner}: {method}() returned {key!r}: {describe(value)}; metrics must be str keys with values JSON can "
                "hold (use float(x) for tensors and numpy numbers)"
            )
    return dict(metrics)


def check_reward(owner: str, value: Any) -> float:
    """``reward`` must be one finite real number: it is averaged into advantages, where None or NaN would either stop
    training deep inside the trainer or silently poison every advantage of its group."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        if not (isinstance(value, torch.Tensor) and value.numel() == 1 and math.isfinite(float(value))):
            raise ConfigError(f"{owner}: reward() returned {describe(value)}; it must return a finite number "
                              "(usually oracle(example, completion).reward)")
    return float(value)


def check_loss(owner: str, value: Any) -> torch.Tensor:
    """``loss`` must be one floating-point number as a tensor, so an objective can call ``backward`` on it."""
    if not isinstance(value, torch.Tensor) or value.numel() != 1 or not value.is_floating_point():
        shape = f" of shape {tuple(value.shape)}" if isinstance(value, torch.Tensor) else ""
        raise ConfigError(
            f"{owner}: loss() returned {describe(value)}{shape}; it must return a scalar floating-point tensor "
            "(the mean loss over the examples)"
        )
    return value


def check_evaluation(owner: str, evaluation: Any, count: int) -> Any:
    """What ``Task.evaluate`` returns, whole: an ``Evaluation`` with one prediction and one verdict per example."""
    if not isinstance(evaluation, Evaluation):
        raise ConfigError(f"{owner}: evaluate() returned {describe(evaluation)}; it must return a boostlora.Evaluation")
    check_predictions(owner, evaluation.predictions, count, "evaluate")
    if len(evaluation.verdicts) != count:
        raise ConfigError(f"{owner}: evaluate() returned {len(evaluation.verdicts)} verdicts for {count} examples")
    for verdict in evaluation.verdicts:
        if not isinstance(verdict, Verdict):
            raise ConfigError(f"{owner}: evaluate() returned a verdict {describe(verdict)}; verdicts must be boostlora.Verdict")
    check_metrics(owner, evaluation.metrics, "evaluate")
    return evaluation


def check_extra_state(owner: str, extra: Any, state_names: set[str]) -> dict[str, torch.Tensor]:
    """``extra_state`` maps the model's own state-dict names to tensors: that is how a resume loads them back."""
    if not isinstance(extra, Mapping):
        raise ConfigError(f"{owner}: extra_state() returned {describe(extra)}; it must return a dict of tensors")
    for key, value in extra.items():
        if not isinstance(value, torch.Tensor):
            raise ConfigError(f"{owner}: extra_state() returned {key!r}: {describe(value)}; values must be tensors")
        if key not in state_names:
            raise ConfigError(
                f"{owner}: extra_state() returned {key!r}, which is not a name in the model's state_dict(): a resumed "
                "run loads these tensors back by name"
            )
    return dict(extra)


def check_stop_reason(plugin: str, value: Any) -> str | None:
    """``boostlora_round_end`` returns None (go on), or a reason string or True (stop); anything else is a mistake."""
    if value is None or value is False or value == "":
        return None
    if value is True:
        return f"plugin '{plugin}' asked to stop (its boostlora_round_end returned True)"
    if isinstance(value, str):
        return value
    raise ConfigError(
        f"plugin '{plugin}': boostlora_round_end returned {describe(value)}; return None to go on, or a reason "
        "string (or True) to stop"
    )


def fingerprint(model: torch.nn.Module) -> dict[str, tuple[Any, ...]]:
    """Per state-dict entry: shape, dtype and two float64 sums, computed where the tensor lives.

    Cheap enough to take before and after ``prepare`` (reductions in bounded chunks, on the tensor's device); a fitted
    tensor that keeps both its sum and its sum of squares is not a realistic accident.
    """
    prints = {}
    with torch.no_grad():
        for name, tensor in model.state_dict(keep_vars=True).items():
            t = tensor.detach()
            total = squares = 0.0
            for chunk in t.reshape(-1).split(1 << 22):  # bounded float64 copies, even for a large embedding
                d = (chunk.abs() if chunk.is_complex() else chunk).double()
                total += d.sum().item()
                squares += (d * d).sum().item()
            prints[name] = (tuple(t.shape), t.dtype, total.hex(), squares.hex())
    return prints


def check_prepare_kept(owner: str, before: dict[str, tuple[Any, ...]], after: dict[str, tuple[Any, ...]],
                       extra: Mapping[str, Any]) -> None:
    """Refuse a task whose ``prepare`` changed tensors that ``extra_state`` does not return.

    ``prepare`` runs once, before the base evaluation; a resumed run does not run it again but loads what
    ``extra_state`` returned into the freshly loaded model. A tensor changed and not returned would silently
    be lost on ``--resume`` (a fitted head back to its random init), so the run stops before writing anything.
    """
    changed = sorted(name for name, print_ in after.items() if before.get(name) != print_ and name not in extra)
    if changed:
        shown = ", ".join(changed[:3]) + (f" and {len(changed) - 3} more" if len(changed) > 3 else "")
        raise ConfigError(
            f"{owner}: prepare() changed {shown}, but extra_state() does not return it; a resumed run would lose it. "
            "Return every tensor prepare() changes from extra_state(model), keyed by its state_dict name"
        )


def check_prompt(owner: str, value: Any) -> Any:
    """``prompt`` returns plain text or chat messages (a list of {"role", "content"} dicts)."""
    messages = isinstance(value, list) and all(isinstance(m, Mapping) and "role" in m and "content" in m for m in value)
    if not (isinstance(value, str) or (messages and value)):
        raise ConfigError(
            f"{owner}: prompt() returned {describe(value)}; it must return a string or a list of chat messages "
            '({"role": ..., "content": ...})'
        )
    return value


def check_text(owner: str, method: str, value: Any) -> str:
    """Methods that hand the trainer text (``reference``) must return a string."""
    if not isinstance(value, str):
        raise ConfigError(f"{owner}: {method}() returned {describe(value)}; it must return a string")
    return value
