"""Built-in code task plugin: HumanEval/MBPP problems judged by running their tests in a sandbox.

Modules, one job each: ``limits`` (the budget and limit names), ``isolation`` (bubblewrap or the fallback),
``runner`` (the trusted code inside the sandbox), ``sandbox`` (host side of one run), ``checker`` (parallel
verdicts), ``extract`` (code out of chat answers), ``data`` (sources), ``metrics`` (pass@k), ``consent``
(the opt-in), ``task`` (``CodeTask``), ``plugin`` (registration).
"""
