"""A run as a user holds it: starting one (``setup``), driving it (``lifecycle``), recording each round
(``recorder``), the run directory and its lock (``rundir``), checkpoints, the SVD cache, the run's identity for
``--resume``, the report, and the LoRA export.
"""
