"""The patch points plugins' and the reference's own tests use keep working.

These tests replace collaborators with mocks on purpose: they pin *where* things are looked up
(``AWSAction.handle_rest_call``, ``requests.get``, ``boto3.client``), not AWS behaviour.
"""

from __future__ import annotations

from typing import Any
from unittest import mock

import pytest

from insightconnect_plugin_runtime.clients import aws_client
from insightconnect_plugin_runtime.clients.aws_client import ActionHelper, AWSAction, PaginationHelper


def action_with(connection: Any, pagination_helper: Any = None, **kwargs: Any) -> AWSAction:
    action = AWSAction("describe", "d", input_=None, output=None, aws_service="ec2", aws_command="describe_instances",
                       pagination_helper=pagination_helper, **kwargs)  # fmt: skip
    action.connection = connection
    return action


def test_run_goes_through_handle_rest_call_for_every_page() -> None:
    pages = [
        {"reservations": [1], "next_token": "t2"},
        {"reservations": [2], "next_token": "t3"},
        {"reservations": [3]},
    ]
    helper = PaginationHelper(input_token=["next_token"], output_token=["next_token"], result_key=["reservations"])
    action = action_with(mock.MagicMock(), helper)
    with mock.patch.object(AWSAction, "handle_rest_call", side_effect=pages) as call:
        assert action.run({}) == {"reservations": [1, 2, 3]}
    assert call.call_count == 3


@pytest.mark.parametrize(("max_pages", "removed"), [(None, True), (2, False)])
def test_remove_keys_only_without_max_pages(max_pages: int | None, removed: bool) -> None:
    helper = mock.MagicMock(max_pages=max_pages, input_token=["next_token"])
    action = action_with(mock.MagicMock(), helper)
    with mock.patch.object(AWSAction, "handle_rest_call", return_value={}):
        action.run({})
    assert helper.remove_keys.called is removed


def test_handle_rest_call_uses_the_connection_helper_once_each() -> None:
    connection = mock.MagicMock()
    connection.helper.format_input.return_value = {"MaxResults": 5}
    function = mock.MagicMock(return_value={"Reservations": []})
    action = action_with(connection)
    action.handle_rest_call(function, {"max_results": 5})
    function.assert_called_once_with(MaxResults=5)
    connection.helper.format_input.assert_called_once()
    connection.helper.format_output.assert_called_once()


def test_try_to_assume_role_builds_sts_then_service_client() -> None:
    with mock.patch("boto3.client") as client:
        AWSAction.try_to_assume_role("ec2", {"role_arn": "arn:aws:iam::1:role/r", "region": "us-east-1"}, {})
    assert [c.args[0] for c in client.call_args_list] == ["sts", "ec2"]
    client.return_value.close.assert_called_once()  # the STS client


def test_connection_test_with_patched_requests_get() -> None:
    connection = mock.MagicMock()
    connection.helper = ActionHelper()
    action = action_with(connection)
    with mock.patch("requests.get") as get:
        get.return_value.status_code = 200
        assert action.test() == {}
    assert get.call_args.kwargs["timeout"] == AWSAction.TEST_TIMEOUT


def test_connection_test_patched_through_the_module_name() -> None:
    connection = mock.MagicMock()
    connection.helper = ActionHelper()
    with mock.patch("insightconnect_plugin_runtime.clients.aws_client.requests.get") as get:
        get.return_value.status_code = 204
        action_with(connection).test()
    get.assert_called_once()


def test_close_client_default_patched_on_the_module() -> None:
    with mock.patch.object(aws_client, "is_running_in_cloud", return_value=True):
        assert action_with(mock.MagicMock()).close_client is True


def test_run_with_a_class_autospec_of_pagination_helper() -> None:
    """A plugin test handing AWSAction ``create_autospec(PaginationHelper)`` and scripting its answers."""
    pages = [{"reservations": [1], "next_token": "t2"}, {"reservations": [2]}]
    helper = mock.create_autospec(PaginationHelper)
    helper.check_pagination.side_effect = [True, False]
    helper.check_total_results.return_value = False
    helper.merge_responses.return_value = ({"reservations": [1, 2]}, False)
    action = action_with(mock.MagicMock(), helper)
    with mock.patch.object(AWSAction, "handle_rest_call", side_effect=pages) as call:
        assert action.run({"max_results": 1}) == {"reservations": [1, 2]}
    assert call.call_count == 2
    helper.merge_responses.assert_called_once_with({"max_results": 1}, pages[1], pages[0])
    helper.remove_keys.assert_called_once_with({"reservations": [1, 2]})  # no max_pages on the double


