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
"""

from __future__ import annotations

import base64
import datetime
import decimal
import logging
import re
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import boto3
import botocore.exceptions
from botocore.response import StreamingBody

from insightconnect_plugin_runtime.action import Action
from insightconnect_plugin_runtime.exceptions import ConnectionTestException, PluginException

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

#: Keys of the assume-role parameters (in the step input under ``ASSUME_ROLE_PARAMETERS``).
REGION = "region"
EXTERNAL_ID = "external_id"
ROLE_ARN = "role_arn"
ASSUME_ROLE_PARAMETERS = "assume_role_params"

#: Error names which, found in the body of the connection test's answer, fail the test.
AWS_CLIENT_ERRORS = (
    "AccessDeniedException InternalServerException ResourceNotFoundException InternalFailure "
    "InvalidClientTokenId NotAuthorized ServiceUnavailable OptInRequired"
).split()

#: Statuses that fail a connection test unless the body shows the endpoint merely lacks the operation.
_CONNECTION_TEST_FAILING_STATUSES = frozenset({401, 403, 404, 500, 503})


def _connection_test_rejection(status: object, body: str) -> str | None:
    """Why an answer to the connection test's bare GET fails the test, or None when it passes.

    Endpoints answer a GET without an operation with some error; only an authentication or
    availability status, or a body naming a known client error, means the connection is wrong.
    """
    if not isinstance(status, int) or 200 <= status < 300:
        return None
    if status in _CONNECTION_TEST_FAILING_STATUSES and "UnknownOperationException" not in body:
        return f"The AWS service answered the connection test with HTTP {status}."
    named = next((name for name in AWS_CLIENT_ERRORS if name in body), None)
    if named is not None:
        return f"The AWS service answered the connection test with HTTP {status} and the error {named}."
    return None


logger = logging.getLogger(__name__)

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


def _close_client(client: Any) -> None:
    """Release a boto3 client's pooled connections; a client without ``close`` is left alone."""
    close = getattr(client, "close", None)
    if callable(close):
        close()


