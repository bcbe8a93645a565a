"""Run one boto3 command as a plugin action: ``AWSAction``, ``ActionHelper`` and ``PaginationHelper``.

AWS plugins describe each action as "service + command" (``"ec2"`` + ``"describe_instances"``) and let
this module do the rest: translate the snake_case step input into boto3 parameters, optionally swap
the connection's client for one that assumed an IAM role, call the command, follow pagination tokens,
turn the answer into JSON-safe snake_case output and translate botocore failures into
:class:`~insightconnect_plugin_runtime.exceptions.PluginException` with a useful preset.

The connection object an :class:`AWSAction` runs with is expected to provide:

``client``
    the boto3 client for the action's service;
``helper``
    an :class:`ActionHelper` (optional; a default one is used when absent);
``auth_params``
    the keyword arguments used to build ``client`` (keys, optional session token and client options),
    reused to call STS when a role is assumed;
``assume_role_params``
    ``{"role_arn", "external_id", "region"}`` from the connection; only its region is used, as the
    default region of an assumed-role client.

Only aws plugins import this module, so importing boto3 here is fine; ``requests`` (used by the
connection test only) is imported when first needed.

The pieces live in private modules, one per concern, and this module re-exports them:

=======================  =========================================================================
private module           concern
=======================  =========================================================================
``_aws_pagination``      ``PaginationHelper``: page tokens, result keys, how far to go
``_aws_formatting``      ``ActionHelper``: step input to boto3 parameters, boto3 answers to output
``_aws_errors``          botocore errors and connection-test answers to plugin exceptions
``_aws_clients``         closing clients, building an assumed-role client through STS
=======================  =========================================================================

``boto3``, ``botocore``, ``StreamingBody`` and :func:`is_running_in_cloud` are looked up here at call
time by every part, so patches written against this module (``aws_client.boto3``,
``aws_client.is_running_in_cloud``) or against ``boto3.client`` keep reaching the code that runs.
"""

from __future__ import annotations

# Kept as attributes of this module for patch targets written through it (``...aws_client.uuid.uuid4``).
import base64  # noqa: F401
import datetime  # noqa: F401
import decimal  # noqa: F401
import logging  # noqa: F401
import re  # noqa: F401
import uuid  # noqa: F401
from collections.abc import Callable, Mapping
from typing import Any

import boto3  # noqa: F401 - looked up here by _aws_clients at call time
import botocore.exceptions  # noqa: F401 - looked up here by _aws_errors and _aws_clients at call time
from botocore.response import StreamingBody  # noqa: F401 - looked up here by _aws_formatting

from insightconnect_plugin_runtime.action import Action
from insightconnect_plugin_runtime.exceptions import ConnectionTestException, PluginException

from ._aws_base import logger  # noqa: F401 - the module's logger, by name
from ._aws_clients import (
    _CREDENTIAL_ARGS,  # noqa: F401 - kept reachable under its former name
    EXTERNAL_ID,
    REGION,
    ROLE_ARN,
    _close_client,
)
from ._aws_clients import assume_role as _assume_role
from ._aws_errors import (  # noqa: F401 - the private names are kept reachable under their former names
    _ACCESS_DENIED_CODES,
    _CONNECTION_TEST_FAILING_STATUSES,
    _CREDENTIAL_CODES,
    _INVALID_PARAMETER_CODES,
    _SERVER_ERROR_CODES,
    _THROTTLING_CODES,
    _UNAVAILABLE_CODES,
    AWS_CLIENT_ERRORS,
    _client_error_preset,
    _connection_test_rejection,
    botocore_error_to_plugin_exception,
)
from ._aws_formatting import ActionHelper, _resolve_property  # noqa: F401
from ._aws_pagination import (  # noqa: F401 - the private helpers are kept reachable under their former names
    PaginationHelper,
    _lookup,
    _present_spelling,
    _results_cap_reached,
    _spellings,
)

__all__ = [
    "ASSUME_ROLE_PARAMETERS",
    "AWS_CLIENT_ERRORS",
    "EXTERNAL_ID",
    "REGION",
    "ROLE_ARN",
    "AWSAction",
    "ActionHelper",
    "PaginationHelper",
    "is_running_in_cloud",
]

#: Step-input key of the assume-role parameters (``role_arn``, ``external_id``, ``region``).
ASSUME_ROLE_PARAMETERS = "assume_role_params"

_Preset = PluginException.Preset


def is_running_in_cloud() -> bool:
    """Whether the plugin runs in the cloud orchestrator (decides whether clients are closed).

    Looked up in core's ``util`` on every call, so tests may patch this name or core's.
    """
    from insightconnect_plugin_runtime import util

    return bool(util.is_running_in_cloud())


