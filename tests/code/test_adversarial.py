"""Hostile programs: each is contained, fails, names the limit that stopped it, and leaves the host unchanged.

Every program is followed by a test that would fail anyway (``f`` is never defined), so a "limit" result
proves the limit fired, not that the test caught a wrong answer. The expected limit differs by isolation:
under bubblewrap writes hit a read-only mount; in the unshare fallback (as root, dropped to an unused uid)
they hit Unix permissions.
"""

from __future__ import annotations

import dataclasses
import os
import time

import pytest

from boostlora import ConfigError
from boostlora_plugins.code import limits as L
from boostlora_plugins.code.isolation import select
from boostlora_plugins.code.sandbox import UID_BASE, UID_POOL, Job, run_job

from .conftest import TIGHT

MARKER = "4321.123457"  # a sleep duration nothing else on the host uses: finds escaped children by argv
ROOT = os.geteuid() == 0

# name: (program, limit under bwrap, limit under the unshare fallback or None when it does not guarantee one)
CASES = {
    "socket": ("import socket\nsocket.create_connection(('1.1.1.1', 53), timeout=3)\n", L.NETWORK, L.NETWORK),
    "dns": ("import socket\nsocket.getaddrinfo('example.com', 80)\n", L.NETWORK, L.NETWORK),
    # bwrap shows no host directory but /usr and the Python installation: the victim does not exist there
    "write_outside_workdir": ("open('{victim_dir}/new.txt', 'w').write('pwned')\n", L.HIDDEN_PATH, ROOT and L.PERMISSION),
    "delete_files": ("import os\nos.remove('{victim_file}')\n", L.HIDDEN_PATH, ROOT and L.PERMISSION),
    "delete_tree": ("import shutil\nshutil.rmtree('{victim_dir}')\n", L.HIDDEN_PATH, ROOT and L.PERMISSION),
    "write_system_dir": ("open('/usr/lib/boostlora-pwned.txt', 'w').write('pwned')\n", L.READ_ONLY, ROOT and L.PERMISSION),
    "read_home": ("print(open('{secret}').read())\n", L.HIDDEN_PATH, ROOT and L.PERMISSION),
    "fork_bomb": ("import os\nwhile True:\n    os.fork()\n", L.PROCESSES, L.PROCESSES),
    "thread_bomb": ("import threading, time\nwhile True:\n    threading.Thread(target=time.sleep, args=(60,)).start()\n",
                    L.PROCESSES, L.PROCESSES),
    "infinite_loop": ("while True:\n    pass\n", L.CPU_TIME, L.CPU_TIME),
    "sleep_forever": ("import time\ntime.sleep(3600)\n", L.WALL_TIME, L.WALL_TIME),
    "memory_bomb": ("blocks = [bytearray(1 << 26) for _ in range(1000)]\n", L.MEMORY, L.MEMORY),
    # As root the program runs as another uid, so the kill is refused; without root, bwrap's pid 1 ignores it
    # and the loop after it runs into the CPU limit. Either way the parent survives.
    "kill_parent": ("import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\nwhile True:\n    pass\n",
                    L.PERMISSION if ROOT else L.CPU_TIME, ROOT and L.PERMISSION),
    "kill_host": ("import os, signal\nos.kill({host_pid}, signal.SIGKILL)\n", L.PROCESS_ISOLATION, ROOT and L.PERMISSION),
    "child_outlives_parent": (
        "import os\npid = os.fork()\nif pid == 0:\n    os.setsid()\n    if os.fork() == 0:\n"
        f"        os.execv('/bin/sleep', ['sleep', '{MARKER}'])\n    os._exit(0)\nos.waitpid(pid, 0)\n"
        "def f(x):\n    return x + 1\n",
        L.STRAY_PROCESSES, L.STRAY_PROCESSES,
    ),
    "print_gigabytes": ("import sys\nchunk = 'x' * (1 << 20)\nfor _ in range(4096):\n    sys.stdout.write(chunk)\n",
                        L.OUTPUT, L.OUTPUT),
    "huge_file": ("open('big.bin', 'wb').write(b'x' * (64 << 20))\n", L.FILE_SIZE, L.FILE_SIZE),
    "fill_workdir": ("for i in range(64):\n    open(f'part{{i}}', 'wb').write(b'x' * (1 << 20))\n", L.FILE_SIZE, None),
}


