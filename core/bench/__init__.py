"""Measuring the method: the cross-task suite (units of work, tables, plots), the single-shot baselines it
compares against, and the speed suite. Nothing in a run imports this package.
"""
