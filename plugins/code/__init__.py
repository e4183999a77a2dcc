"""Built-in code task plugin: generated, HumanEval and MBPP problems, judged by running their tests.

Modules, one job each: ``limits`` (the budget and limit names), ``isolation`` (bubblewrap or the fallback),
``seccomp`` (the sandbox's syscall filter), ``memory`` (the memory bound in force), ``cgroup`` (a memory cgroup
per program), ``callee`` (the program's side, inside the sandbox), ``judge`` (the tests' side, outside it),
``judge_server`` and ``judges`` (the process that forks each judge, and its host side), ``wire`` (plain data
between the two), ``sandbox`` (host side of one check), ``prestart`` (the next check's candidate, started ahead),
``checker`` (parallel verdicts), ``extract`` (code out of chat answers),
``data`` (sources), ``generated`` (the seeded offline problems), ``metrics`` (pass@k), ``consent`` (the
opt-in), ``task`` (``CodeTask``), ``plugin`` (registration), ``pass_at_k_metric`` (pass@k as an ``evaluate``
module, loaded by path: ``metric_path()``).
"""

from pathlib import Path

from .data import problem_to_json

__all__ = ["metric_path", "problem_to_json"]


def metric_path() -> str:
    """Path of the code task's pass@k as an ``evaluate`` module: ``evaluate.load(metric_path())``.

    It ships inside the installed package (a local file, so it loads offline); its references are problems as
    ``problem_to_json`` writes them. See ``pass_at_k_metric``. Needs ``pip install 'boostlora[metrics]'``.
    """
    return str(Path(__file__).with_name("pass_at_k_metric.py"))
