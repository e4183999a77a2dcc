"""A run's decisions read validation only; the model it hands over is the validation-best round, rebuilt exactly;
and its report says whether boosting helped, with numbers checked against textbook computations."""

from __future__ import annotations

import json
import random

import pytest
import torch
from safetensors.torch import load_file

from boostlora import Evaluation, Verdict, hookimpl
from boostlora.contract.plugins import register_plugin, unregister_plugin
from boostlora.foundation.config import build_config
from boostlora.foundation.stats import mcnemar_exact_p, paired_comparison, wilson_interval
from boostlora.method.merge import replay_round
from boostlora.method.subspace import SubspaceAllocator
from boostlora.runs import checkpoint as ckpt
from boostlora.runs import svd_cache
from boostlora.runs.lifecycle import boost
from boostlora.runs.report import format_table, summary_lines

from ..toy_plugin import ToyTask

SETTINGS = {"plugin": "decisions", "model": "toy-net", "r": 2, "u": 4, "weight_tying": 0.0, "show_progress": False,
            "objective_options": {"lr": 0.3, "steps": 20, "batch_size": 64}}


class ScrambledTestTask(ToyTask):
    """The toy task, with the held-out split's verdicts replaced by coin flips from ``test_noise``: whatever the
    held-out split says, a run's decisions must come out the same."""

    name = "scrambled-test"
    presets = {}
    default_options = {**ToyTask.default_options, "test_noise": 0}

    def evaluate(self, model, examples) -> Evaluation:
        evaluation = super().evaluate(model, examples)
        if [id(x) for x in examples] != [id(x) for x in self.held_out]:
            return evaluation
        rng = random.Random(self.options["test_noise"] * 1_000 + len(self.seen))
        self.seen.append(len(examples))
        return Evaluation(evaluation.predictions, [Verdict(rng.random() < 0.5) for _ in examples], {})

    def load_splits(self, seed):
        splits = super().load_splits(seed)
        self.held_out, self.seen = splits.eval, []
        return splits


class PeakedValidationTask(ToyTask):
    """The toy task whose validation accuracy peaks at round 1 of 3 (a fixed schedule), so ``keep: best`` must hand
    over a round that is not the last."""

    name = "peaked-validation"
    presets = {}
    SCHEDULE = [0.30, 0.40, 0.60, 0.50, 0.45]  # base, rounds 0..3

    def evaluate(self, model, examples) -> Evaluation:
        evaluation = super().evaluate(model, examples)
        if [id(x) for x in examples] != [id(x) for x in self.validation]:
            return evaluation
        share = self.SCHEDULE[min(self.calls, len(self.SCHEDULE) - 1)]
        self.calls += 1
        right = round(share * len(examples))
        return Evaluation(evaluation.predictions, [Verdict(i < right) for i in range(len(examples))], {})

    def load_splits(self, seed):
        splits = super().load_splits(seed)
        self.validation, self.calls = splits.validation, 0
        return splits


@hookimpl
def boostlora_register_tasks(register) -> None:
    register(ScrambledTestTask)
    register(PeakedValidationTask)


@pytest.fixture
def decisions_plugin():
    import sys

    register_plugin(sys.modules[__name__], name="decisions")
    yield
    unregister_plugin("decisions")


def decisions(report: dict) -> dict:
    """Everything a run decided: when it stopped, which round it kept, each round's step and validation verdicts."""
    return {
        "stop_reason": report["stop_reason"],
        "kept_round": report["kept_round"],
        "steps": [r["step_size"] for r in report["rounds"]],
        "validation": [r["validation_verdicts"] for r in report["rounds"]],
        "failures": [r["n_failures"] for r in report["rounds"]],
    }


def test_patience_best_round_and_line_search_never_read_the_test_split(decisions_plugin):
    """Three runs whose held-out verdicts are different coin flips decide exactly alike: patience, the kept round
    and the line search read validation and train only. (The held-out accuracies do differ: the spy is live.)"""
    reports = []
    for noise in (1, 2, 3):
        config = build_config({**SETTINGS, "task": "scrambled-test", "max_rounds": 4, "patience": 1,
                               "step_sizes": [0.0, 0.5, 1.0], "line_search_size": 64,
                               "task_options": {"test_noise": noise}})
        reports.append(boost(config))
    assert decisions(reports[0]) == decisions(reports[1]) == decisions(reports[2])
    held_out = [[r["eval_verdicts"] for r in report["rounds"]] for report in reports]
    assert held_out[0] != held_out[1] != held_out[2]


def test_final_is_the_validation_best_round_rebuilt_from_its_cores(decisions_plugin, tmp_path):
    config = build_config({**SETTINGS, "task": "peaked-validation", "max_rounds": 3})
    report = boost(config, tmp_path / "run")
    assert [r["validation_accuracy"] for r in report["rounds"]] == pytest.approx([0.40, 0.60, 0.50], abs=0.01)
    assert report["kept_round"] == 1 and report["kept_reason"].startswith("round 1 of 3")
    assert report["final_eval_accuracy"] == report["rounds"][1]["eval_accuracy"]
    assert report["total_trainable_params"] == report["rounds"][1]["cumulative_params"]

    state = ckpt.load_checkpoint(tmp_path / "run")
    bases, _ = svd_cache.read(tmp_path / "run" / ckpt.SVD_CACHE)
    allocator = SubspaceAllocator(bases, config.strategy, config.r, config.block_scale)
    task = PeakedValidationTask(config.task_options)
    model = task.load_model("toy-net", torch.device("cpu"))
    for k, cores in enumerate(state["cores"][:2]):
        replay_round(model, allocator, k, cores)
    final = load_file(str(tmp_path / "run" / "final" / "model.safetensors"))
    rebuilt = model.state_dict()
    assert final.keys() == rebuilt.keys()
    for name in final:
        assert torch.equal(final[name], rebuilt[name]), name
    replay_round(model, allocator, 2, state["cores"][2])  # the last round's model is not what final/ holds
    assert not torch.equal(final["out.weight"], model.state_dict()["out.weight"])


