"""Candidates started one check ahead (bubblewrap only): each program still has a sandbox of its own, a batch
leaves nothing waiting, and a candidate that died while waiting is never handed a program."""

from __future__ import annotations

import os

import pytest
from boostlora_plugins.code import cgroup, prestart
from boostlora_plugins.code.checker import Checker
from boostlora_plugins.code.data import Problem
from boostlora_plugins.code.sandbox import Job, prestart_key, run_job

from .conftest import TIGHT


@pytest.fixture
def bwrap(isolation):
    if isolation.name != "bwrap":
        pytest.skip("candidates start ahead only under bubblewrap")
    prestart.discard()
    yield isolation
    prestart.discard()


def _support():
    found = cgroup.probe()
    return found if isinstance(found, cgroup.Support) else None


def test_a_batch_runs_each_program_in_its_own_sandbox_and_leaves_nothing_waiting(bwrap):
    """The second program looks for the file the first one left in its /tmp: a candidate started ahead has a
    tmpfs of its own. After the batch no candidate waits and no cgroup is left."""
    support = _support()
    before = set(os.listdir(support.memory_parent)) if support else set()
    leave = "def f():\n    open('/tmp/left-by-the-first', 'w').write('x')\n    return True\n"
    look = "import os\ndef f():\n    return os.path.exists('/tmp/left-by-the-first')\n"
    problems = [Problem(f"p/{i}", "", "f", (test,)) for i, test in enumerate(("assert f() is True", "assert f() is False",
                                                                              "assert f() is False"))]
    results = Checker(TIGHT, bwrap, workers=1).check_many(problems, [leave, look, look])
    assert [r.status for r in results] == ["passed", "passed", "passed"], [r.detail for r in results]
    assert prestart._waiting == []
    if support:
        assert set(os.listdir(support.memory_parent)) == before


def test_a_check_ahead_starts_the_next_candidate_and_the_next_check_takes_it(bwrap):
    key = prestart_key(bwrap, TIGHT, _support())
    first = run_job(Job("def f(x):\n    return x + 1\n", ("assert f(1) == 2",)), TIGHT, bwrap, ahead=True)
    assert first.ok and len(prestart._waiting) == 1 and prestart._waiting[0][0] == key
    waiting = prestart._waiting[0][1].proc
    assert waiting.poll() is None  # started, and waiting for its job
    second = run_job(Job("def f(x):\n    return x * 2\n", ("assert f(3) == 6",)), TIGHT, bwrap)
    assert second.ok and prestart._waiting == [] and waiting.poll() is not None  # taken, ran, reaped


def test_a_candidate_that_died_while_waiting_is_never_used(bwrap):
    run_job(Job("def f(x):\n    return x\n", ("assert f(1) == 1",)), TIGHT, bwrap, ahead=True)
    (_, waiting), = prestart._waiting
    os.killpg(waiting.proc.pid, 9)
    waiting.proc.wait()
    result = run_job(Job("def f(x):\n    return x\n", ("assert f(1) == 1",)), TIGHT, bwrap)
    assert result.ok, result.detail
    assert prestart._waiting == []


def test_other_limits_discard_what_waits(bwrap):
    run_job(Job("def f(x):\n    return x\n", ("assert f(1) == 1",)), TIGHT, bwrap, ahead=True)
    (_, old), = prestart._waiting
    other = TIGHT.__class__(**{**TIGHT.to_dict(), "processes": TIGHT.processes + 1})
    assert run_job(Job("def f(x):\n    return x\n", ("assert f(1) == 1",)), other, bwrap, ahead=True).ok
    (key, _), = prestart._waiting
    assert key[1] == other and old.proc.poll() is not None
