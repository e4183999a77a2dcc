"""The ground floor every layer stands on: settings, errors, digests, processes, devices, statistics, fault points.

Nothing here imports any other part of boostlora.
"""
