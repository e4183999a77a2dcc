"""The README stays true: its test command is CI's, its plugin example runs, and packaging lists every package."""

from __future__ import annotations

import re
import sys
import tomllib
import types
from pathlib import Path

from boostlora.foundation.config import build_config
from boostlora.runs.lifecycle import boost
from boostlora.contract.plugins import register_plugin, unregister_plugin

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def code_blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.S)


def test_readme_test_command_is_what_ci_runs():
    quick_start = code_blocks("bash")[:2]
    ci_lines = (ROOT / ".ci" / "run").read_text().splitlines()
    ci_command = next(line for line in ci_lines if line.endswith("python -m pytest"))
    assert quick_start[1].strip().endswith(ci_command), (quick_start[1], ci_command)
    assert quick_start[0].strip().endswith("boostlora run")


def test_readme_plugin_example_runs_and_learns():
    (source,) = [block for block in code_blocks("python") if "boostlora_register_tasks" in block]
    module = types.ModuleType("readme_halfspace")
    sys.modules["readme_halfspace"] = module  # as an import would: dataclasses look their module up
    exec(compile(source, "README.md", "exec", dont_inherit=True), module.__dict__)
    register_plugin(module, name="halfspace")
    try:
        preset = module.Halfspace.presets["default"]
        report = boost(build_config({"plugin": "halfspace", **preset, "show_progress": False}))
    finally:
        unregister_plugin("halfspace")
        sys.modules.pop("readme_halfspace")
    assert len(report["rounds"]) >= 1
    assert report["final_eval_accuracy"] >= report["base_eval_accuracy"] + 0.1, report["rounds"]


def test_pyproject_lists_every_package():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    mapping = config["package-dir"]
    found = set()
    for package, folder in mapping.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            relative = init.parent.relative_to(ROOT / folder).parts
            found.add(".".join((package, *relative)))
    assert found == set(config["packages"])


def test_the_gpu_check_lists_its_steps_without_running_them():
    """benchmarks/gpu_check.sh --dry-run works on any machine: every step listed, nothing run, exit 0."""
    import subprocess

    done = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu_check.sh"), "--dry-run"], capture_output=True,
                          text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    steps = [line for line in done.stdout.splitlines() if line.startswith("[")]
    assert len(steps) == 5 and "dry run: 5 steps listed, nothing ran" in done.stdout
    assert "BOOSTLORA_TEST_DEVICES=cpu,cuda" in done.stdout and "gpu_round_timing.py" in done.stdout
    assert "-> exit" not in done.stdout  # nothing ran
