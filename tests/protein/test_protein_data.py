"""Data: the formats, single sequences and pairs, label rules, cropping, and invalid input by row number."""

from __future__ import annotations

import logging

import pytest

from boostlora import ConfigError, DataError
from boostlora_plugins.protein.encoding import ProteinExample, crop, length_buckets, pair_budget
from boostlora_plugins.protein.task import ProteinTask

from .conftest import CPU

SINGLE_CSV = "sequence,label\n" + "".join(f"{'ACDEFGHIKL'[:4 + i % 5]}MK,{i % 2}\n" for i in range(12))


def test_single_sequence_csv_loads_and_splits(write):
    task = ProteinTask({"data": write("single.csv", SINGLE_CSV), "eval_fraction": 0.25})
    splits = task.load_splits(seed=3)
    assert (len(splits.train), len(splits.eval)) == (9, 3)
    assert all(ex.partner is None for ex in splits.train)
    assert sorted(ex.where for ex in [*splits.train, *splits.eval])[0] == "row 1"
    again = task.load_splits(seed=3)
    assert [ex.sequence for ex in again.eval] == [ex.sequence for ex in splits.eval]


def test_pair_tsv_loads_and_encodes_with_linker(write, make_task):
    text = "receptor\tligand\tkd\n" + "".join(f"MKV{'A' * i}\tGW{'C' * i}\t{10 ** -i}\n" for i in range(1, 9))
    path = write("pairs.tsv", text)
    opts = dict(data=path, eval_data=path, sequence_column="receptor", partner_column="ligand", label_column="kd",
                label_threshold=1e-5, positive_when="below", pair_linker="GGGG")
    task, _ = make_task(**opts)
    splits = task.load_splits(0)
    assert len(splits.train) == 8 and splits.train[0].partner == "GWC"
    assert [ex.label for ex in splits.train] == [0, 0, 0, 0, 1, 1, 1, 1]  # Kd <= 1e-5 binds
    tokens, pool = task.encoder.batch([splits.train[0]], CPU)
    alphabet = task.encoder.alphabet
    decoded = "".join(alphabet.get_tok(int(t)) for t in tokens[0])
    assert decoded == "<cls>MKVAGGGGGWC<eos>"
    assert pool[0].tolist() == [False] + [True] * 4 + [False] * 4 + [True] * 3 + [False]


def test_eos_token_linker_and_bad_linker(make_task):
    task, _ = make_task(pair_linker="<eos>")
    tokens, pool = task.encoder.batch([ProteinExample("AC", 1, "DE")], CPU)
    assert tokens[0].tolist()[3] == task.encoder.alphabet.eos_idx and pool[0].sum() == 4
    with pytest.raises(ConfigError, match="pair_linker"):
        make_task(pair_linker="GG1")


def test_threshold_above_binarises_scores(write):
    text = "sequence,pkd\nACD,5.0\nACE,7.5\nACF,8.0\nACG,6.99\n"
    task = ProteinTask({"data": write("s.csv", text), "eval_data": write("e.csv", text), "label_column": "pkd", "label_threshold": 7.0})
    assert [ex.label for ex in task.load_splits(0).train] == [0, 1, 1, 0]


def test_parquet_and_fasta_load(tmp_path, write):
    import pandas as pd

    pd.DataFrame({"sequence": ["MKT", "MKV", "MKW", "MKY"], "label": [0, 1, 0, 1]}).to_parquet(tmp_path / "d.parquet")
    task = ProteinTask({"data": str(tmp_path / "d.parquet"), "eval_fraction": 0.5})
    assert len(task.load_splits(0).train) == 2
    fasta = write("d.fasta", ">a label=1 partner=GGW\nMKT\nVV\n>b label=0 partner=GGY\nMKW\n")
    splits = ProteinTask({"data": fasta, "eval_data": fasta, "partner_column": "partner"}).load_splits(0)
    assert [(ex.sequence, ex.partner, ex.label, ex.where) for ex in splits.train] == [
        ("MKTVV", "GGW", 1, "record 1 (>a)"), ("MKW", "GGY", 0, "record 2 (>b)")]


BAD_CSV = "sequence,label\nMKTAYIAK,1\nMKT1AYJ,0\n,1\nMKTW,\nmktw,2\nMK TW,0\n"


def test_invalid_rows_are_reported_by_row_number(write):
    task = ProteinTask({"data": write("bad.csv", BAD_CSV)})
    with pytest.raises(DataError) as err:
        task.load_splits(0)
    message = str(err.value)
    assert "4 invalid row(s)" in message and "\n" not in message
    assert "row 2: invalid residue(s) in sequence: '1' at 4, 'J' at 7" in message
    assert "row 3: empty sequence" in message
    assert "row 4: missing label" in message
    assert "row 5: label '2' is not a class id in 0..1" in message
    assert "row 6" not in message  # whitespace inside a sequence is dropped, lower case accepted
    assert "skip_invalid" in message


