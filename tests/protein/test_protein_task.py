"""The task's answers and judgement: predict/loss shapes, the oracle, metrics, the head, the synthetic data."""

from __future__ import annotations

import math

import pytest
import torch

from boostlora import SupervisedTask, Verdict
from boostlora_plugins.protein.encoding import ProteinExample
from boostlora_plugins.protein.metrics import Prediction, classification_metrics
from boostlora_plugins.protein.synthetic import SyntheticSpec, generate, motif_for
from boostlora_plugins.protein.task import ProteinTask


def test_task_is_supervised_and_registered():
    from boostlora.contract.plugins import find_task

    assert find_task("protein") is ProteinTask
    assert isinstance(ProteinTask(), SupervisedTask)
    assert ProteinTask.default_objective == "cross_entropy"


def test_predict_and_loss_shapes(make_task):
    task, model = make_task(synthetic_size=40, batch_size=7)
    examples = task.load_splits(0).train[:20]
    predictions = task.predict(model, examples)
    assert len(predictions) == 20 and all(isinstance(p, Prediction) for p in predictions)
    assert all(len(p.probabilities) == 2 and math.isclose(sum(p.probabilities), 1.0, rel_tol=1e-5) for p in predictions)
    loss = task.loss(model, examples)
    assert loss.shape == ()
    assert math.isclose(loss.item(), math.log(2), rel_tol=1e-5)  # zero head: uniform probabilities


def test_predictions_keep_example_order_across_length_buckets(make_task):
    task, model = make_task(batch_size=2)
    with torch.no_grad():
        model.head.weight.normal_()
    examples = [ProteinExample("ACDEFGHIKLMNPQRSTVWY"[: 3 + (7 * i) % 17], i % 2) for i in range(9)]
    together = task.predict(model, examples)
    alone = [task.predict(model, [ex])[0] for ex in examples]
    for a, b in zip(together, alone):
        assert a.label == b.label and max(abs(x - y) for x, y in zip(a.probabilities, b.probabilities)) < 1e-5


def test_loss_decreases_when_optimising_the_head_on_synthetic(make_task):
    task, model = make_task(synthetic_size=80)
    train = task.load_splits(0).train
    model.requires_grad_(False)
    model.head.requires_grad_(True)
    optimizer = torch.optim.Adam(model.head.parameters(), lr=0.1)
    losses = []
    for step in range(15):
        loss = task.loss(model, train)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[0] == pytest.approx(math.log(2), rel=1e-4)
    assert losses[-1] < 0.6 < losses[0]


def test_prepare_fits_a_probe_above_chance_and_freezes_it(make_task):
    task, model = make_task()
    splits = task.load_splits(0)
    task.prepare(model, splits)
    assert not model.head.weight.requires_grad
    evaluation = task.evaluate(model, splits.eval)
    assert 0.65 < evaluation.accuracy < 0.85  # the probe alone: well above chance, far from solved
    assert set(evaluation.metrics) == {"accuracy", "auroc", "mcc", "f1", "head_params"}
    assert evaluation.metrics["accuracy"] == pytest.approx(evaluation.accuracy)
    state = task.extra_state(model)
    assert set(state) == {"head.weight", "head.bias"} and torch.equal(state["head.weight"], model.head.weight)


def test_cross_entropy_head_mode_counts_all_its_numbers(make_task):
    task, model = make_task(head="cross_entropy", synthetic_size=100)
    task.prepare(model, task.load_splits(0))
    assert task.head_params == 2 * 17
    assert task.evaluate(model, task.load_splits(0).train).accuracy > 0.6


def test_oracle_is_argmax_equals_label_and_never_raises():
    task = ProteinTask()
    example = ProteinExample("MKT", 1)
    assert task.oracle(example, Prediction(1, (0.2, 0.8))) == Verdict(True, "predicted 1 (p=0.800), label 1")
    assert not task.oracle(example, Prediction(0, (0.6, 0.4))).correct
    assert not task.oracle(example, None).correct
    assert not task.oracle(example, "garbage").correct


def test_metrics_match_hand_computed_values():
    examples = [ProteinExample("A", y) for y in (1, 1, 0, 0)]
    predictions = [Prediction(1, (0.1, 0.9)), Prediction(0, (0.6, 0.4)), Prediction(0, (0.7, 0.3)), Prediction(1, (0.45, 0.55))]
    metrics = classification_metrics(examples, predictions)
    assert metrics["accuracy"] == 0.5
    assert metrics["auroc"] == 0.75  # pairs (pos, neg) ranked right: 0.9>0.3, 0.9>0.55, 0.4>0.3; wrong: 0.4<0.55
    assert metrics["f1"] == 0.5 and metrics["mcc"] == 0.0
    assert "auroc" not in classification_metrics(examples[:2], predictions[:2])  # one class: left out, not faked


def test_synthetic_data_is_seeded_balanced_and_named():
    a = generate(SyntheticSpec(size=200, seed=4))
    b = generate(SyntheticSpec(size=200, seed=4))
    c = generate(SyntheticSpec(size=200, seed=5))
    assert a == b and a != c
    assert sum(ex.label for ex in a) == 100
    assert all(ex.where.startswith("synthetic row") for ex in a)
    motif = motif_for(4, 4)
    assert all(motif in ex.sequence for ex in a if ex.label == 1)  # difficulty 0: intact motif in every binder
    hard = generate(SyntheticSpec(size=400, seed=4, difficulty=1.0))
    decoys = sum(sorted(motif) == sorted(ex.sequence[i:i + 4]) for ex in hard if ex.label == 0 for i in range(len(ex.sequence) - 3))
    assert decoys >= 150  # difficulty 1: (nearly) every non-binder carries the motif's residues reordered


def test_synthetic_options_are_validated():
    from boostlora import ConfigError

    with pytest.raises(ConfigError, match="synthetic"):
        ProteinTask({"synthetic_difficulty": 2.0}).load_splits(0)


@pytest.mark.parametrize("preset", ["default", "paper"])
def test_presets_build_valid_configs(preset):
    from boostlora.foundation.config import build_config, merge_settings

    config = build_config(merge_settings({"plugin": "protein"}, ProteinTask.presets[preset], preset))
    ProteinTask(config.task_options)  # task options known
    from boostlora.contract.plugins import find_objective

    find_objective(config.objective or ProteinTask.default_objective)(config.objective_options)
    assert config.model == ("tiny-random-esm2" if preset == "default" else "esm2_t33_650M_UR50D")


def test_head_keep_uses_the_saved_head(tmp_path, make_task):
    from boostlora import ConfigError
    from boostlora_plugins.protein.model import save_classifier

    task, model = make_task(synthetic_size=40)
    splits = task.load_splits(0)
    task.prepare(model, splits)
    save_classifier(model, tmp_path / "final")
    keep = ProteinTask({"head": "keep", "synthetic_size": 40})
    reloaded = keep.load_model(str(tmp_path / "final"), torch.device("cpu"))
    keep.prepare(reloaded, splits)
    assert torch.equal(reloaded.head.weight, model.head.weight) and keep.head_params == 0
    assert keep.evaluate(reloaded, splits.eval).accuracy == task.evaluate(model, splits.eval).accuracy
    with pytest.raises(ConfigError, match="no saved head"):
        ProteinTask({"head": "keep"}).load_model("tiny-random-esm2", torch.device("cpu"))
