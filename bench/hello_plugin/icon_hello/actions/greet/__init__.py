from .action import Greet  # noqa: F401
