"""The plugin's JSON encoder: renders values plain JSON cannot hold (as some public plugins do)."""

import json


class Opaque:
    """A value only the encoder knows how to write."""

    def __init__(self, text):
        self.text = text


class ExampleEncoder(json.JSONEncoder):
    def default(self, o):
        if isinstance(o, Opaque):
            return {"opaque": o.text}
        if isinstance(o, (bytes, bytearray)):
            return bytes(o).decode("utf-8", "replace")
        if isinstance(o, (set, frozenset)):
            return sorted(o, key=str)
        return super().default(o)
