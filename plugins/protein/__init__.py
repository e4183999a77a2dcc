"""Built-in protein task plugin."""

from pathlib import Path


def metric_path() -> str:
    """Path of the protein task's metrics (accuracy, MCC, F1, AUROC) as an ``evaluate`` module:
    ``evaluate.load(metric_path())``. It ships inside the installed package (a local file, so it loads offline);
    see ``binding_metrics``. Needs ``pip install 'boostlora[metrics]'``.
    """
    return str(Path(__file__).with_name("binding_metrics.py"))
