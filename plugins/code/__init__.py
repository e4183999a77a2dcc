"""Built-in code task plugin: generated, HumanEval and MBPP problems, judged by running their tests.

Modules, one job each: ``limits`` (the budget and limit names), ``isolation`` (bubblewrap or the fallback),
``seccomp`` (the sandbox's syscall filter), ``memory`` (the memory bound in force), ``callee`` (the program's
side, inside the sandbox), ``judge`` (the tests' side, outside it), ``wire`` (plain data between the two),
``sandbox`` (host side of one check), ``checker`` (parallel verdicts), ``extract`` (code out of chat answers),
``data`` (sources), ``generated`` (the seeded offline problems), ``metrics`` (pass@k), ``consent`` (the
opt-in), ``task`` (``CodeTask``), ``plugin`` (registration).
"""
