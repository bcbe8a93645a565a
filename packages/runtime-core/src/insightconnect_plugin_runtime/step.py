"""``Step``: what actions, triggers and tasks have in common."""

from __future__ import annotations

import logging
from typing import Any


class Step:
    """One unit of plugin work with an input and an output schema.

    The runtime copies the registered step for every execution and sets ``connection``, ``logger``
    and ``debug`` on the copy, so a step may keep per-execution attributes on ``self``.
    """

    def __init__(self, name: str, description: str, input: Any, output: Any, state: Any = None) -> None:
        self.name = name
        self.description = description
        self.input = input
        self.output = output
        self.state = state
        self.connection: Any = None
        self.debug = False
        self.logger: Any = logging.getLogger(name)

    def run(self, params: dict | None = None) -> Any:
        raise NotImplementedError(f"step {self.name!r} does not implement run()")

    def test(self, params: dict | None = None) -> Any:
        """Kept for old plugins; connection tests belong to ``Connection.test``."""
        return None
