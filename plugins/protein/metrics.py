"""Held-out metrics for binding classification: accuracy, AUROC, MCC and F1 from scikit-learn.

Binary tasks score AUROC on the probability of class 1 and F1 on class 1 (binding); with more classes,
AUROC is one-vs-rest macro and F1 is macro. AUROC is left out, not faked, when only one class is present.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from boostlora import Verdict

from .encoding import ProteinExample


@dataclass(frozen=True)
class Prediction:
    """The model's answer to one example: its class and the class probabilities behind it."""

    label: int
    probabilities: tuple[float, ...]


def judge(example: ProteinExample, prediction: object) -> Verdict:
    """argmax == label. Anything that is not a ``Prediction`` is simply wrong."""
    if not isinstance(prediction, Prediction):
        return Verdict(False, "no prediction")
    p = prediction.probabilities[prediction.label] if prediction.label < len(prediction.probabilities) else float("nan")
    return Verdict(prediction.label == example.label, f"predicted {prediction.label} (p={p:.3f}), label {example.label}")


def classification_metrics(examples: Sequence[ProteinExample], predictions: Sequence[object]) -> dict[str, float]:
    """accuracy, auroc, mcc and f1 over examples that received a ``Prediction``."""
    pairs = [(ex.label, p) for ex, p in zip(examples, predictions) if isinstance(p, Prediction)]
    if not pairs:
        return {}
    return label_metrics([y for y, _ in pairs], [p.label for _, p in pairs], [p.probabilities for _, p in pairs])


def label_metrics(
    y_true: Sequence[int], y_pred: Sequence[int], probabilities: Sequence[Sequence[float]]
) -> dict[str, float]:
    """accuracy, auroc, mcc and f1 of predicted labels and class probabilities against true labels (the numbers
    ``classification_metrics`` reports, and the protein task's ``evaluate`` module computes)."""
    from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef, roc_auc_score

    y_true, y_pred = list(y_true), list(y_pred)
    n_classes = len(probabilities[0])
    out = {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "mcc": float(matthews_corrcoef(y_true, y_pred)),
        "f1": float(f1_score(y_true, y_pred, average="binary" if n_classes == 2 else "macro", zero_division=0)),
    }
    if len(set(y_true)) > 1:
        if n_classes == 2:
            out["auroc"] = float(roc_auc_score(y_true, [p[1] for p in probabilities]))
        elif len(set(y_true)) == n_classes:
            out["auroc"] = float(roc_auc_score(y_true, [list(p) for p in probabilities], multi_class="ovr"))
    return out
