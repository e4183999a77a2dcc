"""``python -m boostlora``: the CLI, for launchers that start modules (``torchrun -m``, ``accelerate launch -m``)."""

import sys

from boostlora.cli import entry

sys.exit(entry())
