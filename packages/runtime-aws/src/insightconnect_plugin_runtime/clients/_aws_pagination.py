"""``PaginationHelper``: which keys carry an AWS command's page tokens and results, and how far to go.

Pages are compared after ``ActionHelper.format_output``, so every response-side name is looked up in
the spelling given, in snake_case and in AWS's UpperCamelCase.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._aws_formatting import ActionHelper


class PaginationHelper:
    """How to follow an AWS command's pagination, and how far.

    Response-side names (``output_token``, ``result_key``, ``more_results``) may be given either as
    AWS spells them (``"NextToken"``) or snake_case (``"next_token"``): pages are compared after
    :meth:`ActionHelper.format_output`, and both spellings are looked up.

    Args:
        input_token: step-input keys that carry the token into the next request (``["next_token"]``).
        output_token: response keys holding the token for the next page, pairwise with ``input_token``.
        result_key: response keys whose lists are concatenated across pages.
        limit_key: step-input key of the page size (``"max_results"``). When the input sets it, it also
            caps the number of results: at that value, or at ``value * max_pages`` with ``max_pages``.
        more_results: response key of a "there is more" flag (``"IsTruncated"``), for services that
            send it.
        non_aggregate_keys: accepted for compatibility; unused.
        max_pages: fetch at most this many pages and keep the last token in the output so a later
            run can resume; ``None`` fetches every page and drops the tokens.
    """

    def __init__(
        self,
        input_token: list[str],
        output_token: list[str],
        result_key: list[str],
        limit_key: str | None = None,
        more_results: str | None = None,
        non_aggregate_keys: list[str] | None = None,
        max_pages: int | None = None,
    ) -> None:
        self.input_token = list(input_token)
        self.output_token = list(output_token)
        self.result_key = list(result_key)
        self.limit_key = limit_key
        self.more_results = more_results
        self.non_aggregate_keys = non_aggregate_keys
        self.max_pages = max_pages
        self.keys_to_remove = self.input_token + self.output_token + ([more_results] if more_results else [])

    def remove_keys(self, params: dict[str, Any]) -> None:
        """Drop the token and "more results" keys (either spelling) from ``params`` in place."""
        for key in self.keys_to_remove:
            for spelling in _spellings(key):
                params.pop(spelling, None)

    def check_pagination(self, input_: dict[str, Any], output: Mapping[str, Any]) -> bool:
        """Whether ``output`` announces another page; copies each next-page token into ``input_``."""
        more = bool(self.more_results and _lookup(output, self.more_results))
        for in_key, out_key in zip(self.input_token, self.output_token, strict=False):
            token = _lookup(output, out_key)
            if token:
                input_[in_key] = token
                more = True
        return more

    def check_total_results(
        self, params: Mapping[str, Any], response: Mapping[str, Any], pages: int | None = None
    ) -> bool:
        """Whether ``max_pages`` has been used up, so no further page may be fetched.

        With ``pages`` (how many pages are in ``response``) the count is exact. Without it, full
        pages of ``params[limit_key]`` results are assumed, which is the best a caller that does
        not count can get. ``False`` when ``max_pages`` is not set.
        """
        if not self.max_pages:
            return False
        if pages is not None:
            return pages >= self.max_pages
        limit = self._limit(params)
        if limit is None:
            return False
        return self._count(response) >= limit * self.max_pages

    def merge_responses(
        self, input_: Mapping[str, Any], response_1: dict[str, Any], response_2: Mapping[str, Any]
    ) -> tuple[dict[str, Any], bool]:
        """Append the new page ``response_1``'s results to those collected in ``response_2``.

        Returns ``response_1`` (the newest page, so its tokens win) holding the merged lists, and
        whether the results cap was reached (the lists are then cut to the cap).
        """
        cap = self.results_cap(input_)
        max_hit = False
        for key in self.result_key:
            name = _present_spelling(response_1, key) or _present_spelling(response_2, key) or key
            merged = list(_lookup(response_2, key) or []) + list(_lookup(response_1, key) or [])
            if cap is not None and len(merged) >= cap:
                merged = merged[:cap]
                max_hit = True
            response_1[name] = merged
        return response_1, max_hit

    def results_cap(self, params: Mapping[str, Any]) -> int | None:
        """Most results a run may return: ``limit * max_pages`` (or ``limit``); ``None`` if no limit."""
        limit = self._limit(params)
        if limit is None:
            return None
        return limit * (self.max_pages or 1)

    def count_results(self, response: Mapping[str, Any]) -> int:
        """Number of results collected so far under the first result key."""
        return self._count(response)

    def _limit(self, params: Mapping[str, Any]) -> int | None:
        if not self.limit_key:
            return None
        value = _lookup(params, self.limit_key)
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            return None
        return value

    def _count(self, response: Mapping[str, Any]) -> int:
        if not self.result_key:
            return 0
        return len(_lookup(response, self.result_key[0]) or [])


def _spellings(key: str) -> tuple[str, ...]:
    """The key as given, then snake_case, then UpperCamelCase (AWS's spelling)."""
    snake = ActionHelper.to_snake_case(key)
    camel = ActionHelper.to_upper_camel_case(snake)
    return tuple(dict.fromkeys((key, snake, camel)))


def _present_spelling(mapping: Mapping[str, Any], key: str) -> str | None:
    for spelling in _spellings(key):
        if spelling in mapping:
            return spelling
    return None


def _lookup(mapping: Mapping[str, Any], key: str) -> Any:
    spelling = _present_spelling(mapping, key)
    return mapping[spelling] if spelling is not None else None


def _results_cap_reached(pagination: Any, params: Mapping[str, Any], response: Mapping[str, Any]) -> int | None:
    """The results cap when ``response`` holds that many results already, else ``None``.

    Only numbers count: plugins' tests pass a mock :class:`PaginationHelper` that answers these calls
    with mocks, and their page loop must then follow only the methods those tests configure.
    """
    cap = pagination.results_cap(params)
    if not isinstance(cap, int) or isinstance(cap, bool):
        return None
    count = pagination.count_results(response)
    return cap if isinstance(count, int) and count >= cap else None
