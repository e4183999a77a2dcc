"""Data sources and bad input: generators, local files and dataset folders through the hub code path."""

from __future__ import annotations

import json

import pytest

from boostlora import ConfigError, DataError
from boostlora_plugins.math import data
from boostlora_plugins.math.task import MathTask

GSM_ROWS = [
    {"question": "Tom has 3 apples and buys 4 more. How many?", "answer": "3 + 4 = <<3+4=7>>7\n#### 7"},
    {"question": "A shop sells 1,200 pens and 300 more. How many?", "answer": "1200+300=<<1200+300=1500>>1500\n#### 1,500"},
    {"question": "Half of 9?", "answer": "9/2 = 4.5\n#### 4.5"},
]


def _write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_reasoning_gym_is_deterministic_and_splits_differ():
    opts = {"min_terms": 2, "max_terms": 2, "min_digits": 2, "max_digits": 2}
    a = data.load_examples("reasoning_gym:basic_arithmetic", "train", size=20, seed=3, fields=None, kind="auto", generator_options=opts)
    b = data.load_examples("reasoning_gym:basic_arithmetic", "train", size=20, seed=3, fields=None, kind="auto", generator_options=opts)
    c = data.load_examples("reasoning_gym:basic_arithmetic", "test", size=20, seed=3, fields=None, kind="auto", generator_options=opts)
    assert a == b and len(a) == 20
    assert [x.question for x in a] != [x.question for x in c]
    assert all(data.MathExample == type(x) and x.kind == "numeric" for x in a)


def test_unknown_generator_is_a_config_error():
    with pytest.raises(ConfigError, match="reasoning-gym cannot make"):
        data.load_examples("reasoning_gym:no_such_generator", "train", size=4, seed=0, fields=None, kind="auto")


def test_local_dataset_folder_goes_through_the_hub_loader(tmp_path):
    """A folder of split files is opened by datasets.load_dataset, the same call a hub name takes."""
    folder = tmp_path / "gsm_local"
    folder.mkdir()
    _write_jsonl(folder / "train.jsonl", GSM_ROWS)
    _write_jsonl(folder / "test.jsonl", GSM_ROWS[:1])
    mapping = {"question": "question", "answer": None, "solution": "answer"}  # GSM8K: answer after '####'
    train = data.load_examples(str(folder), "train", size=None, seed=0, fields=mapping, kind="numeric")
    test = data.load_examples(str(folder), "test", size=None, seed=0, fields=mapping, kind="numeric")
    assert [ex.answer for ex in train] == ["7", "1500", "4.5"]
    assert "<<" not in train[0].solution and train[0].solution.endswith("#### 7")
    assert len(test) == 1
    with pytest.raises(DataError, match="no split 'validation'"):
        data.load_examples(str(folder), "validation", size=None, seed=0, fields=mapping, kind="numeric")


def test_saved_dataset_dict_folder(tmp_path):
    import datasets

    dd = datasets.DatasetDict({"train": datasets.Dataset.from_list(GSM_ROWS)})
    dd.save_to_disk(str(tmp_path / "saved"))
    mapping = {"question": "question", "answer": None, "solution": "answer"}
    got = data.load_examples(str(tmp_path / "saved"), "train", size=2, seed=0, fields=mapping, kind="numeric")
    assert [ex.answer for ex in got] == ["7", "1500"]


@pytest.mark.parametrize("suffix", ["jsonl", "csv", "parquet"])
def test_local_files_with_a_field_mapping(tmp_path, suffix):
    import pandas as pd

    frame = pd.DataFrame({"problem": ["1 + 1?", "2 + 5?"], "final": ["2", "7"]})
    path = tmp_path / f"rows.{suffix}"
    {"jsonl": lambda: frame.to_json(path, orient="records", lines=True), "csv": lambda: frame.to_csv(path, index=False),
     "parquet": lambda: frame.to_parquet(path)}[suffix]()
    got = data.load_examples(str(path), "train", size=None, seed=0, fields={"question": "problem", "answer": "final"}, kind="auto")
    assert [(ex.question, ex.answer) for ex in got] == [("1 + 1?", "2"), ("2 + 5?", "7")]


def test_missing_mapped_fields_are_named(tmp_path):
    path = _write_jsonl(tmp_path / "rows.jsonl", [{"q": "1+1", "a": "2"}])
    with pytest.raises(DataError, match=r"lacks mapped column\(s\) answer='answer', question='question'.*columns are a, q"):
        data.load_examples(str(path), "train", size=None, seed=0, fields=None, kind="numeric")


def test_missing_file_and_bad_suffix(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        data.load_examples(str(tmp_path / "nope.jsonl"), "train", size=None, seed=0, fields=None, kind="numeric")
    bad = tmp_path / "rows.txt"
    bad.write_text("x")
    with pytest.raises(ConfigError, match="use one of"):
        data.load_examples(str(bad), "train", size=None, seed=0, fields=None, kind="numeric")


def test_offline_hub_dataset_names_the_local_alternative(monkeypatch):
    import datasets.config
    import huggingface_hub.constants

    # the environment variables are read at import time, so flip the flags they set (no network is tried)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(DataError, match="cannot load dataset 'openai/gsm8k'.*local JSONL/CSV/parquet"):
        data.load_examples("gsm8k", "train", size=4, seed=0, fields=None, kind="auto")


def test_task_options_are_validated():
    with pytest.raises(ConfigError, match="no option"):
        MathTask({"datset": "gsm8k"})
    with pytest.raises(ConfigError, match="extractor"):
        MathTask({"extractor": "loose"})
    with pytest.raises(ConfigError, match="answer_format"):
        MathTask({"answer_format": "words"})
    with pytest.raises(ConfigError, match="fields"):
        MathTask({"fields": {"prompt": "x"}})
    with pytest.raises(ConfigError, match="max_new_tokens"):
        MathTask({"max_new_tokens": 0})


def test_task_splits_few_shot_and_overlap(tmp_path):
    task = MathTask({"dataset": "reasoning_gym:basic_arithmetic", "train_size": 30, "eval_size": 30, "few_shot": 2,
                     "generator_options": {"min_terms": 2, "max_terms": 2, "min_digits": 1, "max_digits": 1}})
    splits = task.load_splits(0)
    assert len(splits.train) == 30 and len(task.shots) == 2
    assert not {ex.question for ex in splits.eval} & {ex.question for ex in splits.train}
    messages = task.prompt(splits.train[0])
    assert [m["role"] for m in messages] == ["user", "assistant", "user", "assistant", "user"]
    assert messages[1]["content"] == task.shots[0].answer