def test_skip_invalid_drops_rows_and_says_how_many(write, caplog):
    path = write("bad.csv", BAD_CSV)
    task = ProteinTask({"data": path, "eval_data": path, "skip_invalid": True})
    with caplog.at_level(logging.WARNING, logger="boostlora_plugins.protein"):
        splits = task.load_splits(0)
    assert [ex.sequence for ex in splits.train] == ["MKTAYIAK", "MKTW"]
    assert "dropped 4 invalid row(s) of 6" in caplog.text


def test_missing_columns_and_files_are_named(write):
    with pytest.raises(DataError, match="no column.*affinity.*columns: label, sequence"):
        ProteinTask({"data": write("a.csv", SINGLE_CSV), "label_column": "affinity"}).load_splits(0)
    with pytest.raises(ConfigError, match="does not exist"):
        ProteinTask({"data": "/nonexistent/x.csv"}).load_splits(0)
    with pytest.raises(ConfigError, match="unknown suffix"):
        ProteinTask({"data": write("a.json", "{}")}).load_splits(0)


def test_regression_label_without_threshold_hints_at_it(write):
    with pytest.raises(DataError, match="label_threshold"):
        ProteinTask({"data": write("r.csv", "sequence,label\nMKT,0.37\n")}).load_splits(0)


def test_options_are_checked_by_name():
    with pytest.raises(ConfigError, match="crop"):
        ProteinTask({"crop": "middle"})
    with pytest.raises(ConfigError, match="no option"):
        ProteinTask({"max_len": 10})
    with pytest.raises(ConfigError, match="num_classes=2"):
        ProteinTask({"label_threshold": 1.0, "num_classes": 3})


def test_crop_rules_and_pair_budget():
    assert crop("ABCDEFGH", 4, "start") == "ABCD"
    assert crop("ABCDEFGH", 4, "center") == "CDEF"
    assert crop("ABCDEFGH", 4, "end") == "EFGH"
    assert pair_budget(3, 100, 20) == (3, 17)  # the short chain keeps everything
    assert pair_budget(100, 30, 20) == (10, 10)
    assert pair_budget(5, 5, 20) == (5, 5)


def test_long_sequences_are_cropped_to_max_length(make_task):
    task, _ = make_task(max_length=10, pair_linker="GG", crop="end")
    tokens, pool = task.encoder.batch([ProteinExample("A" * 30 + "WY", 1)], CPU)
    assert tokens.shape == (1, 12) and int(pool.sum()) == 10
    assert task.encoder.alphabet.get_tok(int(tokens[0, -2])) == "Y"
    pair, pair_pool = task.encoder.batch([ProteinExample("M" * 30, 1, "K" * 30)], CPU)
    assert pair.shape == (1, 12) and int(pair_pool.sum()) == 8  # 4 + 4 residues, 2 linker
    assert task.encoder.cropped == 3


def test_length_buckets_group_similar_lengths():
    lengths = [50, 5, 48, 6, 7, 49]
    batches = length_buckets(lengths, batch_size=3, max_tokens=10_000)
    assert batches == [[1, 3, 4], [2, 5, 0]]
    assert length_buckets(lengths, batch_size=8, max_tokens=100) == [[1, 3, 4], [2, 5], [0]]  # 2 x 49 fits, 3 x 50 does not


def test_hub_dataset_uses_its_splits_or_holds_out(monkeypatch):
    import datasets

    tables = {"train": [{"seq": "MKT", "y": 1}, {"seq": "MKV", "y": 0}, {"seq": "MKW", "y": 1}, {"seq": "MKY", "y": 0}],
              "test": [{"seq": "GGW", "y": 1}]}
    calls = []

    def fake_load(name, split):
        calls.append((name, split))
        if split not in tables:
            raise ValueError(f"Unknown split {split}")
        return tables[split]

    monkeypatch.setattr(datasets, "load_dataset", fake_load)
    opts = {"data": "hf:lab/binders", "sequence_column": "seq", "label_column": "y"}
    splits = ProteinTask(opts).load_splits(0)
    assert len(splits.train) == 4 and [ex.sequence for ex in splits.eval] == ["GGW"]
    assert splits.eval[0].where == "row 1 of lab/binders[test]"
    held = ProteinTask({**opts, "eval_split": "validation", "eval_fraction": 0.5}).load_splits(0)
    assert (len(held.train), len(held.eval)) == (2, 2)
    assert ("lab/binders", "validation") in calls


def test_cropping_is_reported_when_preparing(write, make_task, caplog):
    path = write("long.csv", "sequence,label\n" + "M" * 40 + ",1\nMKT,0\n" + "A" * 50 + ",0\n")
    task, model = make_task(data=path, eval_data=path, max_length=30)
    with caplog.at_level(logging.WARNING, logger="boostlora_plugins.protein"):
        task.prepare(model, task.load_splits(0))
    assert "cropped 2 sequence(s) longer than max_length=30 residues (crop=start)" in caplog.text


@pytest.mark.parametrize("options", [{"eval_fraction": 1.5}, {"label_threshold": "high"}, {"synthetic_difficulty": "hard"}])
def test_numeric_options_are_checked(options):
    with pytest.raises(ConfigError, match="task_options"):
        ProteinTask(options)
