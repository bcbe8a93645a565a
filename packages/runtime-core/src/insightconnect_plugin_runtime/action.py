"""``Action``: a step that takes an input and returns one output."""

from .step import Step


class Action(Step):
    """Subclass and implement ``run(params) -> dict``."""
