"""The protein task's classification metrics as an ``evaluate`` module::

    import evaluate
    from boostlora_plugins.protein import metric_path

    binding = evaluate.load(metric_path())  # a local file: loads with the network off
    binding.compute(predictions=[1, 0], references=[1, 1], prediction_scores=[[0.2, 0.8], [0.7, 0.3]])

``predictions`` are predicted classes, ``references`` the true ones and ``prediction_scores`` each example's class
probabilities. It returns ``accuracy``, ``mcc``, ``f1`` (class 1 for two classes, macro otherwise) and ``auroc``
(on the probability of class 1; one-vs-rest macro for more classes; left out when only one class occurs): the
numbers a run's ``report.json`` records, because both come from ``boostlora_plugins.protein.metrics``.

evaluate copies this file into its module cache and imports it from there, so it names the plugin absolutely.
"""

import datasets
import evaluate

from boostlora_plugins.protein.metrics import label_metrics


class BindingMetrics(evaluate.Metric):
    """Accuracy, MCC, F1 and AUROC of binding (or any class) predictions."""

    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=__doc__,
            citation="",
            inputs_description="predictions: predicted classes; references: true classes; prediction_scores: the "
            "class probabilities of each example",
            features=datasets.Features({
                "predictions": datasets.Value("int64"),
                "references": datasets.Value("int64"),
                "prediction_scores": datasets.Sequence(datasets.Value("float64")),
            }),
        )

    def _compute(self, predictions, references, prediction_scores):
        if not predictions:
            return {}
        widths = {len(scores) for scores in prediction_scores}
        if len(widths) != 1 or min(widths) < 2:
            raise ValueError("prediction_scores must hold the same number (at least 2) of class probabilities per example")
        return label_metrics(references, predictions, prediction_scores)
