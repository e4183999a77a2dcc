"""The math and protein tasks' metrics as ``evaluate`` modules: shipped in the installed plugins, loaded by path
with the network off, and giving the tasks' own numbers on saved predictions. (The code task's pass@k runs
programs: tests/test_metric_module_code.py.)"""

from __future__ import annotations

import random

import pytest

evaluate = pytest.importorskip("evaluate")


@pytest.fixture
def offline(monkeypatch):
    """evaluate with the hub off (its flag is read when evaluate is imported, hence set on its config too)."""
    for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "HF_EVALUATE_OFFLINE"):
        monkeypatch.setenv(name, "1")
    monkeypatch.setattr(evaluate.config, "HF_EVALUATE_OFFLINE", True)
    return evaluate


#: (completion, reference): strict takes the number after "#### ", flexible the last number
NUMERIC = [
    ("so it is 42. #### 42", "42"),  # both
    ("first 41, then 42", "42"),  # flexible only (no marker)
    ("#### 7\nthen 8 more", "7"),  # strict only (the last number is 8)
    ("no idea", "5"),  # neither, no number at all
    ("That costs $1,000.", "1000"),  # flexible only
]


def test_math_answer_match_is_the_oracles_verdicts(offline):
    from boostlora_plugins.math import metric_path
    from boostlora_plugins.math.data import MathExample
    from boostlora_plugins.math.task import MathTask

    match = offline.load(metric_path())
    predictions, references = [p for p, _ in NUMERIC], [r for _, r in NUMERIC]
    got = match.compute(predictions=predictions, references=references)
    assert got == {"strict_accuracy": 0.4, "flexible_accuracy": 0.6, "accuracy": 0.6, "no_number_rate": 0.2}
    assert match.compute(predictions=predictions, references=references, extractor="strict")["accuracy"] == 0.4

    examples = [MathExample(question="q", answer=r) for r in references]
    for extractor in ("strict", "flexible"):
        task = MathTask({"extractor": extractor})
        verdicts = [task.oracle(ex, p) for ex, p in zip(examples, predictions)]
        task_metrics = task.metrics(examples, predictions, verdicts)
        mine = match.compute(predictions=predictions, references=references, extractor=extractor)
        assert mine["accuracy"] == sum(v.correct for v in verdicts) / len(verdicts)
        for key in ("strict_accuracy", "flexible_accuracy", "no_number_rate"):
            assert mine[key] == task_metrics[key], key


def test_math_answer_match_on_latex_answers(offline):
    pytest.importorskip("math_verify")
    from boostlora_plugins.math import metric_path
    from boostlora_plugins.math.data import MathExample
    from boostlora_plugins.math.task import MathTask

    pairs = [("the half: \\boxed{\\frac{1}{2}}", "\\frac{1}{2}"), ("\\boxed{0.3}", "\\frac{1}{2}"), ("1/2", "\\frac{1}{2}")]
    got = offline.load(metric_path()).compute(predictions=[p for p, _ in pairs], references=[r for _, r in pairs],
                                              answer_format="latex")
    task = MathTask({})
    verdicts = [task.oracle(MathExample(question="q", answer=r, kind="latex"), p).correct for p, r in pairs]
    assert verdicts[:2] == [True, False]
    assert got["accuracy"] == pytest.approx(sum(verdicts) / 3)
    assert got["boxed_rate"] == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="answer_format"):
        offline.load(metric_path()).compute(predictions=["1"], references=["1"], answer_format="words")


@pytest.mark.parametrize("classes", [2, 3])
def test_protein_metrics_match_sklearn_and_the_task(offline, classes):
    pytest.importorskip("sklearn")
    from sklearn.metrics import accuracy_score, roc_auc_score

    from boostlora_plugins.protein import metric_path
    from boostlora_plugins.protein.encoding import ProteinExample
    from boostlora_plugins.protein.metrics import Prediction, classification_metrics

    rng = random.Random(classes)
    labels = [i % classes for i in range(40)]
    scores = []
    for label in labels:
        raw = [rng.random() + (0.6 if c == label else 0.0) for c in range(classes)]
        scores.append([value / sum(raw) for value in raw])
    predicted = [max(range(classes), key=row.__getitem__) for row in scores]
    got = offline.load(metric_path()).compute(predictions=predicted, references=labels, prediction_scores=scores)

    assert got["accuracy"] == pytest.approx(accuracy_score(labels, predicted), abs=1e-12)
    assert 0.5 < got["accuracy"] < 1.0  # a case that can tell right from wrong
    expected_auroc = (roc_auc_score(labels, [row[1] for row in scores]) if classes == 2
                      else roc_auc_score(labels, scores, multi_class="ovr"))
    assert got["auroc"] == pytest.approx(expected_auroc, abs=1e-12)
    task = classification_metrics([ProteinExample("M", y) for y in labels],
                                  [Prediction(p, tuple(row)) for p, row in zip(predicted, scores)])
    assert got == pytest.approx(task, abs=1e-12)
