"""Helper functions that InsightConnect plugins call as ``insightconnect_plugin_runtime.helper.*``.

The names, signatures and return shapes are what existing plugins call, so they stay as they are; where
the behaviour would be unsafe it is changed, and docs/differences.md ("Helpers") lists each change and
why. The functions live in private modules, one per concern; this module is
what plugins import and patch, and three rules keep a patch here effective:

* Plugins' tests patch ``helper.exec_command``, ``helper.open_url``, ``helper.open_cachefile``,
  ``requests.Session.send`` (under ``make_request``) and ``urllib.request.urlopen`` (under
  ``open_url``). A function that calls a function of another concern (``check_url`` ->
  ``open_url``, ``encode_file`` -> ``open_file``, ``make_request`` -> ``response_handler``) looks
  it up here at call time, so a patch of this module is seen by that caller too.
* The settings below (:data:`CACHE_DIR`, the lock, rate-limit and URL timeouts, :data:`ENCODE_TYPE`)
  are read from this module on every call, so tests can patch them here.
* The standard-library modules and ``requests`` stay attributes of this module, so patch targets
  written through it (``"...helper.subprocess.Popen"``, ``"...helper.requests.Session.send"``) resolve.

=========================  ==========================================================================
private module             concern
=========================  ==========================================================================
``_helper_text``           cleaning empty values, key case conversion, ``extract_value``
``_helper_hashing``        de-duplication digests, checksums, base64 of strings and files
``_helper_cache``          cache and lock files under :data:`CACHE_DIR`, ``open_file``
``_helper_commands``       ``exec_command``
``_helper_requests``       ``make_request`` and its response size cap
``_helper_responses``      HTTP answers and ``requests`` failures to plugin exceptions, rate limiting
``_helper_urls``           legacy URL helpers (``open_url`` ...), URLs without credentials for logs
=========================  ==========================================================================
"""

from __future__ import annotations

# Kept as attributes of this module for patch targets written through it (see above).
import base64  # noqa: F401
import copy  # noqa: F401
import email.utils  # noqa: F401
import functools  # noqa: F401
import hashlib  # noqa: F401
import logging  # noqa: F401
import os  # noqa: F401
import re  # noqa: F401
import shlex  # noqa: F401
import ssl  # noqa: F401
import subprocess  # noqa: F401
import time  # noqa: F401
import urllib.error  # noqa: F401
import urllib.parse  # noqa: F401
import urllib.request  # noqa: F401
from datetime import datetime, timedelta
from typing import Any

import requests  # noqa: F401

from insightconnect_plugin_runtime import _url_fetch  # noqa: F401
from insightconnect_plugin_runtime.exceptions import (  # noqa: F401 - plugins reach them through here
    APIException,
    PluginException,
    ResponseExceptionData,
)
from insightconnect_plugin_runtime.paths import find_file_in_dir, safeguard_and_return_file_path

from . import _helper_cache, _helper_requests, _helper_responses, _helper_text, _helper_urls
from ._helper_base import HelperError, logger  # noqa: F401 - logger: the module's own, by name
from ._helper_cache import (
    check_cachefile,
    lock_cache,
    open_cachefile,
    open_file,
    remove_cachefile,
    unlock_cache,
)
from ._helper_commands import exec_command
from ._helper_hashing import (
    check_hashes,
    compare_and_dedupe_hashes,
    encode_file,
    encode_string,
    get_hashes_string,
    hash_sha1,
)
from ._helper_requests import make_request
from ._helper_responses import (
    _return_response_data,  # noqa: F401 - documented as part of this module
    backoff_function,
    extract_json,
    rate_limiting,
    request_error_handling,
    response_handler,
)
from ._helper_text import (
    clean,
    clean_dict,
    clean_list,
    convert_dict_to_camel_case,
    convert_dict_to_snake_case,
    convert_to_camel_case,
    convert_to_snake_case,
    extract_value,
    return_non_empty,
)
from ._helper_urls import (
    _error_for_log,  # noqa: F401 - tested through this module
    _url_for_log,  # noqa: F401 - tested through this module
    check_url,
    check_url_modified,
    get_url_content_disposition,
    get_url_filename,
    get_url_path_filename,
    open_url,
)

