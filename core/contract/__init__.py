"""The plugin contract: what a task or objective is, what crosses the boundary, and how plugins are found.

``Task`` and its capability protocols, ``Verdict``/``Evaluation``/``Splits``, the ``Objective`` interface, typed
``Options``, the hook specifications and the read-only views hooks receive, the checks applied to everything a
plugin returns, the one evaluation path, the validation carve, and the plugin manager. Plugin authors use the
names the top-level ``boostlora`` package exports; these modules are where they live.
"""
