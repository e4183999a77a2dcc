"""The package's layers hold: import-linter's contracts (pyproject.toml) pass, and each kind of break fails them,
naming the import that broke it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT = [sys.executable, "-c", "from importlinter.cli import lint_imports_command; lint_imports_command()", "--no-cache"]


def lint(cwd: Path, pythonpath: Path | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    return subprocess.run(LINT, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def test_the_layer_contracts_hold():
    done = lint(ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "4 kept, 0 broken" in done.stdout


@pytest.fixture
def copy_of_the_packages(tmp_path: Path) -> Path:
    """The two import packages as they are installed (core/ -> boostlora, plugins/ -> boostlora_plugins), beside a
    copy of pyproject.toml, so a test can break a contract without touching the checkout."""
    shutil.copytree(ROOT / "core", tmp_path / "boostlora", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "plugins", tmp_path / "boostlora_plugins", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def add_import(module: Path, line: str) -> None:
    module.write_text(module.read_text() + f"\n{line}  # a deliberate break\n")


@pytest.mark.parametrize(
    ("module", "line", "contract", "named"),
    [
        ("boostlora/method/subspace.py", "from boostlora.runs import lifecycle", "layers import downward only",
         "boostlora.method.subspace -> boostlora.runs.lifecycle"),
        ("boostlora/contract/task.py", "from boostlora.objectives import grpo", "layers import downward only",
         "boostlora.contract.task -> boostlora.objectives.grpo"),
        ("boostlora/method/merge.py", "from boostlora.objectives import sft", "layers import downward only",
         "boostlora.method.merge -> boostlora.objectives.sft"),
        ("boostlora/contract/values.py", "from boostlora.contract import task", "no import cycles",
         "No cycles are allowed in boostlora.contract.\nIt could be made acyclic by removing 1 dependency:\n\n- .values -> .task"),
        ("boostlora/foundation/stats.py", "import boostlora_plugins.math", "core never imports a plugin",
         "boostlora.foundation.stats -> boostlora_plugins.math"),
        ("boostlora_plugins/math/data.py", "from boostlora.runs import checkpoint", "public API only",
         "boostlora_plugins.math.data -> boostlora.runs.checkpoint"),
        ("boostlora/contract/checks.py", "from boostlora.lm import generation", "layers import downward only",
         "boostlora.contract.checks -> boostlora.lm.generation"),
    ],
)
def test_a_deliberate_break_fails_and_names_the_import(copy_of_the_packages, module, line, contract, named):
    assert lint(copy_of_the_packages, pythonpath=copy_of_the_packages).returncode == 0  # the copy is clean
    add_import(copy_of_the_packages / module, line)
    done = lint(copy_of_the_packages, pythonpath=copy_of_the_packages)
    assert done.returncode != 0
    assert any(contract in text and text.endswith("BROKEN") for text in done.stdout.splitlines()), done.stdout
    assert named in done.stdout, done.stdout


def test_plugins_and_deprecated_locations_use_the_public_api():
    import warnings

    import boostlora
    from boostlora import lm

    assert {"Task", "CausalLMTask", "CausalLMOptions", "Verdict", "Splits", "Evaluation", "Options", "option",
            "hookimpl", "RunView", "RoundRecord", "Objective", "RoundContext", "TrainResult", "ConfigError", "DataError", "register_plugin"} <= set(boostlora.__all__)
    assert {"load_causal_lm", "generate", "render_prompt", "OFFLINE_DEFAULT"} <= set(lm.__all__)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sys.modules.pop("boostlora.causal_lm", None)
        from boostlora.causal_lm import load_causal_lm  # a plugin written against an earlier release
    assert load_causal_lm is lm.load_causal_lm
    assert any(issubclass(w.category, DeprecationWarning) and "boostlora.lm" in str(w.message) for w in caught)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sys.modules.pop("boostlora.generation", None)
        from boostlora.generation import generate  # the other module that moved into boostlora.lm
    assert generate is lm.generate
    assert [str(w.message) for w in caught if issubclass(w.category, DeprecationWarning)] == [
        "boostlora.generation is deprecated: import from boostlora.lm"]


def test_the_plugin_api_version_is_documented_with_its_deprecations():
    import boostlora

    doc = (ROOT / "docs" / "plugins.md").read_text()
    assert boostlora.PLUGIN_API_VERSION == "2" and "PLUGIN_API_VERSION" in boostlora.__all__
    assert f'`boostlora.PLUGIN_API_VERSION == "{boostlora.PLUGIN_API_VERSION}"`' in doc
    for old in ("`import boostlora.causal_lm`", "`import boostlora.generation`", '`record["round"]`'):
        assert f"| {old}" in doc, old