def test_keep_last_hands_over_the_last_round(decisions_plugin, tmp_path):
    report = boost(build_config({**SETTINGS, "task": "peaked-validation", "max_rounds": 3, "keep": "last"}), tmp_path / "run")
    assert report["kept_round"] == 2 and report["final_eval_accuracy"] == report["rounds"][2]["eval_accuracy"]


def test_report_first_line_matches_textbook_mcnemar_and_bootstrap():
    scipy_stats = pytest.importorskip("scipy.stats")
    numpy = pytest.importorskip("numpy")
    rng = random.Random(7)
    base = [int(rng.random() < 0.4) for _ in range(150)]
    after = [b if rng.random() < 0.7 else int(rng.random() < 0.6) for b in base]
    gained = sum(1 for b, a in zip(base, after) if a and not b)
    lost = sum(1 for b, a in zip(base, after) if b and not a)
    report = {
        "plugin": "toy", "task": "toy", "model": "m", "strategy": "rotate", "r": 2, "u": 1,
        "base_eval_accuracy": sum(base) / 150, "base_eval_verdicts": base, "base_eval_metrics": {},
        "base_validation_accuracy": 0.5, "base_validation_verdicts": [1, 0] * 20,
        "rounds": [{"round": 0, "n_failures": 10, "train_accuracy": 0.5, "eval_accuracy": sum(after) / 150,
                    "eval_verdicts": after, "validation_accuracy": 0.6, "validation_verdicts": [1, 1, 0, 1, 0] * 8,
                    "trainable_params": 4, "effective_rank": {"m": 2}, "seconds": 1.0, "eval_metrics": {}}],
        "kept_round": 0, "kept_reason": "round 0 of 1: the best validation accuracy", "stop_reason": "max_rounds=1 reached",
    }
    # textbook exact McNemar: a two-sided binomial test of the discordant items at p = 1/2
    textbook_p = scipy_stats.binomtest(min(gained, lost), gained + lost, 0.5).pvalue
    assert mcnemar_exact_p(gained, lost) == pytest.approx(textbook_p, rel=1e-9)
    # a paired percentile bootstrap written independently, with numpy's generator: the same interval to sampling noise
    d = numpy.array(after) - numpy.array(base)
    means = d[numpy.random.default_rng(1).integers(0, 150, size=(20_000, 150))].mean(axis=1)
    comparison = paired_comparison(base, after)
    assert comparison.difference.mean == pytest.approx(d.mean())
    assert comparison.difference.low == pytest.approx(numpy.quantile(means, 0.025), abs=0.01)
    assert comparison.difference.high == pytest.approx(numpy.quantile(means, 0.975), abs=0.01)
    first = summary_lines(report)[0]
    assert first.startswith(f"test: base {sum(base) / 150:.3f} -> round 0 {sum(after) / 150:.3f}: {d.mean():+.3f} ")
    assert f"over 150 items (+{gained} gained, -{lost} lost; exact McNemar p={textbook_p:.3g})" in first
    # per round: Wilson intervals (scipy's), items gained and lost, the kept round marked
    table = format_table(report)
    wilson = scipy_stats.binomtest(sum(after), 150).proportion_ci(method="wilson")
    assert f"{sum(after) / 150:.3f} [{wilson.low:.2f},{wilson.high:.2f}]" in table
    assert f"+{gained}/-{lost}" in table and table.splitlines()[2].endswith("kept")
    ours = wilson_interval(sum(after), 150)
    assert (ours.low, ours.high) == pytest.approx((wilson.low, wilson.high), abs=1e-12)
    assert "lost on validation" not in table


def test_a_round_that_lost_on_validation_is_flagged():
    report = {"base_eval_accuracy": 0.5, "base_validation_accuracy": 0.7, "rounds": [
        {"round": 0, "n_failures": 1, "train_accuracy": 0.5, "eval_accuracy": 0.5, "validation_accuracy": 0.6,
         "trainable_params": 1, "effective_rank": {}, "seconds": 0.1}]}
    assert format_table(report).splitlines()[2].endswith("lost on validation")


def test_export_holds_the_kept_round_or_the_one_asked_for(decisions_plugin, tmp_path):
    from boostlora.runs.export import export_lora

    boost(build_config({**SETTINGS, "task": "peaked-validation", "max_rounds": 3}), tmp_path / "run")
    assert export_lora(tmp_path / "run", tmp_path / "kept")[1] == 2  # rounds 0..1: the kept round 1
    assert export_lora(tmp_path / "run", tmp_path / "last", round_index=2)[1] == 3
    from boostlora import ConfigError

    with pytest.raises(ConfigError, match=r"--round 3 is not a merged round .* rounds 0\.\.2"):
        export_lora(tmp_path / "run", tmp_path / "bad", round_index=3)
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert report["kept_round"] == 1