# --------------------------------------------------------------------------------------------------
# Pagination


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

    Only numbers count: a test double of :class:`PaginationHelper` answers these calls with mocks,
    and then pagination is left to the helper's own methods, as in the reference.
    """
    cap = pagination.results_cap(params)
    if not isinstance(cap, int) or isinstance(cap, bool):
        return None
    count = pagination.count_results(response)
    return cap if isinstance(count, int) and count >= cap else None


# --------------------------------------------------------------------------------------------------
# Input / output formatting


class ActionHelper:
    """Translate between plugin data (snake_case, JSON) and boto3 data (UpperCamelCase, Python types)."""

    first_cap_re = re.compile(r"(.)([A-Z][a-z]+)")
    all_cap_re = re.compile(r"([a-z0-9])([A-Z])")

    @staticmethod
    def to_upper_camel_case(snake_str: str) -> str:
        """``"instance_ids"`` -> ``"InstanceIds"`` (each ``_``-separated piece title-cased)."""
        return "".join(piece.title() for piece in snake_str.split("_"))

    @classmethod
    def to_snake_case(cls, camel_str: str) -> str:
        """``"InstanceId"`` -> ``"instance_id"``, ``"ETag"`` -> ``"e_tag"``; snake_case is kept."""
        partial = cls.first_cap_re.sub(r"\1_\2", camel_str)
        return cls.all_cap_re.sub(r"\1_\2", partial).lower()

    @classmethod
    def convert_all_to_upper_camel_case(cls, obj: Any) -> Any:
        """Rename every dict key, at any depth, to UpperCamelCase (values are left as they are)."""
        if isinstance(obj, dict):
            return {
                (cls.to_upper_camel_case(k) if isinstance(k, str) else k): cls.convert_all_to_upper_camel_case(v)
                for k, v in obj.items()
            }
        if isinstance(obj, list):
            return [cls.convert_all_to_upper_camel_case(item) for item in obj]
        return obj

    @classmethod
    def convert_all_to_snake_case(cls, obj: Any) -> Any:
        """Rename every dict key, at any depth, to snake_case (values are left as they are)."""
        if isinstance(obj, dict):
            return {
                (cls.to_snake_case(k) if isinstance(k, str) else k): cls.convert_all_to_snake_case(v)
                for k, v in obj.items()
            }
        if isinstance(obj, list):
            return [cls.convert_all_to_snake_case(item) for item in obj]
        return obj

    @classmethod
    def format_input(cls, params: Mapping[str, Any]) -> dict[str, Any]:
        """Step input -> boto3 keyword arguments.

        Top-level inputs left empty (``None``, ``""``, ``[]``, ``{}``) are dropped because boto3
        rejects them, ``$`` is removed from key names (spec files prefix some inputs with it) and
        keys at every depth become UpperCamelCase.
        """
        kept: dict[str, Any] = {}
        for key, value in params.items():
            if value is None or (isinstance(value, str | list | dict) and not value):
                continue
            kept[key.replace("$", "")] = value
        return cls.convert_all_to_upper_camel_case(kept)

    @staticmethod
    def get_empty_output(output_schema: Mapping[str, Any]) -> dict[str, Any]:
        """Defaults for the schema's list and object properties, so absent ones still validate.

        ``$ref`` properties are resolved through their reference path (``#/definitions/name``),
        falling back to a definition named like the property. ``response_metadata`` is always set.
        """
        definitions = output_schema.get("definitions") or {}
        empty: dict[str, Any] = {}
        for name, prop in (output_schema.get("properties") or {}).items():
            kind = _resolve_property(prop, definitions, name).get("type")
            if kind == "array":
                empty[name] = []
            elif kind == "object":
                empty[name] = {}
        empty["response_metadata"] = {"request_id": "", "http_status_code": 0}
        return empty

    @classmethod
    def fix_output_types(cls, output: Any) -> Any:
        """Make a boto3 value JSON-safe, recursively.

        Bytes and streaming bodies become base64 text, datetimes ISO 8601 text, floats and Decimals
        their ``str``; strings, ints, bools and ``None`` stay as they are; anything else becomes
        ``str(value)``.
        """
        if isinstance(output, dict):
            return {key: cls.fix_output_types(value) for key, value in output.items()}
        if isinstance(output, list | tuple | set | frozenset):
            return [cls.fix_output_types(value) for value in output]
        if output is None or isinstance(output, str | bool | int):
            return output
        if isinstance(output, StreamingBody):
            return base64.b64encode(output.read()).decode("ascii")
        if isinstance(output, bytes | bytearray | memoryview):
            return base64.b64encode(bytes(output)).decode("ascii")
        if isinstance(output, float | decimal.Decimal):
            return str(output)
        if isinstance(output, datetime.date | datetime.time):
            return output.isoformat()
        return str(output)

    @classmethod
    def format_output(cls, output_schema: Mapping[str, Any] | None, output: Any) -> dict[str, Any]:
        """boto3 response -> step output: JSON-safe values, snake_case keys, schema defaults added."""
        formatted = cls.convert_all_to_snake_case(cls.fix_output_types(output))
        if output_schema:
            for key, value in cls.get_empty_output(output_schema).items():
                formatted.setdefault(key, value)
        return formatted


def _resolve_property(prop: Mapping[str, Any], definitions: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    ref = prop.get("$ref")
    if not isinstance(ref, str):
        return prop
    target = definitions.get(ref.rsplit("/", 1)[-1]) if ref.startswith("#/definitions/") else None
    if target is None:
        target = definitions.get(name)
    return target if isinstance(target, Mapping) else {}


# --------------------------------------------------------------------------------------------------
# Error mapping

_THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottled",
        "RequestThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "BandwidthLimitExceeded",
        "SlowDown",
        "EC2ThrottledException",
        "PriorRequestNotComplete",
    }
)
_CREDENTIAL_CODES = frozenset(
    {
        "InvalidClientTokenId",
        "UnrecognizedClientException",
        "SignatureDoesNotMatch",
        "AuthFailure",
        "InvalidAccessKeyId",
        "InvalidToken",
        "ExpiredToken",
        "ExpiredTokenException",
        "RequestExpired",
        "IncompleteSignature",
        "MissingAuthenticationToken",
    }
)
_ACCESS_DENIED_CODES = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "UnauthorizedOperation",
        "UnauthorizedAccess",
        "AuthorizationError",
        "AuthorizationErrorException",
        "NotAuthorized",
        "OptInRequired",
        "Forbidden",
    }
)
_INVALID_PARAMETER_CODES = frozenset(
    {
        "ValidationError",
        "ValidationException",
        "InvalidParameter",
        "InvalidParameterValue",
        "InvalidParameterCombination",
        "InvalidParameterException",
        "InvalidParameterValueException",
        "MissingParameter",
        "InvalidInput",
        "InvalidArgument",
        "InvalidRequest",
        "MalformedQueryString",
        "InvalidQueryParameter",
    }
)
_SERVER_ERROR_CODES = frozenset({"InternalError", "InternalFailure", "InternalServerError", "InternalServerException"})
_UNAVAILABLE_CODES = frozenset({"ServiceUnavailable", "ServiceUnavailableException", "Unavailable"})


def _client_error_preset(code: str, status: int | None) -> str | None:
    """The preset matching an AWS error code (or, failing that, its HTTP status)."""
    if code in _THROTTLING_CODES or status == 429:
        return _Preset.RATE_LIMIT
    if code in _CREDENTIAL_CODES:
        return _Preset.INVALID_CREDENTIALS
    if code in _ACCESS_DENIED_CODES or status == 403:
        return _Preset.UNAUTHORIZED
    if code in _INVALID_PARAMETER_CODES or code.endswith(".Malformed"):
        return _Preset.BAD_REQUEST
    if code.endswith(("NotFound", "NotFoundException")) or code.startswith("NoSuch") or status == 404:
        return _Preset.NOT_FOUND
    if code in _UNAVAILABLE_CODES or status == 503:
        return _Preset.SERVICE_UNAVAILABLE
    if code in _SERVER_ERROR_CODES or (status is not None and status >= 500):
        return _Preset.SERVER_ERROR
    if code == "ConflictException" or status == 409:
        return _Preset.CONFLICT
    return None


def botocore_error_to_plugin_exception(error: Exception, operation: str) -> PluginException:
    """Translate an exception raised by a boto3 call into what the workflow user should see.

    ``operation`` names the call (``"ec2 describe_instances"``) for the messages that are not presets.
    """
    exc = botocore.exceptions
    if isinstance(error, PluginException):
        return error
    if isinstance(error, exc.ClientError):
        details = error.response.get("Error") or {}
        code = str(details.get("Code") or "")
        status = (error.response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
        preset = _client_error_preset(code, status)
        if preset is not None:
            return PluginException(preset=preset, data=error)
        return PluginException(
            cause=f"AWS rejected {operation} with the error {code or 'without an error code'}.",
            assistance="Check the connection's access keys and the step input.",
            data=error,
        )
    if isinstance(error, exc.NoRegionError | exc.InvalidRegionError):
        return PluginException(
            cause="No valid AWS region was given.",
            assistance="Set a valid region (for example us-east-1) in the connection or the step input.",
            data=error,
        )
    if isinstance(error, exc.ConnectTimeoutError | exc.ReadTimeoutError):
        return PluginException(preset=_Preset.TIMEOUT, data=error)
    if isinstance(error, exc.EndpointConnectionError):
        return PluginException(
            cause=f"The AWS endpoint for {operation} could not be reached.",
            assistance="Check the region (the service may not exist there) and network access to AWS.",
            data=error,
        )
    if isinstance(error, exc.ConnectionError | exc.HTTPClientError):
        return PluginException(preset=_Preset.CONNECTION_ERROR, data=error)
    if isinstance(error, exc.ParamValidationError):
        return PluginException(
            cause=f"The step input is not valid for {operation}.",
            assistance="Check that required inputs are set and that values have the expected types.",
            data=error,
        )
    if isinstance(error, exc.NoCredentialsError | exc.PartialCredentialsError):
        return PluginException(
            cause="No complete AWS credentials were available.",
            assistance="Set both the access key ID and the secret access key in the connection.",
            data=error,
        )
    return PluginException(
        cause=f"The AWS call {operation} failed unexpectedly.",
        assistance="Look at the step log for details; check the connection and the step input.",
        data=error,
    )


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
        from insightconnect_plugin_runtime.helper import clean

        region = assume_role_params.get(REGION) or None
        sts_kwargs = dict(auth_params)
        if region:
            sts_kwargs["region_name"] = region
        request = clean(
            {
                "RoleArn": assume_role_params.get(ROLE_ARN),
                "RoleSessionName": str(uuid.uuid4()),
                "ExternalId": assume_role_params.get(EXTERNAL_ID),
            }
        )
        try:
            sts_client = boto3.client("sts", **sts_kwargs)
        except Exception as error:
            raise botocore_error_to_plugin_exception(error, "sts assume_role") from error
        try:
            credentials = sts_client.assume_role(**request)["Credentials"]
        except botocore.exceptions.ClientError as error:
            code = (error.response.get("Error") or {}).get("Code", "")
            logger.error("STS AssumeRole failed: %s", error)
            raise PluginException(
                cause=f"AWS STS refused to assume the role: {code}.",
                assistance=(
                    "Check the role ARN and the external ID, and that the role's trust policy lets the "
                    "connection's account assume it."
                ),
                data=error,
            )
        except Exception as error:
            logger.error("STS AssumeRole failed: %s", error)
            raise botocore_error_to_plugin_exception(error, "sts assume_role") from error
        finally:
            _close_client(sts_client)

        client_kwargs = {key: value for key, value in auth_params.items() if key not in _CREDENTIAL_ARGS}
        if region:
            client_kwargs["region_name"] = region
        try:
            return boto3.client(
                service_name,
                aws_access_key_id=credentials["AccessKeyId"],
                aws_secret_access_key=credentials["SecretAccessKey"],
                aws_session_token=credentials["SessionToken"],
                **client_kwargs,
            )
        except Exception as error:
            raise botocore_error_to_plugin_exception(error, f"{service_name} client for the assumed role") from error

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


#: ``boto3.client`` arguments that carry the connection's own identity (not reused as the role).
_CREDENTIAL_ARGS = frozenset({"aws_access_key_id", "aws_secret_access_key", "aws_session_token"})