def __getattr__(name: str) -> Any:
    # ``requests`` is only needed by ``AWSAction.test``; resolving it lazily keeps it out of the
    # import while ``mock.patch("...aws_client.requests.get")`` still finds it.
    if name == "requests":
        import requests

        return requests
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# --------------------------------------------------------------------------------------------------
# The action


class AWSAction(Action):
    """An action that runs one boto3 command, named by ``aws_service`` and ``aws_command``.

    Args:
        input_: the action's input schema object (``input`` is accepted as well).
        aws_service: boto3 service name (``"ec2"``), used when a role is assumed.
        aws_command: client method to call (``"describe_instances"``).
        pagination_helper: how to follow pages; ``None`` makes one call.
        close_client: close the connection's client after each run; defaults to
            :func:`is_running_in_cloud` because cloud connections live for one execution only.
    """

    #: Seconds (connect, read) the connection test waits for the AWS endpoint.
    TEST_TIMEOUT: tuple[float, float] = (10.0, 30.0)

    #: Set while :meth:`run` executes: pages share the client, which is closed once at the end.
    _closing_deferred = False

    def __init__(
        self,
        name: str,
        description: str,
        input_: Any = None,
        output: Any = None,
        aws_service: str = "",
        aws_command: str = "",
        pagination_helper: PaginationHelper | None = None,
        close_client: bool | None = None,
        *,
        input: Any = None,
    ) -> None:
        super().__init__(
            name=name, description=description, input=input_ if input_ is not None else input, output=output
        )
        self.aws_service = aws_service
        self.aws_command = aws_command
        self.pagination_helper = pagination_helper
        self.close_client = is_running_in_cloud() if close_client is None else close_client

    # -- running ------------------------------------------------------------------------------------

    def run(self, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """Call the command (as the assumed role when the input names one), following pages."""
        params = dict(params or {})
        role = self._assume_role_input(params.pop(ASSUME_ROLE_PARAMETERS, None))
        assumed_client = None
        self._closing_deferred = True
        try:
            client = self.connection.client
            if role.get(ROLE_ARN):
                assumed_client = self.try_to_assume_role(self.aws_service, role, self._auth_params())
                client = assumed_client
            function = self._client_function(client)
            response = self.handle_rest_call(function, params)
            if self.pagination_helper is not None:
                response = self._follow_pages(function, params, response)
            return response
        finally:
            self._closing_deferred = False
            if assumed_client is not None:
                _close_client(assumed_client)
            if self.close_client:
                _close_client(self.connection.client)

    def handle_rest_call(self, client_function: Callable[..., Any], params: Mapping[str, Any]) -> dict[str, Any]:
        """One call of ``client_function`` with formatted ``params``; returns the formatted output.

        The function's client is closed afterwards when ``close_client`` is set, except inside
        :meth:`run`, which closes once when all pages are in.
        """
        try:
            return self._call_and_format(client_function, params)
        finally:
            if self.close_client and not self._closing_deferred:
                _close_client(getattr(client_function, "__self__", None))

    def _call_and_format(self, client_function: Callable[..., Any], params: Mapping[str, Any]) -> dict[str, Any]:
        helper = self._helper()
        try:
            aws_params = helper.format_input(params)
        except Exception as error:
            self.logger.error("Could not format the input of %s: %s", self._operation, error)
            raise PluginException(
                cause="The step input could not be converted into AWS parameters.",
                assistance="Check the step input against the action's input schema.",
                data=error,
            )
        response = self._handle_botocore_function(client_function, aws_params)
        return self._handle_format_output(response)

    def _handle_botocore_function(self, client_function: Callable[..., Any], params: Mapping[str, Any]) -> Any:
        try:
            return client_function(**params)
        except Exception as error:
            self.logger.error("%s failed: %s", self._operation, error)
            mapped = botocore_error_to_plugin_exception(error, self._operation)
            if mapped is error:
                raise
            raise mapped from error

    def _handle_format_output(self, response: Any) -> dict[str, Any]:
        try:
            return self._helper().format_output(self._output_schema(), response)
        except Exception as error:
            self.logger.error("Could not format the output of %s: %s", self._operation, error)
            raise PluginException(
                cause=f"The answer of {self._operation} could not be converted into step output.",
                assistance="This is likely a plugin defect; contact the plugin's maintainers.",
                data=error,
            )

    def _follow_pages(
        self, client_function: Callable[..., Any], params: dict[str, Any], response: dict[str, Any]
    ) -> dict[str, Any]:
        pagination = self.pagination_helper
        assert pagination is not None
        pages = 1
        tokens = self._tokens(params)
        while pagination.check_pagination(params, response):
            if pagination.check_total_results(params, response, pages=pages):
                self.logger.info(
                    "Reached max_pages (%s) for %s; the output keeps the token to resume from",
                    getattr(pagination, "max_pages", None),
                    self._operation,
                )
                break
            cap = _results_cap_reached(pagination, params, response)
            if cap is not None:
                self.logger.info("Collected the %s results asked for from %s", cap, self._operation)
                break
            next_tokens = self._tokens(params)
            if next_tokens is not None and next_tokens == tokens:
                self.logger.warning("%s returned the same page token again; stopping", self._operation)
                break
            tokens = next_tokens
            pages += 1
            self.logger.info("Fetching page %d of %s", pages, self._operation)
            page = self.handle_rest_call(client_function, params)
            response, max_hit = pagination.merge_responses(params, page, response)
            if max_hit:
                break
        if not getattr(pagination, "max_pages", None):
            pagination.remove_keys(response)
        return response

    def _tokens(self, params: Mapping[str, Any]) -> tuple[Any, ...] | None:
        """The next-page tokens in ``params``, or ``None`` when the helper does not say which keys
        carry them (a ``create_autospec(PaginationHelper)`` double has no instance attributes)."""
        keys = getattr(self.pagination_helper, "input_token", None)
        if not isinstance(keys, list | tuple):
            return None
        return tuple(params.get(key) for key in keys)

    # -- connection test ----------------------------------------------------------------------------

    def test(self, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """Check the service endpoint answers; AWS error names in the answer fail the test.

        An unsigned GET cannot prove the keys are valid, only that the endpoint for the configured
        region is reachable and does not reject the account outright.
        """
        import requests

        url = self.connection.client.meta.endpoint_url
        try:
            response = requests.get(url, timeout=self.TEST_TIMEOUT)
        except requests.exceptions.Timeout as error:
            raise ConnectionTestException(preset=ConnectionTestException.Preset.TIMEOUT, data=error)
        except requests.exceptions.RequestException as error:
            raise ConnectionTestException(preset=ConnectionTestException.Preset.CONNECTION_ERROR, data=error)
        body = response.text
        reason = _connection_test_rejection(response.status_code, body)
        if reason is not None:
            raise ConnectionTestException(
                cause=reason,
                assistance="Check the response below, the connection's region and its access keys.",
                data=body,
            )
        return self._helper().format_output(self._output_schema(), {})

    # -- assume role --------------------------------------------------------------------------------

    @staticmethod
    def try_to_assume_role(
        service_name: str, assume_role_params: Mapping[str, Any], auth_params: Mapping[str, Any]
    ) -> Any:
        """Assume ``assume_role_params["role_arn"]`` and return a ``service_name`` client acting as it.

        ``auth_params`` are the connection's ``boto3.client`` keyword arguments: its keys sign the
        STS call, and its other client options (``endpoint_url``, ``config``, ``verify`` ...) apply to
        both clients. The region is ``assume_role_params["region"]`` when set. The STS client is
        closed whatever happens; closing the returned client is the caller's job.
        """
        return _assume_role(service_name, assume_role_params, auth_params)

    # -- helpers ------------------------------------------------------------------------------------

    @property
    def _operation(self) -> str:
        return f"{self.aws_service} {self.aws_command}".strip()

    def _helper(self) -> ActionHelper:
        helper = getattr(self.connection, "helper", None)
        return helper if helper is not None else ActionHelper()

    def _auth_params(self) -> dict[str, Any]:
        return dict(getattr(self.connection, "auth_params", None) or {})

    def _output_schema(self) -> Mapping[str, Any] | None:
        schema = getattr(self.output, "schema", None)
        return schema if isinstance(schema, Mapping) and schema.get("properties") else None

    def _assume_role_input(self, role: Mapping[str, Any] | None) -> dict[str, Any]:
        """The step's assume-role input with the region defaulted from the connection."""
        resolved = dict(role or {})
        if not resolved.get(REGION):
            from_connection = getattr(self.connection, "assume_role_params", None) or {}
            region = from_connection.get(REGION) if isinstance(from_connection, Mapping) else None
            if not region:
                meta = getattr(getattr(self.connection, "client", None), "meta", None)
                region = getattr(meta, "region_name", None)
            if isinstance(region, str) and region:
                resolved[REGION] = region
        return resolved

    def _client_function(self, client: Any) -> Callable[..., Any]:
        try:
            return getattr(client, self.aws_command)
        except AttributeError:
            raise PluginException(
                cause=f'The AWS client has no command "{self._operation}".',
                assistance="This is a plugin defect: the action names a command the service does not have.",
            )
