"""``python -m boostlora``: the CLI, for launchers that start modules (``torchrun -m``, ``accelerate launch -m``)."""

import sys

from .cli import main

sys.exit(main())
