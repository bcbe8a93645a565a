from .emit_count.trigger import EmitCount

__all__ = ["EmitCount"]
