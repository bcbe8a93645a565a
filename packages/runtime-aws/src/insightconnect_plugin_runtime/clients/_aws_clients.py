"""The life of boto3 clients: closing them, and building one that acts as an assumed IAM role.

``boto3`` and ``botocore`` are read from the public ``aws_client`` module at call time, so tests that
patch ``boto3.client`` (or ``aws_client.boto3``) see every client this module creates.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from insightconnect_plugin_runtime.exceptions import PluginException

from ._aws_base import logger, public
from ._aws_errors import botocore_error_to_plugin_exception

#: Keys of the assume-role parameters (also public names of ``aws_client``).
REGION = "region"
EXTERNAL_ID = "external_id"
ROLE_ARN = "role_arn"

#: ``boto3.client`` arguments that carry the connection's own identity (not reused as the role).
_CREDENTIAL_ARGS = frozenset({"aws_access_key_id", "aws_secret_access_key", "aws_session_token"})


def _close_client(client: Any) -> None:
    """Release a boto3 client's pooled connections; a client without ``close`` is left alone."""
    close = getattr(client, "close", None)
    if callable(close):
        close()


def assume_role(service_name: str, assume_role_params: Mapping[str, Any], auth_params: Mapping[str, Any]) -> Any:
    """Assume ``assume_role_params["role_arn"]`` and return a ``service_name`` client acting as it.

    ``auth_params`` are the connection's ``boto3.client`` keyword arguments: its keys sign the
    STS call, and its other client options (``endpoint_url``, ``config``, ``verify`` ...) apply to
    both clients. The region is ``assume_role_params["region"]`` when set. The STS client is
    closed whatever happens; closing the returned client is the caller's job.
    """
    from insightconnect_plugin_runtime.helper import clean

    facade = public()
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
        sts_client = facade.boto3.client("sts", **sts_kwargs)
    except Exception as error:
        raise botocore_error_to_plugin_exception(error, "sts assume_role") from error
    try:
        credentials = sts_client.assume_role(**request)["Credentials"]
    except facade.botocore.exceptions.ClientError as error:
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
        return facade.boto3.client(
            service_name,
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
            **client_kwargs,
        )
    except Exception as error:
        raise botocore_error_to_plugin_exception(error, f"{service_name} client for the assumed role") from error
