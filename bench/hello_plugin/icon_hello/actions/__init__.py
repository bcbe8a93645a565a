from .greet.action import Greet  # noqa: F401
