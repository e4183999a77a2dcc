"""Boostlora's built-in task plugins. Each is an ordinary plugin, found through the `boostlora` entry points."""
