"""Error metrics attached to failed replies in the cloud (``body.metrics``).

Only the *names* of the input fields are reported, never their values.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from .exceptions import ConnectionTestException


@dataclass
class MetricsBuilder:
    """The metrics payload of one failed execution; ``build()`` renders it."""

    plugin_name: str
    plugin_version: str
    plugin_vendor: str
    input_message: dict[str, Any] | None
    exception_: BaseException
    workflow_id: str | None = None
    org_id: str | None = None

    def build(self) -> dict[str, Any]:
        return self._create_metrics_payload()

    def _create_metrics_payload(self) -> dict[str, Any]:
        return {
            "plugin": {
                "name": self.plugin_name,
                "version": self.plugin_version,
                "vendor": self.plugin_vendor,
            },
            "workflow": {
                "step": {"inputs": self._sanitize_input(), "error": self._build_error_blob()},
                "id": self.workflow_id,
            },
            "organization_id": self.org_id,
            "measurement_time": self._get_timestamp(),
        }

    def _build_error_blob(self) -> dict[str, Any]:
        error = self.exception_
        if isinstance(error, ConnectionTestException):
            return {"cause": error.preset or error.cause, "known": True, "message": str(error)}
        return {"cause": type(error).__name__, "known": False, "message": str(error)}

    @staticmethod
    def _get_timestamp() -> str:
        return str(int(time.time()))

    def _sanitize_input(self) -> list[str]:
        body = (self.input_message or {}).get("body") if isinstance(self.input_message, dict) else None
        inputs = body.get("input") if isinstance(body, dict) else None
        return list(inputs) if isinstance(inputs, dict) else []
