from .emit_greeting.trigger import EmitGreeting  # noqa: F401
