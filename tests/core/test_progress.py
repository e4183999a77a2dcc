"""Run-level progress: a first line at once, a rounds bar with an ETA (plain lines when stderr is no terminal), the
GRPO bar's legend once, and silence with show_progress=false."""

from __future__ import annotations

import io
import sys

from boostlora.cli import main
from boostlora.foundation.config import build_config
from boostlora.runs.progress import RoundProgress, format_seconds

class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


FAST = ["u=4", "weight_tying=0.0", "targets=[out]", "objective_options.steps=5", "max_rounds=2", "patience=null"]


def test_a_run_says_what_it_loads_first_then_counts_rounds(toy_plugin, tmp_path, capsys):
    """stderr is no terminal here: the first line and one line per round go to stdout, stderr stays for errors."""
    code = main(["run", "--plugin", "toy", "--task", "toy", "--out", str(tmp_path / "run"), *FAST])
    captured = capsys.readouterr()
    out = captured.out.splitlines()
    assert code == 0, captured.err
    assert out[0].startswith("boostlora: starting toy/toy: loading the data and the model toy-net on cpu, then "
                             "evaluating the base model"), out[0]
    rounds = [line for line in out if line.startswith("boostlora: round ")]
    assert len(rounds) == 2, out
    assert rounds[0].startswith("boostlora: round 1/2 done (") and "left for 1 more)" in rounds[0], rounds
    assert rounds[1].startswith("boostlora: round 2/2 done (") and "left" not in rounds[1], rounds
    assert "boostlora:" not in captured.err


def test_on_a_terminal_the_first_line_and_the_rounds_bar_are_on_stderr(toy_plugin, tmp_path, capsys, monkeypatch):
    screen = Terminal()
    monkeypatch.setattr(sys, "stderr", screen)
    code = main(["run", "--plugin", "toy", "--task", "toy", "--out", str(tmp_path / "run"), *FAST])
    assert code == 0
    text = screen.getvalue()
    assert text.startswith("boostlora: starting toy/toy: loading the data and the model toy-net on cpu"), text[:200]
    assert "round 1/2" in text and "round 2/2" in text and "2/2 [" in text  # the bar: label, count, timing
    assert "round 0 cross_entropy" in text  # a phase bar, beneath it
    assert "boostlora: round" not in text and "boostlora: round" not in capsys.readouterr().out


def test_show_progress_false_prints_none_of_it(toy_plugin, tmp_path, capsys):
    code = main(["run", "--plugin", "toy", "--task", "toy", "--out", str(tmp_path / "run"), *FAST, "show_progress=false"])
    captured = capsys.readouterr()
    assert code == 0 and "boostlora: starting" not in captured.out + captured.err
    assert "boostlora: round" not in captured.out + captured.err


def test_on_a_terminal_it_is_one_tqdm_bar_over_the_rounds():
    config = build_config({"plugin": "toy", "max_rounds": 4})
    screen = Terminal()
    with RoundProgress(config, rounds_done=1, stream=screen) as bar:  # a resumed run: one round already done
        bar.start(1)
        from tqdm.auto import tqdm

        phase = tqdm(total=3, desc="generate", leave=False, file=screen)  # as generate() opens its bar
        assert phase.pos in (1, -1)  # the next free line: beneath the rounds bar
        phase.close()
        bar.finished(2)
        bar.start(2)
    text = screen.getvalue()
    assert "round 2/4" in text and "round 3/4" in text and "2/4" in text and "boostlora: round" not in text
    assert "\r" in text  # redrawn in place, not a line per update


def test_format_seconds():
    assert [format_seconds(s) for s in (4.4, 65, 3720)] == ["4 s", "1 min 5 s", "1 h 2 min"]


def test_the_grpo_bar_explains_zero_std_once(capsys, monkeypatch):
    from boostlora.objectives import grpo

    monkeypatch.setattr(grpo, "_legend_shown", [])
    first = grpo._progress_callback(object, "round 0 grpo", 2, True)
    second = grpo._progress_callback(object, "round 1 grpo", 2, True)
    first.bar.close(), second.bar.close()
    err = capsys.readouterr().err
    assert err.count(grpo.ZERO_STD_LEGEND) == 1
    assert grpo.ZERO_STD_LEGEND == "zero_std = share of GRPO groups whose rewards all agree (no learning signal)"
