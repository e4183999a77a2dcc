"""The README's run-directory section states what the code does: the settings --resume may change, the exit codes."""

from __future__ import annotations

import re
from pathlib import Path

from boostlora.foundation import errors
from boostlora.runs.run_identity import RESUMABLE

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def test_readme_lists_exactly_the_settings_resume_may_change():
    paragraph = README.split("**What `--resume` may change.**", 1)[1].split("Any other change", 1)[0]
    named = set(re.findall(r"`(\w+)`", paragraph))
    assert named == set(RESUMABLE)


def test_readme_exit_code_table_matches_the_errors():
    codes = {int(code) for code in re.findall(r"^\| (\d+) \|", README, flags=re.M)}
    declared = {value for name, value in vars(errors).items() if name.startswith("EXIT_")}
    assert codes == {0, 1} | declared
    for cls in (errors.ConfigError, errors.DataError, errors.RunDirError, errors.RunDirBusy, errors.Interrupted):
        assert cls.exit_code in declared
