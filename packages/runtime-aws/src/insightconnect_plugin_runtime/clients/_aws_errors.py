"""From what boto3 raises, and from the connection test's answer, to what the workflow user sees.

``botocore`` is read from the public ``aws_client`` module at call time (see ``_aws_base``).
"""

from __future__ import annotations

from insightconnect_plugin_runtime.exceptions import PluginException

from ._aws_base import public

_Preset = PluginException.Preset

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
    exc = public().botocore.exceptions
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
