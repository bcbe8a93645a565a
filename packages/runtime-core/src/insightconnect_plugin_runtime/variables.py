"""``Input``, ``Output`` and ``State``: a step's JSON Schemas and their validation.

Generated plugin code subclasses these with a ``schema`` class attribute. Validation is compiled once
per object (see ``_validation``), not rebuilt on every call.
"""

from __future__ import annotations

from typing import Any

from . import util
from ._validation import CompiledSchema
from .exceptions import ClientException


class IOS:
    """A JSON Schema plus the parameters last set against it."""

    def __init__(self, schema: dict[str, Any]) -> None:
        self.schema = schema
        self.parameters: Any = None
        self._compiled: CompiledSchema | None = None

    @property
    def compiled(self) -> CompiledSchema:
        if self._compiled is None or self._compiled.schema is not self.schema:
            self._compiled = CompiledSchema(self.schema)
        return self._compiled

    def set(self, parameters: Any, should_validate: bool = True) -> None:
        self.parameters = parameters
        if should_validate:
            self.validate(parameters)

    def validate(self, parameters: Any) -> None:
        """Raise ``jsonschema.ValidationError`` when ``parameters`` does not fit the schema."""
        self.compiled.validate(parameters)

    def sample(self) -> dict[str, Any]:
        return util.sample(self.schema)


class Input(IOS):
    def validate_required(self, parameters: Any) -> None:
        """Reject required inputs that are present but null or an empty string (0 and False are fine)."""
        required = (self.schema or {}).get("required") or ()
        if not isinstance(parameters, dict):
            return
        empty = [key for key in required if key in parameters and parameters[key] in (None, "")]
        if empty:
            names = ", ".join(empty)
            raise ClientException(f"Required input {names} must not be null or an empty string.")


class Output(IOS):
    pass


class State(IOS):
    pass