@pytest.mark.parametrize("max_pages", [None, 3])
def test_run_with_an_instance_autospec_and_max_pages_set(max_pages: int | None) -> None:
    helper = mock.create_autospec(PaginationHelper, instance=True)
    helper.max_pages = max_pages
    helper.check_pagination.side_effect = [True, True, False]
    helper.check_total_results.return_value = False
    helper.merge_responses.side_effect = lambda input_, new, old: ({**new, "n": old.get("n", 1) + 1}, False)
    action = action_with(mock.MagicMock(), helper)
    with mock.patch.object(AWSAction, "handle_rest_call", side_effect=[{}, {}, {}]) as call:
        assert action.run({}) == {"n": 3}
    assert call.call_count == 3
    assert helper.remove_keys.called is (max_pages is None)


def test_repeated_token_guard_still_stops_a_real_helper() -> None:
    helper = PaginationHelper(input_token=["next_token"], output_token=["next_token"], result_key=["reservations"])
    same = {"reservations": [1], "next_token": "again"}
    action = action_with(mock.MagicMock(), helper)
    with mock.patch.object(AWSAction, "handle_rest_call", side_effect=[same, dict(same), dict(same)]) as call:
        action.run({})
    assert call.call_count == 2  # the second page repeats the token: no third request


# --- patch points written against aws_client reach the private modules -------------------------------------


ROLE = {"role_arn": "arn:aws:iam::1:role/r", "external_id": "x", "region": "eu-west-1"}


def test_boto3_patched_on_the_module_builds_the_assumed_role_clients() -> None:
    with mock.patch("insightconnect_plugin_runtime.clients.aws_client.boto3") as boto3:
        sts = boto3.client.return_value
        sts.assume_role.return_value = {
            "Credentials": {"AccessKeyId": "A", "SecretAccessKey": "S", "SessionToken": "T"}
        }
        assert AWSAction.try_to_assume_role("ec2", ROLE, {"aws_access_key_id": "K", "verify": False}) is sts
    first, second = boto3.client.call_args_list
    assert first == mock.call("sts", aws_access_key_id="K", verify=False, region_name="eu-west-1")
    assert second == mock.call("ec2", aws_access_key_id="A", aws_secret_access_key="S", aws_session_token="T",
                               verify=False, region_name="eu-west-1")  # fmt: skip


def test_uuid_patched_through_the_module_names_the_role_session() -> None:
    with (
        mock.patch("insightconnect_plugin_runtime.clients.aws_client.uuid.uuid4", return_value="fixed"),
        mock.patch("boto3.client") as client,
    ):
        AWSAction.try_to_assume_role("ec2", ROLE, {})
    client.return_value.assume_role.assert_called_once_with(RoleArn=ROLE["role_arn"], RoleSessionName="fixed",
                                                            ExternalId="x")  # fmt: skip


def test_botocore_patched_on_the_module_is_what_errors_are_mapped_with() -> None:
    class Refused(Exception):
        response = {"Error": {"Code": "AccessDenied"}}

    fake = mock.MagicMock()
    fake.exceptions.ClientError = Refused
    with mock.patch.object(aws_client, "botocore", fake), mock.patch("boto3.client") as client:
        client.return_value.assume_role.side_effect = Refused()
        with pytest.raises(aws_client.PluginException, match="AccessDenied"):
            AWSAction.try_to_assume_role("ec2", ROLE, {})
        mapped = aws_client.botocore_error_to_plugin_exception(Refused(), "ec2 run")
    assert mapped.preset == aws_client.PluginException.Preset.UNAUTHORIZED


def test_streaming_body_patched_on_the_module_is_what_output_is_read_as() -> None:
    class Body:
        def read(self) -> bytes:
            return b"abc"

    with mock.patch.object(aws_client, "StreamingBody", Body):
        assert ActionHelper.fix_output_types({"b": Body()}) == {"b": "YWJj"}
    assert ActionHelper.fix_output_types({"b": 1.5}) == {"b": "1.5"}


def test_run_patched_by_its_dotted_path() -> None:
    class DescribeInstances(AWSAction):
        pass

    action = DescribeInstances("d", "d", aws_service="ec2", aws_command="describe_instances")
    with mock.patch("insightconnect_plugin_runtime.clients.aws_client.AWSAction.run", return_value={"ok": 1}) as run:
        assert action.run({"x": 1}) == {"ok": 1}
    run.assert_called_once_with({"x": 1})


def test_assume_role_failures_are_logged_under_the_module_name(caplog: pytest.LogCaptureFixture) -> None:
    with mock.patch("boto3.client") as client, caplog.at_level("ERROR"):
        client.return_value.assume_role.side_effect = RuntimeError("no")
        with pytest.raises(aws_client.PluginException):
            AWSAction.try_to_assume_role("ec2", ROLE, {})
    client.return_value.close.assert_called_once()
    assert [record.name for record in caplog.records] == ["insightconnect_plugin_runtime.clients.aws_client"]
