"""Where a benchmark script's table and numbers go: stdout, and the ``--markdown`` / ``--json`` files asked for.

Shared by the scripts that print one Markdown table for SPEED.md and keep their raw numbers beside it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def publish(table: str, numbers: Any, markdown: str | None = None, json_path: str | None = None) -> None:
    """Print ``table``; write it to ``markdown`` and ``numbers`` (as JSON) to ``json_path`` when given."""
    print(table)
    if markdown:
        Path(markdown).write_text(table + "\n")
    if json_path:
        Path(json_path).write_text(json.dumps(numbers, indent=2))
