"""The process-wide masking authority: the secrets of every execution in flight.

A line can reach an output from any thread and any logger, and nothing says for sure which execution
it belongs to. So every output path masks with the union of the secrets of all executions in flight:
over-masking a line of another request is acceptable, leaking one is not.

An execution holds its masker from the moment its connection's secrets are known until its reply is
built. Threads and executor tasks the step starts hold it too (see ``_thread_context``), so a worker
thread that outlives its step is still masked with its secrets. Registration is reference counted
(executions of one connection share one cached masker) and copy-on-write: masking reads one tuple
without taking the lock.
"""

from __future__ import annotations

import threading
from typing import Any

from ._masking import SecretMasker, find_spans, mask_value, replace_spans


class InFlightSecrets:
    """Reference-counted registry of the maskers in use, and masking with all of them at once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[SecretMasker, int] = {}
        self._active: tuple[SecretMasker, ...] = ()
        self._numbers: frozenset[str] = frozenset()

    def acquire(self, masker: SecretMasker) -> None:
        """Count one more user of ``masker`` (an execution, or a thread or task it started)."""
        if not masker:
            return
        with self._lock:
            count = self._counts.get(masker, 0)
            self._counts[masker] = count + 1
            if count == 0:
                self._publish()

    def release(self, masker: SecretMasker) -> None:
        if not masker:
            return
        with self._lock:
            count = self._counts.get(masker, 0)
            if count > 1:
                self._counts[masker] = count - 1
            elif count == 1:
                del self._counts[masker]
                self._publish()

    def _publish(self) -> None:
        self._active = tuple(self._counts)
        self._numbers = frozenset(secret for masker in self._active for secret in masker.secrets)

    @property
    def active(self) -> tuple[SecretMasker, ...]:
        return self._active

    def mask_text(self, text: str, also: SecretMasker | None = None) -> str:
        """``text`` with every form of every in-flight secret (and of ``also``'s) masked, in one pass
        per form: spans from all maskers are merged before replacing, so one secret that contains or
        overlaps another is never left half visible."""
        active = self._active
        if not text or not isinstance(text, str) or (not active and not also):
            return text
        spans: list[tuple[int, int]] = []
        for masker in active:
            spans += find_spans(text, masker.forms)
        if also and also not in active:
            spans += find_spans(text, also.forms)
        return replace_spans(text, spans)

    def mask(self, value: Any) -> Any:
        """A masked copy of JSON-like ``value`` (strings, bytes, containers, secret numbers)."""
        if not self._active:
            return value
        return mask_value(value, self.mask_text, self._numbers)


#: The one authority of this process.
IN_FLIGHT = InFlightSecrets()
