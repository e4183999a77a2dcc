"""benchmarks/RESULTS.md says what the saved runs in benchmarks/data say, table for table.

The generated half of RESULTS.md is regenerated here from the saved suites (nothing is trained), and the
distinct-item tables pasted into its hand-written half are recomputed from the saved verdicts. A saved run that
was added or replaced without regenerating the tables, or a table edited by hand, fails here: the numbers a user
reads are the numbers the runs hold.
"""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest
from boostlora.bench.suite import environment, saved_state
from boostlora.bench.tables import write_tables

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
RESULTS = BENCHMARKS / "RESULTS.md"
#: The saved held-out suites the generated tables are made from (the command in RESULTS.md's header).
HELD_OUT = ("protein-heldout", "math-heldout", "code-heldout")
#: Header lines that name the machine and moment of regeneration, not the results.
CIRCUMSTANCES = ("- date:", "- machine:", "- versions:")


def tables_only(text: str) -> list[str]:
    return [line for line in text.splitlines() if not line.startswith(CIRCUMSTANCES)]


def markdown_tables(text: str) -> list[str]:
    """Each run of consecutive '|' lines, as one block."""
    blocks, current = [], []
    for line in text.splitlines() + [""]:
        if line.startswith("|"):
            current.append(line)
        elif current:
            blocks.append("\n".join(current))
            current = []
    return blocks


def test_the_generated_tables_are_the_saved_suites_tables(tmp_path):
    merge = runpy.run_path(str(BENCHMARKS / "merge_suites.py"))["merge"]
    merged = tmp_path / "cpu-all"
    merge([BENCHMARKS / "data" / name for name in HELD_OUT], merged)
    written = RESULTS.read_text()
    header = next(line.strip() for line in written.splitlines() if line.strip().startswith("boostlora bench"))
    regenerated = tmp_path / "RESULTS.md"
    regenerated.write_text(written)
    write_tables("cpu", merged, saved_state(merged, "cpu"), environment(header), regenerated)
    assert tables_only(regenerated.read_text()) == tables_only(written), (
        "RESULTS.md's generated tables differ from the saved runs: regenerate them with the command in "
        "benchmarks/data/README.md")
    assert len(markdown_tables(written)) > 10


@pytest.fixture(scope="module")
def distinct_output() -> str:
    """What ``python benchmarks/distinct_items.py`` prints (it counts the comparison family with check_results)."""
    return runpy.run_path(str(BENCHMARKS / "distinct_items.py"))["main"]()


def test_the_distinct_item_tables_in_results_md_are_what_the_saved_verdicts_give(distinct_output):
    tables = markdown_tables(distinct_output)
    assert len(tables) == 2  # the methods, and the paired comparisons
    written = RESULTS.read_text()
    for table in tables:
        assert table in written, f"RESULTS.md does not hold this table as distinct_items.py prints it:\n{table}"
