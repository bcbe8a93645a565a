"""``PaginationHelper`` on its own: tokens, the max_pages check (fixed) and merging."""

from __future__ import annotations

from insightconnect_plugin_runtime.clients.aws_client import PaginationHelper


def ec2_helper(**kwargs: object) -> PaginationHelper:
    return PaginationHelper(
        input_token=["next_token"], output_token=["next_token"], result_key=["reservations"], **kwargs
    )


def test_keys_to_remove_and_remove_keys() -> None:
    helper = PaginationHelper(
        input_token=["continuation_token"],
        output_token=["next_continuation_token"],
        result_key=["contents"],
        more_results="is_truncated",
    )
    assert helper.keys_to_remove == ["continuation_token", "next_continuation_token", "is_truncated"]
    response = {"contents": [1], "continuation_token": "a", "next_continuation_token": "b", "is_truncated": True}
    helper.remove_keys(response)
    assert response == {"contents": [1]}


def test_remove_keys_also_removes_aws_spelling() -> None:
    response = {"Reservations": [], "NextToken": "t"}
    ec2_helper().remove_keys(response)
    assert response == {"Reservations": []}


def test_check_pagination_copies_the_token_into_the_input() -> None:
    params: dict[str, object] = {"max_results": 5}
    assert ec2_helper().check_pagination(params, {"reservations": [], "next_token": "t-2"}) is True
    assert params == {"max_results": 5, "next_token": "t-2"}


def test_check_pagination_accepts_aws_spelled_output_token() -> None:
    params: dict[str, object] = {}
    helper = PaginationHelper(input_token=["next_token"], output_token=["NextToken"], result_key=["Reservations"])
    assert helper.check_pagination(params, {"next_token": "t-2"}) is True
    assert params == {"next_token": "t-2"}


def test_check_pagination_false_without_token_or_with_empty_token() -> None:
    helper = ec2_helper()
    assert helper.check_pagination({}, {"reservations": []}) is False
    assert helper.check_pagination({}, {"reservations": [], "next_token": ""}) is False


def test_check_pagination_more_results_flag() -> None:
    helper = PaginationHelper(
        input_token=["marker"], output_token=["next_marker"], result_key=["items"], more_results="is_truncated"
    )
    assert helper.check_pagination({}, {"is_truncated": True}) is True
    assert helper.check_pagination({}, {"is_truncated": False}) is False


def test_check_total_results_without_max_pages_never_stops() -> None:
    assert ec2_helper().check_total_results({"max_results": 5}, {"reservations": [1] * 100}, pages=50) is False


def test_check_total_results_counts_pages() -> None:
    helper = ec2_helper(max_pages=3)
    assert helper.check_total_results({}, {"reservations": [1] * 10}, pages=2) is False
    assert helper.check_total_results({}, {"reservations": [1] * 15}, pages=3) is True


def test_check_total_results_from_result_count_is_not_inverted() -> None:
    """With limit 5 and max_pages 3, one page (5 results) must not stop the loop; three pages must."""
    helper = ec2_helper(limit_key="max_results", max_pages=3)
    params = {"max_results": 5}
    assert helper.check_total_results(params, {"reservations": [1] * 5}) is False
    assert helper.check_total_results(params, {"reservations": [1] * 10}) is False
    assert helper.check_total_results(params, {"reservations": [1] * 15}) is True


def test_check_total_results_without_limit_in_input_does_not_raise() -> None:
    assert ec2_helper(limit_key="max_results", max_pages=2).check_total_results({}, {"reservations": []}) is False


def test_merge_responses_appends_new_page_to_collected_results() -> None:
    collected = {"reservations": [1, 2], "next_token": "t-2"}
    page = {"reservations": [3], "next_token": "t-3"}
    merged, max_hit = ec2_helper().merge_responses({}, page, collected)
    assert merged is page
    assert merged == {"reservations": [1, 2, 3], "next_token": "t-3"}
    assert max_hit is False


def test_merge_responses_truncates_at_the_limit() -> None:
    helper = ec2_helper(limit_key="max_results")
    merged, max_hit = helper.merge_responses({"max_results": 3}, {"reservations": [3, 4]}, {"reservations": [1, 2]})
    assert merged["reservations"] == [1, 2, 3]
    assert max_hit is True


def test_merge_responses_limit_scales_with_max_pages() -> None:
    helper = ec2_helper(limit_key="max_results", max_pages=2)
    merged, max_hit = helper.merge_responses({"max_results": 2}, {"reservations": [3]}, {"reservations": [1, 2]})
    assert merged["reservations"] == [1, 2, 3]
    assert max_hit is False
    assert helper.results_cap({"max_results": 2}) == 4


def test_merge_responses_with_aws_spelled_result_key() -> None:
    helper = PaginationHelper(input_token=["next_token"], output_token=["next_token"], result_key=["Reservations"])
    merged, _ = helper.merge_responses({}, {"reservations": [2]}, {"reservations": [1]})
    assert merged == {"reservations": [1, 2]}
