"""docs/plugins.md, the plugin author's reference, stays in step with the code it documents.

Every hook in ``hookspecs.py``, every public ``Task``, ``CausalLMTask`` and ``Objective`` method and every capability
method is documented with its exact signature; nothing documented is missing from the code; every class attribute of
``Task`` and every field hooks receive is named; and the typed-options example runs.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
from pathlib import Path

import pytest

from boostlora import CausalLMTask, ConfigError, GenerativeTask, Objective, ReferenceTask, RoundRecord, RunView, SupervisedTask, Task
from boostlora.contract import hookspecs

DOC = (Path(__file__).resolve().parent.parent / "docs" / "plugins.md").read_text()


def signature(fn) -> str:
    params = []
    for p in inspect.signature(fn).parameters.values():
        if p.name == "self":
            continue
        params.append(p.name if p.default is inspect.Parameter.empty else f"{p.name}={p.default!r}")
    return f"{fn.__name__}({', '.join(params)})"


def public_methods(cls: type) -> dict[str, str]:
    return {name: signature(fn) for name, fn in vars(cls).items() if inspect.isfunction(fn) and not name.startswith("_")}


def code_methods() -> dict[str, str]:
    found = {name: signature(fn) for name, fn in inspect.getmembers(hookspecs, inspect.isfunction) if name.startswith("boostlora_")}
    for cls in (Task, SupervisedTask, GenerativeTask, ReferenceTask, CausalLMTask, Objective):
        found.update(public_methods(cls))
    return found


def documented() -> dict[str, str]:
    """``name(args)`` from every ``###``/``####`` heading that documents a callable."""
    entries = re.findall(r"^#{3,4} `([a-z_]+)\(([^)]*)\)`", DOC, flags=re.M)
    return {name: f"{name}({args})" for name, args in entries}


def test_every_hook_and_method_is_documented_with_its_signature():
    docs = documented()
    for name, sig in code_methods().items():
        assert name in docs, f"docs/plugins.md does not document {sig}"
        assert docs[name] == sig, f"docs/plugins.md says {docs[name]}, the code says {sig}"


def test_nothing_documented_is_missing_from_the_code():
    assert set(documented()) <= set(code_methods()), sorted(set(documented()) - set(code_methods()))


def test_task_class_attributes_are_documented():
    attributes = [name for name in Task.__annotations__ if not name.startswith("_")]
    assert "name" in attributes and "Options" in attributes
    for name in attributes:
        assert f"| `{name}` |" in DOC, f"Task.{name} is not in the attribute table of docs/plugins.md"


@pytest.mark.parametrize("cls", [RoundRecord, RunView])
def test_what_hooks_receive_is_documented(cls):
    names = [f.name for f in dataclasses.fields(cls)] + [n for n, v in vars(cls).items() if isinstance(v, property)]
    for name in names:
        assert f"`{name}`" in DOC, f"{cls.__name__}.{name} is not documented in docs/plugins.md"


def test_the_typed_options_example_runs():
    (source,) = [block for block in re.findall(r"```python\n(.*?)```", DOC, flags=re.S) if "SentimentOptions" in block]
    namespace: dict = {}
    exec(compile(source, "docs/plugins.md", "exec"), namespace)
    options = namespace["SentimentOptions"].build({"max_length": 64}, "task 'sentiment'", "task_options")
    assert options["max_length"] == 64 and options.labels == ["negative", "positive"]
    with pytest.raises(ConfigError, match="task_options.max_length must be an integer, got 'long'"):
        namespace["SentimentOptions"].build({"max_length": "long"}, "task 'sentiment'", "task_options")
    with pytest.raises(ConfigError, match="task option max_length must be positive"):
        namespace["SentimentOptions"].build({"max_length": 0}, "task 'sentiment'", "task_options")
    assert dict(namespace["Sentiment"].default_options) == {"max_length": 128, "labels": ["negative", "positive"]}
