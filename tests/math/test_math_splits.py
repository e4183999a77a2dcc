"""The math task's held-out split on distinct items (``distinct_eval``), and what it leaves alone.

A held-out split with repeated questions judges each copy as an item, and one that shares questions with a
validation split scores the settings chosen there on problems they were chosen on. ``distinct_eval`` filters the
old held-out split, so train, validation and the saved suites (``bench-cpu`` keeps it off) stay exactly as they were.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from boostlora import ConfigError
from boostlora.contract.splits import carve_validation
from boostlora.contract.values import Splits
from boostlora_plugins.math import data
from boostlora_plugins.math.presets import PRESETS
from boostlora_plugins.math.task import MathTask

SAVED = Path(__file__).resolve().parents[2] / "benchmarks" / "data" / "math-heldout" / "suite-cpu.json"
BENCH = PRESETS["bench-cpu"]["task_options"]


def questions(examples) -> list[str]:
    return [ex.question for ex in examples]


@pytest.fixture(scope="module")
def bench_splits():
    """Seeds 0-4 of the bench-cpu preset, as saved (distinct_eval off) and on distinct items; plus the train split
    of the saved validation runs (train_size=256), whose carves the distinct held-out split must avoid."""
    old, new, wide = MathTask(BENCH), MathTask({**BENCH, "distinct_eval": True}), MathTask({**BENCH, "train_size": 256})
    return {seed: (old.load_splits(seed), new.load_splits(seed), wide.load_splits(seed)) for seed in range(5)}


def test_bench_cpu_held_out_is_still_the_saved_suites_so_they_resume(bench_splits):
    saved = json.loads(SAVED.read_text())["units"]
    for seed, (old, _, _) in bench_splits.items():
        assert len(old.eval) == saved[f"math/math|boost-rotate|{seed}"]["n_eval"], seed
    assert [len(old.eval) for old, _, _ in bench_splits.values()] == [354, 353, 355, 357, 357]


def test_distinct_held_out_is_the_old_one_filtered_and_train_is_unchanged(bench_splits):
    sizes = []
    for seed, (old, new, wide) in bench_splits.items():
        assert new.train == old.train and new.validation == old.validation, seed
        reserved = set(questions(wide.train)) | set(questions(old.train)) | set(questions(old.validation))
        expected, seen = [], set()
        for example in old.eval:  # first copy of each question that no validation split of the seed can hold
            if example.question not in reserved and example.question not in seen:
                expected.append(example)
                seen.add(example.question)
        assert new.eval == expected, seed
        assert len(set(questions(new.eval))) == len(new.eval)
        sizes.append(len(new.eval))
    assert sizes == [267, 267, 269, 270, 270]


def test_distinct_held_out_avoids_the_saved_validation_runs_carves_which_the_old_one_did_not(bench_splits):
    """The saved settings comparisons ran evaluate_on=validation validation_fraction=0.5 train_size=256."""
    shared_before = []
    for seed, (old, new, wide) in bench_splits.items():
        for fraction, stream in ((0.5, "validation"), (0.25, "validation"), (0.5, "decisions")):
            carve = set(questions(carve_validation(Splits(wide.train, wide.eval), fraction, seed, stream).eval))
            assert not carve & set(questions(new.eval)), (seed, fraction, stream)
        carve = set(questions(carve_validation(Splits(wide.train, wide.eval), 0.5, seed).eval))
        shared_before.append(len(carve & set(questions(old.eval))))
    assert shared_before == [16, 13, 16, 14, 11]  # distinct questions the old held-out split shared with the carve


def test_default_preset_is_distinct_and_paper_presets_keep_the_published_test_sets():
    assert PRESETS["default"]["task_options"]["distinct_eval"] is True
    assert all(PRESETS[p]["task_options"]["distinct_eval"] is False for p in ("paper-gsm8k", "paper-math500"))
    splits = MathTask(PRESETS["default"]["task_options"]).load_splits(0)
    assert len(splits.eval) == 70 and len(set(questions(splits.eval))) == 70


def test_distinct_indices_keep_first_copies_and_compare_normalised_text():
    def ex(question: str) -> data.MathExample:
        return data.MathExample(question, "1")

    held_out = [ex("What is 1 + 2?"), ex("what is  1 + 2?"), ex("What is 3 - 1?"), ex("What is 5 + 5?"), ex("WHAT IS 3 - 1? ")]
    assert data.distinct_indices(held_out, []) == [0, 2, 3]
    assert data.distinct_indices(held_out, [ex("What is 5 +\t5?")]) == [0, 2]


def test_file_datasets_are_filtered_too_and_can_opt_out(tmp_path):
    folder = tmp_path / "set"
    folder.mkdir()
    rows = {"train": [("1 + 1?", "2"), ("2 + 2?", "4")], "test": [("3 + 3?", "6"), ("3  + 3?", "6"), ("4 + 4?", "8")]}
    for split, items in rows.items():
        (folder / f"{split}.jsonl").write_text("".join(json.dumps({"question": q, "answer": a}) + "\n" for q, a in items))
    common = {"dataset": str(folder), "train_size": None, "eval_size": None}
    assert questions(MathTask(common).load_splits(0).eval) == ["3 + 3?", "4 + 4?"]
    assert len(MathTask({**common, "distinct_eval": False}).load_splits(0).eval) == 3


def test_reserved_train_size_is_validated():
    with pytest.raises(ConfigError, match="reserved_train_size"):
        MathTask({"reserved_train_size": 0})


@pytest.fixture(scope="module")
def distinct_script():
    import runpy

    return runpy.run_path(str(Path(__file__).resolve().parents[2] / "benchmarks" / "distinct_items.py"))


def test_saved_verdicts_on_distinct_items_give_the_tables_results_md_quotes(distinct_script):
    """benchmarks/distinct_items.py: the saved verdicts at the kept positions, never a retrained number."""
    load_rows, accuracies = distinct_script["load_rows"], distinct_script["accuracies"]
    rows = load_rows(distinct_script["DATA"] / "math-heldout")["math/math"]
    kept = distinct_script["kept_positions"]([0, 1, 2, 3, 4])
    assert [len(positions) for _, positions in kept.values()] == [267, 267, 269, 270, 270]
    distinct = distinct_script["on_distinct"](rows, kept)
    seed0 = rows["tinylora"][0]
    assert distinct["tinylora"][0]["accuracy"] == sum(seed0["verdicts"][i] for i in kept[0][1]) / 267
    assert round(sum(accuracies(distinct, "tinylora").values()) / 5, 3) == 0.351
    table = distinct_script["main"](41)
    assert ("| boost-rotate 4x vs tinylora 4x | 0-4 | +0.031 [+0.001, +0.061] | wins | +0.028 [-0.006, +0.061] | tie |"
            in table)
    assert "tie -> wins (interval now excludes 0) | +0.104 [-0.189, +0.396] reaches 0 |" in table
    assert "| boost-rotate vs tinylora | 0-4 | -0.020 [-0.109, +0.069] | tie | -0.015 [-0.095, +0.065] | tie |" in table


def test_verdicts_that_do_not_fit_the_regenerated_split_are_refused(distinct_script):
    row = {"accuracy": 0.5, "verdicts": [1, 0]}
    with pytest.raises(SystemExit, match="do not match the 3-item split"):
        distinct_script["on_distinct"]({"tinylora": {0: row}}, {0: (3, [0, 1])})
