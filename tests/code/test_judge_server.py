"""The judge server: one interpreter forks each check's judge; nothing passes from one check's judge to the next."""

from __future__ import annotations

import os
import signal

import pytest
from boostlora_plugins.code import judges
from boostlora_plugins.code.sandbox import Job, run_job

from .conftest import TIGHT

ADD = "def f(x):\n    return x + 1\n"


def _idle_pids() -> set[int]:
    return {server.process.pid for server in judges._idle}


@pytest.fixture(autouse=True)
def no_idle_servers():
    """Each test starts with no idle server (checks run in parallel elsewhere may have left several)."""
    judges._close_all()


def test_checks_reuse_one_server_and_each_gets_its_own_judge(isolation):
    first = run_job(Job(ADD, ("assert f(1) == 2",)), TIGHT, isolation)
    servers = _idle_pids()
    second = run_job(Job("def f(x):\n    return x\n", ("assert f(1) == 2",)), TIGHT, isolation)
    assert first.status == "passed" and first.passed == 1
    assert second.status == "failed" and second.detail.startswith("test 0 (assert f(1) == 2): AssertionError")
    assert len(servers) == 1 and _idle_pids() == servers  # the same server forked both judges


def test_a_judge_sees_nothing_an_earlier_judge_left_behind(isolation):
    """A test that stores what the program returned in a module of the judge: the next check's judge is a fresh
    fork of the server, which never ran a test, so the stored value is gone."""
    stash = run_job(Job("def f(x):\n    return 'from the program'\n", ("import math\nmath.stash = f(1)\nassert True",)),
                    TIGHT, isolation)
    look = run_job(Job(ADD, ("import math\nassert not hasattr(math, 'stash'), math.stash\nassert f(1) == 2",)),
                   TIGHT, isolation)
    assert stash.status == "passed"
    assert look.status == "passed", look.detail


def test_a_dead_server_fails_no_later_check(isolation):
    run_job(Job(ADD, ("assert f(1) == 2",)), TIGHT, isolation)
    (server,) = judges._idle
    os.kill(server.process.pid, signal.SIGKILL)
    server.process.wait()
    result = run_job(Job(ADD, ("assert f(1) == 2",)), TIGHT, isolation)
    assert result.status == "passed", result.detail
    assert server.process.pid not in _idle_pids() and len(judges._idle) == 1


def test_a_server_that_dies_mid_check_fails_only_that_check(isolation):
    """The judge dies with its server (PR_SET_PDEATHSIG): that check fails with a reason, the next one passes."""
    run_job(Job(ADD, ("assert f(1) == 2",)), TIGHT, isolation)
    (server,) = judges._idle
    slow = "import time\ndef f(x):\n    time.sleep(0.5)\n    return x + 1\n"
    killer = f"import os, signal\nos.kill({server.process.pid}, signal.SIGKILL)\nassert f(1) == 2"
    result = run_job(Job(slow, (killer, "assert f(1) == 2")), TIGHT, isolation)  # the trusted test kills it
    assert result.status == "error" and "the judge ended without a verdict" in result.detail, result.detail
    assert run_job(Job(ADD, ("assert f(1) == 2",)), TIGHT, isolation).status == "passed"
    assert server.process.pid not in _idle_pids()