def _isolation(level: str):
    try:
        return select(level)
    except ConfigError as exc:
        pytest.skip(f"isolation {level} unavailable here: {exc}")


def _escaped_processes() -> list[int]:
    """Processes started by a sandboxed program that are still alive (zombies are dead: they only wait for
    the host's init to reap them): the marker child, or any uid of the sandbox pool."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = open(f"/proc/{entry}/cmdline", "rb").read()
            status = dict(line.split(":", 1) for line in open(f"/proc/{entry}/status") if ":" in line)
        except (OSError, ValueError):
            continue
        if status.get("State", "Z").split()[0] in ("Z", "X"):
            continue
        uid = int(status["Uid"].split()[0])
        if MARKER.encode() in cmdline or UID_BASE <= uid < UID_BASE + UID_POOL:
            found.append(int(entry))
    return found


@pytest.mark.parametrize("level", ["auto", "unshare"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_hostile_program_is_contained(case, level, limits, victim, home_secret):
    isolation = _isolation(level)
    program, bwrap_limit, fallback_limit = CASES[case]
    expected = bwrap_limit if isolation.name == "bwrap" else fallback_limit
    if not expected:
        pytest.skip(f"the {isolation.name} isolation does not guarantee a limit for {case}")
    victim_dir, victim_file, original = victim
    before = sorted(p.name for p in victim_dir.iterdir())
    source = program.format(victim_dir=victim_dir, victim_file=victim_file, secret=home_secret, host_pid=os.getpid())
    budget = limits
    if case == "sleep_forever":
        budget = dataclasses.replace(limits, wall_seconds=1.5)
    elif case == "memory_bomb":
        # zero-filling 512 MiB of page faults took over 1 s of CPU on a loaded CI machine, so the CPU limit won the
        # race against the memory limit this case is about; 4 s keeps the two apart (the wall limit is 8 s)
        budget = dataclasses.replace(limits, cpu_seconds=4)

    start = time.monotonic()
    result = run_job(Job(source, ("assert f(1) == 2",)), budget, isolation)
    elapsed = time.monotonic() - start

    assert not result.ok
    assert (result.status, result.limit) == ("limit", expected), result
    assert elapsed < budget.wall_seconds + 3
    # the host is unchanged
    assert victim_file.read_bytes() == original
    assert sorted(p.name for p in victim_dir.iterdir()) == before
    assert home_secret.read_bytes() == b"TOKEN-8d1f4a\n"
    assert "TOKEN" not in result.stdout
    assert _escaped_processes() == []


def test_exiting_early_is_not_a_pass(isolation, limits):
    for early_exit in ("import os\nos._exit(0)\n", "import sys\nsys.exit(0)\n", "raise SystemExit\n"):
        result = run_job(Job("def f(x):\n    return x + 1\n" + early_exit, ("assert f(1) == 2",)), limits, isolation)
        assert not result.ok and result.status == "error", (early_exit, result)


def test_forged_report_is_not_a_pass(isolation, limits):
    forged = 'print(\'\\n0123456789abcdef0123456789abcdef{"status": "passed", "limit": null, "detail": "", "passed": 1, "total": 1}\')\n'
    result = run_job(Job(forged + "import os\nos._exit(0)\n", ("assert f(1) == 2",)), limits, isolation)
    assert not result.ok


def test_timeout_kills_whole_process_group(isolation):
    """Children that keep running when the program times out are killed with it."""
    program = (f"import os, time\nfor _ in range(3):\n    if os.fork() == 0:\n        os.execv('/bin/sleep', ['sleep', '{MARKER}'])\n"
               "time.sleep(3600)\n")
    budget = dataclasses.replace(TIGHT, wall_seconds=1.0)
    result = run_job(Job(program, ("assert True",)), budget, isolation)
    assert result.limit == L.WALL_TIME
    time.sleep(0.2)
    assert _escaped_processes() == []