__all__ = [
    "CACHE_DIR",
    "CAMEL_CASE_ACRONYM_REGEX",
    "CAMEL_CASE_REGEX",
    "DEFAULTS_HOURS_AGO",
    "ENCODE_TYPE",
    "LOCK_TIMEOUT_SECONDS",
    "PASCAL_CASE_REGEX",
    "RATE_LIMIT_MAX_WAIT_SECONDS",
    "HelperError",
    "backoff_function",
    "check_cachefile",
    "check_hashes",
    "check_url",
    "check_url_modified",
    "clean",
    "clean_dict",
    "clean_list",
    "compare_and_dedupe_hashes",
    "convert_dict_to_camel_case",
    "convert_dict_to_snake_case",
    "convert_to_camel_case",
    "convert_to_snake_case",
    "encode_file",
    "encode_string",
    "exec_command",
    "extract_json",
    "extract_value",
    "find_file_in_dir",
    "get_hashes_string",
    "get_time_hours_ago",
    "get_time_now",
    "get_url_content_disposition",
    "get_url_filename",
    "get_url_path_filename",
    "hash_sha1",
    "lock_cache",
    "make_request",
    "open_cachefile",
    "open_file",
    "open_url",
    "rate_limiting",
    "remove_cachefile",
    "request_error_handling",
    "response_handler",
    "return_non_empty",
    "safeguard_and_return_file_path",
    "unlock_cache",
]

#: Where the private names this module used to define are found now (read-only: patching one of
#: them here does not change the function that uses it).
_PARTS = (_helper_text, _helper_cache, _helper_responses, _helper_requests, _helper_urls)


def __getattr__(name: str) -> Any:
    if name.startswith("_") and not name.startswith("__"):
        for part in _PARTS:
            if name in vars(part):
                return vars(part)[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# --------------------------------------------------------------------------------------------------
# Settings (read from here at call time: tests patch them)
# --------------------------------------------------------------------------------------------------

#: A camelCase identifier: lower-case or digit start, then capitalised words (``userId2``, ``fooBar``).
CAMEL_CASE_REGEX = r"^[a-z0-9]+(?:[A-Z][a-z0-9]*)*$"
#: A camelCase identifier that may contain upper-case runs (``getHTTPStatus``).
CAMEL_CASE_ACRONYM_REGEX = r"^[a-z0-9]+(?:[A-Z]+[a-z0-9]*)*$"
#: A PascalCase identifier made of capitalised words (``UserId``, ``FooBar2``).
PASCAL_CASE_REGEX = r"^(?:[A-Z][a-z0-9]+)+$"
#: Text encoding used by the string helpers.
ENCODE_TYPE = "utf-8"
#: Default look-back of :func:`get_time_hours_ago`.
DEFAULTS_HOURS_AGO = 24

#: Directory the legacy cache and lock helpers work in (a container path). Tests patch this.
CACHE_DIR = "/var/cache"
#: Sub-directory of :data:`CACHE_DIR` that holds lock files.
LOCK_DIR_NAME = "lock"
#: How long :func:`lock_cache` waits for a busy lock before giving up.
LOCK_TIMEOUT_SECONDS = 60.0
#: Pause between two attempts to take a busy lock.
LOCK_POLL_SECONDS = 0.05
#: Upper bound for one wait of :func:`rate_limiting`, whatever the server's ``Retry-After`` says.
RATE_LIMIT_MAX_WAIT_SECONDS = 120.0
#: Timeout of the URL helpers: a server that never answers must not hold the step forever.
URL_CHECK_TIMEOUT_SECONDS = 30.0


# --------------------------------------------------------------------------------------------------
# Time (here, so a patch of this module's ``datetime`` reaches them)
# --------------------------------------------------------------------------------------------------


def get_time_now() -> datetime:
    """Current local time, naive (as plugins compare it with other naive local datetimes)."""
    return datetime.now()


def get_time_hours_ago(hours_ago: int = DEFAULTS_HOURS_AGO) -> datetime:
    """Naive local time ``hours_ago`` hours before now."""
    return get_time_now() - timedelta(hours=hours_ago)
