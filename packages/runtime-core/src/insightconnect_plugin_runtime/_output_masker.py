"""``OutputMasker``: the masking entry points plugins call by name, kept apart from the masker itself.

Plugins call ``OutputMasker.extract_connection_values``, ``count_percentage_leak``, ``mask_str_in_dict``
and ``mask_output_data`` directly (the runtime contract lists them), so the names and signatures stay;
each is a thin shell over :mod:`_masking`'s :class:`SecretMasker`, which is where the masking rules live.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ._masking import MASK, SecretMasker, _secrets_by_key_name, masker_for

__all__ = ["OutputMasker"]


class OutputMasker:
    """The masking entry points plugins call by name (``OutputMasker.*``), backed by :class:`SecretMasker`."""

    @staticmethod
    def extract_connection_values(connection: Any, keys_to_check: Iterable[str] | None = None) -> list[str]:
        """Secret values of a connection under the given key names (all secret-looking names if None)."""
        if not isinstance(connection, dict) or not connection:
            return []
        if keys_to_check is None:
            return sorted({value for value in _secrets_by_key_name(connection) if value})
        wanted = set(keys_to_check)
        found: set[str] = set()

        def walk(value: Any) -> None:
            if isinstance(value, dict):
                for key, item in value.items():
                    if key in wanted and isinstance(item, str) and item:
                        found.add(item)
                    else:
                        walk(item)

        walk(connection)
        return sorted(found)

    @staticmethod
    def count_percentage_leak(text: str, body: str) -> tuple[str, float]:
        """How much of ``text`` (as a prefix) appears verbatim in ``body``, as a fraction of its length."""
        if not text:
            return "", 0.0
        longest = 0
        for size in range(len(text), 0, -1):
            if text[:size] in body:
                longest = size
                break
        return text[:longest], longest / len(text)

    @staticmethod
    def mask_str_in_dict(text: str, input_: Any, threshold: float = 0.8, number_of_iterations: int = 50) -> Any:
        """Mask ``text`` (and long prefixes of it) everywhere inside ``input_``; returns a masked copy."""
        masker = SecretMasker([text])
        masked = masker.mask(input_)

        def prefixes(value: Any) -> Any:
            if isinstance(value, str):
                for _ in range(number_of_iterations):
                    prefix, share = OutputMasker.count_percentage_leak(text, value)
                    if share <= threshold or not prefix:
                        break
                    value = value.replace(prefix, MASK)
                return value
            if isinstance(value, dict):
                return {k: prefixes(v) for k, v in value.items()}
            if isinstance(value, list):
                return [prefixes(v) for v in value]
            return value

        return prefixes(masked)

    @staticmethod
    def mask_output_data(connection: Any, output: Any, schema: dict[str, Any] | None = None) -> Any:
        """A copy of ``output`` with every secret of ``connection`` masked.

        A copy even when nothing was masked (masking then returns its input as it is): a plugin that
        changes the result must not change the output it passed in."""
        masked = masker_for(connection, schema).mask(output)
        if masked is output and isinstance(output, (dict, list)):
            return output.copy()
        return masked
