"""Built-in math task plugin."""

from pathlib import Path


def metric_path() -> str:
    """Path of the math task's answer match as an ``evaluate`` module: ``evaluate.load(metric_path())``.

    It ships inside the installed package (a local file, so it loads offline); see ``answer_match`` for what it
    computes. Needs ``pip install 'boostlora[metrics]'``.
    """
    return str(Path(__file__).with_name("answer_match.py"))
