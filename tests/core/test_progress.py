"""Run-level progress: a first line at once, a rounds bar with an ETA (plain lines when stderr is no terminal), the
GRPO bar's legend once, and silence with show_progress=false."""

from __future__ import annotations

import io

from boostlora.cli import main
from boostlora.foundation.config import build_config
from boostlora.runs.progress import RoundProgress, format_seconds

FAST = ["u=4", "weight_tying=0.0", "targets=[out]", "objective_options.steps=5", "max_rounds=2", "patience=null"]


def test_a_run_says_what_it_loads_first_then_counts_rounds(toy_plugin, tmp_path, capsys):
    code = main(["run", "--plugin", "toy", "--task", "toy", "--out", str(tmp_path / "run"), *FAST])
    err = capsys.readouterr().err.splitlines()
    assert code == 0, err
    assert err[0].startswith("boostlora: starting toy/toy: loading the data and the model "), err[0]
    assert "on cpu, then evaluating the base model" in err[0]
    rounds = [line for line in err if line.startswith("boostlora: round ")]
    assert rounds, err
    assert rounds[0].startswith("boostlora: round 1/2 done (") and "left for 1 more)" in rounds[0], rounds
    assert rounds[1].startswith("boostlora: round 2/2 done (") and "left" not in rounds[1], rounds


def test_show_progress_false_prints_none_of_it(toy_plugin, tmp_path, capsys):
    code = main(["run", "--plugin", "toy", "--task", "toy", "--out", str(tmp_path / "run"), *FAST, "show_progress=false"])
    err = capsys.readouterr().err
    assert code == 0 and "boostlora: starting" not in err and "boostlora: round" not in err


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


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
