"""The math task's answer match as an ``evaluate`` module, judged by the math plugin's own oracle::

    import evaluate
    from boostlora_plugins.math import metric_path

    match = evaluate.load(metric_path())  # a local file: loads with the network off
    match.compute(predictions=["... so the total is 42. #### 42"], references=["42"])
    match.compute(predictions=["... \\\\boxed{\\\\frac{1}{2}}"], references=["\\\\frac{1}{2}"], answer_format="latex")

Numeric answers (GSM8K, arithmetic) give ``strict_accuracy`` (the number after ``#### ``), ``flexible_accuracy``
(the last number), ``accuracy`` (the extractor the task judges with, ``extractor``: flexible unless the run's
``task_options.extractor`` said strict) and ``no_number_rate``. LaTeX answers (MATH) give ``accuracy``
(math-verify on the boxed answer) and ``boxed_rate``. These are the numbers a run's ``report.json`` records for
the same completions, because both come from ``boostlora_plugins.math.oracle``.

evaluate copies this file into its module cache and imports it from there, so it names the plugin absolutely.
"""

import datasets
import evaluate

from boostlora_plugins.math import oracle

FORMATS = ("numeric", "latex")


class AnswerMatch(evaluate.Metric):
    """Answer match of math completions against reference answers, strict and flexible."""

    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=__doc__,
            citation="",
            inputs_description="predictions: completions (text); references: final answers (text); answer_format: "
            "numeric (default) or latex; extractor: flexible (default) or strict; verify_timeout: seconds per "
            "math-verify check (latex)",
            features=datasets.Features({"predictions": datasets.Value("string"), "references": datasets.Value("string")}),
        )

    def _compute(self, predictions, references, answer_format="numeric", extractor="flexible", verify_timeout=5):
        if answer_format not in FORMATS:
            raise ValueError(f"answer_format must be one of {', '.join(FORMATS)}, got {answer_format!r}")
        if extractor not in oracle.EXTRACTORS:
            raise ValueError(f"extractor must be one of {', '.join(oracle.EXTRACTORS)}, got {extractor!r}")
        n = len(predictions)
        if not n:
            return {}
        pairs = list(zip(references, predictions))
        if answer_format == "latex":
            return {
                "accuracy": sum(oracle.check_latex(r, p, verify_timeout) for r, p in pairs) / n,
                "boxed_rate": sum(oracle.extract_boxed(p) is not None for p in predictions) / n,
            }
        out = {f"{name}_accuracy": sum(oracle.check_numeric(r, p, name)[0] for r, p in pairs) / n
               for name in oracle.EXTRACTORS}
        out["accuracy"] = out[f"{extractor}_accuracy"]
        out["no_number_rate"] = sum(oracle.extract_flexible(p) is None for p in predictions) / n
        return out
