"""Helper functions that InsightConnect plugins call as ``insightconnect_plugin_runtime.helper.*``.

The names, signatures and return shapes follow the reference runtime so existing plugins keep working;
the behaviour differs only where the reference is unsafe (see the package README, "Differences from
the reference runtime"). Three rules shape this module:

* Plugins' tests patch ``requests.Session.send``, ``helper.exec_command`` and ``helper.open_url``.
  ``make_request`` therefore always goes through ``requests.Session().send`` and functions here call
  ``exec_command`` / ``open_url`` through the module globals, so a patch is seen by every caller.
* Plugins' tests hand duck-typed fake responses to ``response_handler`` and ``extract_json``; those
  functions only touch ``status_code``, ``text``, ``json()``, ``headers`` and ``raise_for_status``.
* Cache and lock files live under :data:`CACHE_DIR`, a module constant so tests can point it at a
  temporary directory; every name is resolved and checked so it cannot leave that directory.
"""

from __future__ import annotations

import base64
import copy
import email.utils
import functools
import hashlib
import logging
import os
import re
import shlex
import ssl
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any, BinaryIO, TextIO, TypeVar

import requests

from insightconnect_plugin_runtime import _url_fetch
from insightconnect_plugin_runtime._paths import find_file_in_dir, safeguard_and_return_file_path
from insightconnect_plugin_runtime.exceptions import (
    APIException,
    PluginException,
    ResponseExceptionData,
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

logger = logging.getLogger(__name__)


_QUERY_AFTER_PATH = re.compile(r"(/[^\s?#'\"<>]*)[?#][^\s'\"<>)]*")


def _error_for_log(error: BaseException) -> str:
    """An error's text without the query strings of the URLs it quotes (``requests`` and ``urllib3``
    put the full request URL or path in their messages)."""
    return _QUERY_AFTER_PATH.sub(r"\1", str(error))


def _url_for_log(url: Any) -> str:
    """``url`` as log lines and error messages show it: no user info, query string or fragment.

    Those parts carry credentials (``?apikey=...``, ``user:pass@``) that are not always connection
    secrets the runtime could mask (a token obtained at run time), and a reader never needs them.
    """
    text = str(url)
    try:
        parts = urllib.parse.urlsplit(text)
    except ValueError:
        return text.split("?", 1)[0].split("#", 1)[0]
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urllib.parse.urlunsplit((parts.scheme, host, parts.path, "", ""))


# --------------------------------------------------------------------------------------------------
# Constants
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
#: The literal prefix plugins write in absolute cache names; it is mapped onto :data:`CACHE_DIR`.
_LEGACY_CACHE_PREFIX = "/var/cache"
#: Sub-directory of :data:`CACHE_DIR` that holds lock files.
LOCK_DIR_NAME = "lock"
#: How long :func:`lock_cache` waits for a busy lock before giving up.
LOCK_TIMEOUT_SECONDS = 60.0
#: Pause between two attempts to take a busy lock.
LOCK_POLL_SECONDS = 0.05
#: Upper bound for one wait of :func:`rate_limiting`, whatever the server's ``Retry-After`` says.
RATE_LIMIT_MAX_WAIT_SECONDS = 120.0
#: Timeout of the URL helpers that the reference ran without any.
URL_CHECK_TIMEOUT_SECONDS = 30.0

_READ_CHUNK = 64 * 1024

_F = TypeVar("_F", bound=Callable[..., Any])


class HelperError(Exception):
    """A legacy helper failed (file, process or URL); the message says which one and why."""


# --------------------------------------------------------------------------------------------------
# Hashing and de-duplication
# --------------------------------------------------------------------------------------------------


def hash_sha1(log: dict[str, Any], keys: list[str] | None = None) -> str:
    """SHA-1 hex digest of ``log`` (or of the listed ``keys``, in list order).

    Each item contributes the UTF-8 bytes of ``f"{key}{value}"``, concatenated without separator.
    That encoding is ambiguous, but plugins store these digests across runs to de-duplicate events,
    so it must not change or every previously seen event would look new.
    """
    if keys is not None and not isinstance(keys, list):
        raise TypeError(f"hash_sha1: 'keys' has to be a list or None, got {type(keys).__name__}")
    if keys is None:
        items = list(log.items())
    else:
        items = []
        for key in keys:
            if key not in log:
                raise KeyError(f"hash_sha1: the log has no key {key!r}")
            items.append((key, log[key]))
    digest = hashlib.sha1()  # noqa: S324 - identity digest for de-duplication, not security
    for key, value in items:
        digest.update(f"{key}{value}".encode(ENCODE_TYPE, errors="ignore"))
    return digest.hexdigest()


def compare_and_dedupe_hashes(
    previous_logs_hashes: list[str], new_logs: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[str]]:
    """Split off the logs not seen before: returns ``(unseen_logs, their_hashes)``.

    Duplicates inside ``new_logs`` are kept, as plugins expect one output item per input item.
    """
    seen = set(previous_logs_hashes)
    hashed = [(log, hash_sha1(log)) for log in new_logs]
    unseen_logs = [log for log, digest in hashed if digest not in seen]
    unseen_hashes = [digest for _, digest in hashed if digest not in seen]
    logger.info(
        "De-duplication kept %d of %d new log(s); %d were already known.",
        len(unseen_logs),
        len(new_logs),
        len(new_logs) - len(unseen_logs),
    )
    return unseen_logs, unseen_hashes


def get_hashes_string(s: str) -> dict[str, str]:
    """MD5, SHA-1, SHA-256 and SHA-512 hex digests of the UTF-8 encoding of ``s``."""
    data = s.encode(ENCODE_TYPE)
    return {
        "md5": hashlib.md5(data).hexdigest(),  # noqa: S324 - file fingerprint, not security
        "sha1": hashlib.sha1(data).hexdigest(),  # noqa: S324
        "sha256": hashlib.sha256(data).hexdigest(),
        "sha512": hashlib.sha512(data).hexdigest(),
    }


def check_hashes(src: str, checksum: str) -> bool:
    """True when ``checksum`` equals one of the :func:`get_hashes_string` digests of ``src``."""
    if not isinstance(src, str):
        logger.error("check_hashes needs a str to hash, not %s", type(src).__name__)
        raise HelperError(f"check_hashes: cannot hash a value of type {type(src).__name__}")
    return checksum in get_hashes_string(src).values()


# --------------------------------------------------------------------------------------------------
# Cleaning and case conversion
# --------------------------------------------------------------------------------------------------


def _is_blank(value: Any) -> bool:
    """``None`` and the empty string are what ``clean`` removes; ``0``, ``False``, ``{}`` stay."""
    return value is None or (isinstance(value, str) and value == "")


def clean_dict(input_dict: dict[Any, Any]) -> dict[Any, Any]:
    """Shallow copy of ``input_dict`` without the keys whose value is ``None`` or ``""``."""
    return {key: value for key, value in input_dict.items() if not _is_blank(value)}


def clean_list(input_list: list[Any]) -> list[Any]:
    """Copy of ``input_list`` without ``None`` and ``""`` elements."""
    return [item for item in input_list if not _is_blank(item)]


def clean(obj: dict[Any, Any] | list[Any]) -> dict[Any, Any] | list[Any]:
    """Recursively drop ``None`` and ``""`` from dicts and lists.

    Containers that become empty are kept (``{"a": {"b": None}}`` gives ``{"a": {}}``) because plugin
    outputs are validated against schemas where the key itself may be required.
    """
    if isinstance(obj, list):
        cleaned: dict[Any, Any] | list[Any] = clean_list(obj)
        return [_clean_nested(item) for item in cleaned]
    if isinstance(obj, dict):
        return {key: _clean_nested(value) for key, value in clean_dict(obj).items()}
    raise TypeError(f"clean: expected a dict or a list, got {type(obj).__name__}")


def _clean_nested(value: Any) -> Any:
    return clean(value) if isinstance(value, dict | list) else value


def return_non_empty(input_dict: dict[Any, Any]) -> dict[Any, Any]:
    """Recursively drop empty values: stricter than :func:`clean`.

    In dicts ``None``, ``""``, ``[]`` and dicts that end up empty are dropped (``0``/``False`` stay).
    In lists, dict elements are cleaned first, then every falsy element goes (``0`` and ``False``
    included); a list left empty is dropped from its dict.
    """
    result: dict[Any, Any] = {}
    for key, value in input_dict.items():
        if isinstance(value, dict):
            value = return_non_empty(value)
            if not value:
                continue
        elif isinstance(value, list):
            value = _non_empty_list(value)
            if not value:
                continue
        elif _is_blank(value):
            continue
        result[key] = value
    return result


def _non_empty_list(values: list[Any]) -> list[Any]:
    items = [return_non_empty(item) if isinstance(item, dict) else item for item in values]
    return [item for item in items if item]


_SNAKE_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def convert_to_snake_case(input_string: str) -> str:
    """``letMeBeConverted`` -> ``let_me_be_converted``; acronyms are not split (``HTTPResponse`` ->
    ``httpresponse``), which keeps the result stable for keys plugins already emit."""
    return _SNAKE_BOUNDARY.sub("_", input_string).lower()


def convert_to_camel_case(input_string: str) -> str:
    """``let_me_be_converted`` -> ``letMeBeConverted``.

    Strings without underscores are treated as already cased: a lower-case start is kept as is,
    PascalCase gets a lower-case first letter and a leading acronym is lower-cased whole
    (``HTTPResponse`` -> ``httpresponse``). Snake case is split on ``_``; a leading underscore leaves
    the first word capitalised (``_private`` -> ``Private``), as plugins already rely on that.
    """
    if "_" not in input_string:
        if not input_string[:1].isupper():
            return input_string
        if len(input_string) > 1 and input_string[1].isupper():
            return input_string.lower()
        return input_string[0].lower() + input_string[1:]
    first, *rest = input_string.split("_")
    return first.lower() + "".join(word.capitalize() for word in rest)


def _convert_keys(obj: Any, convert: Callable[[str], str]) -> Any:
    if isinstance(obj, dict):
        return {
            (convert(key) if isinstance(key, str) else key): _convert_keys(value, convert) for key, value in obj.items()
        }
    if isinstance(obj, list):
        return [_convert_keys(item, convert) for item in obj]
    return obj


def convert_dict_to_snake_case(input_dict: dict[str, Any] | list[Any]) -> dict[str, Any] | list[Any]:
    """Convert every dict key (recursively, through lists too) with :func:`convert_to_snake_case`."""
    return _convert_keys(input_dict, convert_to_snake_case)


def convert_dict_to_camel_case(input_dict: dict[str, Any] | list[Any]) -> dict[str, Any] | list[Any]:
    """Convert every dict key (recursively, through lists too) with :func:`convert_to_camel_case`."""
    return _convert_keys(input_dict, convert_to_camel_case)


def extract_value(begin: str, key: str, end: str, s: str) -> str | None:
    """Group 1 of the regex ``begin + key + end`` searched in ``s``.

    Returns ``None`` when there is no match or the pattern does not have exactly one group, so a
    caller never receives a value from the wrong group.
    """
    match = re.search(begin + key + end, s)
    if match is None or len(match.groups()) != 1:
        return None
    return match.group(1)


# --------------------------------------------------------------------------------------------------
# Time
# --------------------------------------------------------------------------------------------------


def get_time_now() -> datetime:
    """Current local time, naive (as plugins compare it with other naive local datetimes)."""
    return datetime.now()


def get_time_hours_ago(hours_ago: int = DEFAULTS_HOURS_AGO) -> datetime:
    """Naive local time ``hours_ago`` hours before now."""
    return get_time_now() - timedelta(hours=hours_ago)


# --------------------------------------------------------------------------------------------------
# Files, caches and locks
# --------------------------------------------------------------------------------------------------


def _resolve_in(base_dir: str, name: str | os.PathLike[str]) -> str:
    """Resolve ``name`` inside ``base_dir``; a name under the legacy ``/var/cache`` prefix is mapped
    onto :data:`CACHE_DIR` first. Raises ``ValueError`` if the result would leave ``base_dir``."""
    text = os.fspath(name)
    if text == _LEGACY_CACHE_PREFIX or text.startswith(_LEGACY_CACHE_PREFIX + "/"):
        text = os.path.join(CACHE_DIR, text[len(_LEGACY_CACHE_PREFIX) :].lstrip("/"))
    return safeguard_and_return_file_path(base_dir, text)


def _cache_path(cache_file: str) -> str:
    return _resolve_in(CACHE_DIR, cache_file)


def _lock_dir() -> str:
    return os.path.join(CACHE_DIR, LOCK_DIR_NAME)


def _lock_path(lock_file: str) -> str:
    """Relative lock names go into the lock directory; absolute ones must stay in the cache dir."""
    text = os.fspath(lock_file)
    if os.path.isabs(text):
        return _resolve_in(CACHE_DIR, text)
    return _resolve_in(_lock_dir(), text)


def check_cachefile(cache_file: str) -> bool:
    """True when the cache directory exists and holds ``cache_file``."""
    path = _cache_path(cache_file)
    return os.path.isdir(CACHE_DIR) and os.path.exists(path)


def open_file(file_path: str) -> BinaryIO | None:
    """Open an existing file for binary reading; ``None`` (and a log line) when it is missing."""
    directory = os.path.dirname(file_path) or "."
    if not os.path.isdir(directory):
        logger.info("open_file: directory %s does not exist", directory)
        return None
    if not os.path.isfile(file_path):
        logger.info("open_file: file %s does not exist", file_path)
        return None
    return open(file_path, "rb")  # noqa: SIM115 - the caller owns the file object


def open_cachefile(cache_file: str, append: bool = False) -> TextIO | None:
    """Open (creating it if needed) a text file in the cache directory.

    Returns a file opened ``"a+"`` when ``append`` else ``"r+"``, or ``None`` when the cache
    directory does not exist (the plugin was not given a cache volume).
    """
    if not os.path.isdir(CACHE_DIR):
        logger.error("open_cachefile: cache directory %s does not exist", CACHE_DIR)
        return None
    path = _cache_path(cache_file)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if not os.path.exists(path):
        logger.info("open_cachefile: creating %s", path)
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))  # cache files may hold tokens: owner only
    return open(path, "a+" if append else "r+")  # noqa: SIM115 - the caller owns the file object


def remove_cachefile(cache_file: str) -> bool:
    """Delete a cache file; True if it existed and was removed."""
    path = _cache_path(cache_file)
    if os.path.isdir(CACHE_DIR) and os.path.isfile(path):
        os.remove(path)
        return True
    return False


def lock_cache(
    lock_file: str,
    timeout: float | None = None,
    poll_interval: float | None = None,
) -> bool:
    """Take the named lock, waiting while another process holds it.

    The lock file is created atomically (``O_CREAT | O_EXCL``), so two waiters can never both
    succeed. Waiting sleeps ``poll_interval`` between attempts and gives up after ``timeout``
    seconds (default :data:`LOCK_TIMEOUT_SECONDS`), returning False; ``timeout=0`` tries once.
    """
    wait = LOCK_TIMEOUT_SECONDS if timeout is None else timeout
    pause = LOCK_POLL_SECONDS if poll_interval is None else poll_interval
    path = _lock_path(lock_file)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    deadline = time.monotonic() + max(wait, 0.0)
    while True:
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        except FileExistsError:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                logger.warning("lock_cache: %s is still held after %.1f s; giving up", path, wait)
                return False
            time.sleep(min(pause, remaining))
            continue
        with os.fdopen(fd, "w") as handle:
            handle.write(str(os.getpid()))
        return True


def unlock_cache(lock_file: str, wait_time: float) -> bool:
    """Release the named lock after ``wait_time`` seconds; True if a lock file was removed."""
    path = _lock_path(lock_file)
    time.sleep(wait_time)
    try:
        os.remove(path)
    except FileNotFoundError:
        return False
    return True


def encode_string(s: str) -> bytes | None:
    """Base64 of the UTF-8 bytes of ``s`` (as bytes); ``None`` when ``s`` is not a str."""
    if not isinstance(s, str):
        return None
    return base64.b64encode(s.encode(ENCODE_TYPE))


def encode_file(file_path: str) -> bytes | None:
    """Base64 of a file's bytes; ``None`` when the file does not exist."""
    try:
        handle = open_file(file_path)
        if handle is None:
            return None
        with handle:
            return base64.b64encode(handle.read())
    except OSError as error:
        logger.error("encode_file: cannot read %s: %s", file_path, error)
        raise HelperError(f"encode_file: cannot read {file_path}: {error}") from error


# --------------------------------------------------------------------------------------------------
# Processes
# --------------------------------------------------------------------------------------------------


def exec_command(command: str, timeout: float | None = None) -> dict[str, Any]:
    """Run ``command`` without a shell and return ``{"stdout": bytes, "stderr": bytes, "rcode": int}``.

    The string is split with :func:`shlex.split` and executed directly, so ``;``, ``|``, ``$(...)``,
    back-ticks and newlines are plain argument text, never shell syntax. Both pipes are drained
    together (``communicate``) so a chatty stderr cannot deadlock the child. With ``timeout`` the
    child is killed when it runs longer and :class:`HelperError` is raised.
    """
    args = shlex.split(command)
    if not args:
        raise HelperError("exec_command: the command is empty")
    try:
        process = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            close_fds=True,
        )
    except OSError as error:
        logger.error("exec_command: cannot start %r: %s", args[0], error)
        raise HelperError(f"exec_command: cannot start {args[0]!r}: {error}") from error
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired as error:
        process.kill()
        process.communicate()
        logger.error("exec_command: %r ran longer than %s s and was killed", args[0], timeout)
        raise HelperError(f"exec_command: {args[0]!r} did not finish within {timeout} s") from error
    return {"stdout": stdout, "stderr": stderr, "rcode": process.returncode}


# --------------------------------------------------------------------------------------------------
# HTTP requests
# --------------------------------------------------------------------------------------------------

#: HTTP status -> preset of the :class:`APIException` raised for it; other errors are UNKNOWN.
_STATUS_PRESETS: dict[int, str] = {
    400: PluginException.Preset.BAD_REQUEST,
    401: PluginException.Preset.INVALID_CREDENTIALS,
    403: PluginException.Preset.UNAUTHORIZED,
    404: PluginException.Preset.NOT_FOUND,
    405: PluginException.Preset.METHOD_NOT_ALLOWED,
    408: PluginException.Preset.TIMEOUT,
    409: PluginException.Preset.CONFLICT,
    429: PluginException.Preset.RATE_LIMIT,
    500: PluginException.Preset.SERVER_ERROR,
    503: PluginException.Preset.SERVICE_UNAVAILABLE,
}


def _too_large(limit: int, detail: str) -> APIException:
    return APIException(
        cause=f"The response is larger than the allowed {limit} bytes.",
        assistance="Ask for less data at once (a smaller page, a narrower time range or fewer fields).",
        data=detail,
        status_code=400,
    )


class _CappedRaw:
    """Wraps ``response.raw`` and fails once more than ``limit`` body bytes have been read.

    ``Content-Length`` cannot be trusted (absent with chunked or close-delimited bodies, or simply
    wrong), so the cap is enforced on the bytes actually delivered, decoded ones included.
    """

    def __init__(self, raw: Any, limit: int) -> None:
        self._raw = raw
        self._limit = limit
        self._seen = 0

    def _count(self, data: bytes) -> bytes:
        self._seen += len(data)
        if self._seen > self._limit:
            self._raw.close()
            raise _too_large(self._limit, f"Stopped reading after {self._seen} bytes.")
        return data

    def read(self, amt: int | None = None, *args: Any, **kwargs: Any) -> bytes:
        if amt is not None:
            return self._count(self._raw.read(amt, *args, **kwargs))
        parts = []
        while True:
            chunk = self._count(self._raw.read(_READ_CHUNK, *args, **kwargs))
            if not chunk:
                return b"".join(parts)
            parts.append(chunk)

    def stream(self, amt: int | None = _READ_CHUNK, decode_content: bool | None = None) -> Iterator[bytes]:
        for chunk in self._raw.stream(amt, decode_content=decode_content):
            yield self._count(chunk)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._raw, name)


def _declared_length(response: Any) -> int | None:
    try:
        value = response.headers.get("content-length")
        return int(value) if isinstance(value, str | bytes | int) else None
    except (AttributeError, TypeError, ValueError):
        return None


def _enforce_size_cap(response: Any, limit: int, stream: bool) -> None:
    """Apply ``max_response_size``: header check first (cheap), then a cap on the bytes read."""
    declared = _declared_length(response)
    if declared is not None and declared > limit:
        raise _too_large(limit, f"The server announced {declared} bytes; at most {limit} are allowed.")
    if not isinstance(response, requests.Response) or response.raw is None:
        return  # a test double: nothing to read
    response.raw = _CappedRaw(response.raw, limit)
    if not stream:
        _ = response.content  # read now, within the cap, so the caller gets a plain response


def make_request(
    _request: requests.Request,
    timeout: float = 60,
    verify: bool | str = True,
    cert: str | tuple[str, str] | None = None,
    stream: bool = False,
    allow_redirects: bool = True,
    exception_custom_configs: dict[int, Exception] = {},  # noqa: B006 - reference signature; never mutated
    exception_data_location: str | None = None,
    allowed_status_codes: list[int] = [],  # noqa: B006 - reference signature; never mutated
    max_response_size: int | None = None,
) -> requests.Response:
    """Send ``_request`` through a fresh ``requests.Session`` and turn failures into plugin exceptions.

    Transport errors become ``PluginException`` presets (TIMEOUT, CONNECTION_ERROR, REDIRECT_ERROR,
    UNKNOWN); HTTP error statuses go through :func:`response_handler`. ``max_response_size`` caps the
    body size whatever ``Content-Length`` says. With ``stream=True`` the session stays open until the
    caller closes the response, so the body can still be read.
    """
    session = requests.Session()
    try:
        response = _send_once(
            session,
            _request,
            transport={"timeout": timeout, "verify": verify, "cert": cert, "allow_redirects": allow_redirects},
            stream=stream,
            max_response_size=max_response_size,
        )
        response_handler(
            response,
            custom_configs=exception_custom_configs,
            data_location=exception_data_location,
            allowed_status_codes=allowed_status_codes,
        )
    except BaseException:
        session.close()
        raise
    if stream and isinstance(response, requests.Response):
        _close_session_with(response, session)  # the caller still reads the body
    else:
        session.close()
    return response


def _send_once(
    session: requests.Session,
    _request: requests.Request,
    transport: dict[str, Any],
    stream: bool,
    max_response_size: int | None,
) -> requests.Response:
    """Send the request; a capped response is read lazily so the cap applies before the body is in
    memory. Transport failures become plugin exceptions; an ``HTTPError`` raised by a hook passes."""
    try:
        response = session.send(
            session.prepare_request(_request), stream=stream or max_response_size is not None, **transport
        )
        if max_response_size is not None:
            _enforce_size_cap(response, max_response_size, stream)
        return response
    except requests.exceptions.HTTPError:
        raise
    except requests.exceptions.RequestException as error:
        raise _transport_exception(error) from error


def _close_session_with(response: requests.Response, session: requests.Session) -> None:
    close_response = response.close

    def close() -> None:
        try:
            close_response()
        finally:
            session.close()

    response.close = close  # type: ignore[method-assign]


def _transport_exception(error: requests.exceptions.RequestException) -> PluginException:
    """Map a requests transport error to a preset; Timeout first, as ConnectTimeout is both."""
    if isinstance(error, requests.exceptions.Timeout):
        preset = PluginException.Preset.TIMEOUT
    elif isinstance(error, requests.exceptions.ConnectionError):
        preset = PluginException.Preset.CONNECTION_ERROR
    elif isinstance(error, requests.exceptions.TooManyRedirects):
        preset = PluginException.Preset.REDIRECT_ERROR
    else:
        preset = PluginException.Preset.UNKNOWN
    return PluginException(preset=preset, data=str(error))


def _return_response_data(response: Any, exception: Exception, data_location: str | None = None) -> Any:
    """The ``data`` to attach to an exception, taken from where ``data_location`` says."""
    if data_location == ResponseExceptionData.EXCEPTION:
        return str(exception)
    if data_location == ResponseExceptionData.RESPONSE:
        return response
    if data_location == ResponseExceptionData.RESPONSE_TEXT:
        return response.text
    if data_location == ResponseExceptionData.RESPONSE_JSON:
        try:
            return response.json()
        except ValueError:
            return exception
    return None


def _retry_after_seconds(response: Any) -> float | None:
    """Seconds to wait according to ``Retry-After`` (delta-seconds or HTTP-date); None if absent."""
    try:
        value = response.headers.get("Retry-After")
    except AttributeError:
        return None
    if not isinstance(value, str) or not value.strip():
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - time.time())


def _status_error(response: Any) -> Exception | None:
    """The error for a 4xx/5xx response, or None.

    ``raise_for_status`` is preferred (as in the reference) because plugins' mocks configure it;
    fakes without it are judged by ``status_code``.
    """
    raise_for_status = getattr(response, "raise_for_status", None)
    if callable(raise_for_status):
        try:
            raise_for_status()
        except requests.exceptions.HTTPError as error:
            return error
        return None
    status = int(response.status_code)
    if 400 <= status < 600:
        return requests.exceptions.HTTPError(f"HTTP {status} from {getattr(response, 'url', '?')}")
    return None


def _with_data(template: Exception, data: Any) -> Exception:
    """A copy of a caller's pre-built exception carrying ``data``; the caller's object is untouched."""
    try:
        exception = copy.copy(template)
    except Exception:  # an exception class copy cannot rebuild: raise the caller's own object
        exception = template
    if data is not None:
        exception.data = data  # type: ignore[attr-defined]
    return exception


def response_handler(
    response: requests.Response,
    custom_configs: dict[int, Exception] = {},  # noqa: B006 - reference signature; never mutated
    data_location: str | None = None,
    allowed_status_codes: list[int] = [],  # noqa: B006 - reference signature; never mutated
) -> None:
    """Raise the matching plugin exception for a 4xx/5xx ``response``; return None otherwise.

    Priority: a status listed in ``allowed_status_codes`` passes; a pre-built exception in
    ``custom_configs`` is raised (as a copy with ``data`` set); a mapped status raises an
    :class:`APIException` with that preset and ``status_code``; anything else is UNKNOWN. A
    ``retry_after`` attribute (seconds or None) is set on the exception for :func:`rate_limiting`.
    """
    error = _status_error(response)
    if error is None:
        return None
    status = int(response.status_code)
    data = _return_response_data(response, error, data_location)
    if status in allowed_status_codes:
        return None
    logger.info("HTTP request to %s failed with status %s", _url_for_log(getattr(response, "url", "?")), status)
    exception: Exception
    if status in custom_configs:
        exception = _with_data(custom_configs[status], data)
    elif status in _STATUS_PRESETS:
        exception = APIException(preset=_STATUS_PRESETS[status], status_code=status)
        exception.data = data
    else:
        exception = PluginException(preset=PluginException.Preset.UNKNOWN, data=data)
    try:
        exception.retry_after = _retry_after_seconds(response)  # type: ignore[attr-defined]
    except AttributeError:
        pass  # exceptions with __slots__ cannot take the hint
    raise exception


def extract_json(response: requests.Response) -> dict[str, Any]:
    """The JSON body of ``response``; an INVALID_JSON ``PluginException`` when it is not JSON."""
    try:
        return response.json()
    except ValueError as error:
        raise PluginException(preset=PluginException.Preset.INVALID_JSON, data=str(error))


def request_error_handling(
    custom_configs: dict[int, Exception] = {},  # noqa: B006 - reference signature; never mutated
    exception_data_location: str | None = None,
    allowed_status_codes: list[int] = [],  # noqa: B006 - reference signature; never mutated
) -> Callable[[_F], _F]:
    """Decorator for API-client methods that call ``requests`` themselves.

    Transport errors become plugin exceptions as in :func:`make_request`; an ``HTTPError`` raised by
    the method (via ``raise_for_status``) goes through :func:`response_handler`, and the method
    returns None when the status is allowed.
    """

    def decorator(function: _F) -> _F:
        @functools.wraps(function)
        def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                return function(self, *args, **kwargs)
            except requests.exceptions.HTTPError as error:
                response_handler(
                    error.response,
                    custom_configs=custom_configs,
                    data_location=exception_data_location,
                    allowed_status_codes=allowed_status_codes,
                )
                return None
            except requests.exceptions.RequestException as error:
                raise _transport_exception(error) from error

        return wrapper  # type: ignore[return-value]

    return decorator


def backoff_function(attempt: int) -> float:
    """Seconds to wait before retry number ``attempt``: grows geometrically (about x1.5 per try)."""
    return 2 ** (attempt * 0.6)


def _is_rate_limited(error: PluginException) -> bool:
    return error.preset == PluginException.Preset.RATE_LIMIT or error.cause == PluginException.causes.get(
        PluginException.Preset.RATE_LIMIT
    )


def rate_limiting(max_tries: int, back_off_function: Callable[[int], float] = backoff_function) -> Callable[[_F], _F]:
    """Retry a call while it fails with the RATE_LIMIT preset, calling it at most ``max_tries`` times.

    The wait before retry ``n`` is the server's ``Retry-After`` when the exception carries one (see
    :func:`response_handler`), else ``back_off_function(n)``; either is capped at
    :data:`RATE_LIMIT_MAX_WAIT_SECONDS`. Any other exception propagates at once, without a retry.
    """
    tries = max(1, int(max_tries))

    def decorator(function: _F) -> _F:
        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            for attempt in range(1, tries + 1):
                try:
                    return function(*args, **kwargs)
                except PluginException as error:
                    if not _is_rate_limited(error) or attempt == tries:
                        raise
                    hinted = getattr(error, "retry_after", None)
                    wait = back_off_function(attempt) if hinted is None else hinted
                    wait = min(max(float(wait), 0.0), RATE_LIMIT_MAX_WAIT_SECONDS)
                    logger.info("Rate limited (attempt %d of %d); retrying in %.2f s", attempt, tries, wait)
                    time.sleep(wait)
            raise AssertionError("unreachable")  # pragma: no cover

        return wrapper  # type: ignore[return-value]

    return decorator


# --------------------------------------------------------------------------------------------------
# URL helpers (legacy)
# --------------------------------------------------------------------------------------------------


def _ssl_context(verify: bool) -> ssl.SSLContext:
    if not verify:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    return ssl.create_default_context(cafile=os.environ.get("SSL_CERT_FILE") or None)


#: ``urllib.request.urlopen`` as the standard library defines it; a test double replacing it is called instead.
_STDLIB_URLOPEN = urllib.request.urlopen


def open_url(
    url: str,
    timeout: float | None = None,
    verify: bool = True,
    allowed_schemes: Iterable[str] | None = None,
    max_redirects: int = _url_fetch.DEFAULT_MAX_REDIRECTS,
    **kwargs: Any,
) -> Any:
    """Open ``url`` with urllib and return the response object (``None`` for HTTP 304).

    Keyword arguments become request headers with ``_`` turned into ``-`` (``If_None_Match=...``).
    ``verify`` uses ``SSL_CERT_FILE`` when set, else the system trust store. Other HTTP and network
    errors are logged and raised as :class:`HelperError`.

    Only ``http`` and ``https`` URLs are opened, for the URL and for every redirect, unless
    ``allowed_schemes`` names others (``allowed_schemes=("http", "https", "ftp")``). At most
    ``max_redirects`` redirects are followed, and ``Authorization``, ``Cookie`` and
    ``Proxy-Authorization`` are dropped on a redirect to another host, port or scheme, as
    ``requests`` does. Tests that patch ``urllib.request.urlopen`` still receive the request.
    """
    schemes = _url_fetch.allowed_schemes(allowed_schemes)
    headers = {name.replace("_", "-"): str(value) for name, value in kwargs.items()}
    try:
        _url_fetch.check_scheme(url, schemes)
        request = urllib.request.Request(url, headers=headers)
        context = _ssl_context(verify)
        if urllib.request.urlopen is not _STDLIB_URLOPEN:  # a test double: hand it the request as before
            return urllib.request.urlopen(request, timeout=timeout, context=context)  # noqa: S310
        opener = _url_fetch.build_opener(context, schemes, max_redirects)
        return opener.open(request, timeout=timeout)
    except _url_fetch.RefusedURL as error:
        logger.error("open_url: refused %s: %s", url, error.reason)
        raise HelperError(f"open_url: refused {url}: {error.reason}") from error
    except urllib.error.HTTPError as error:
        if error.code == 304:
            return None
        if 300 <= error.code < 400:  # urllib's own redirect refusals (a file: Location, a loop)
            logger.error("open_url: refused a redirect from %s: %s", _url_for_log(url), error.reason)
            raise HelperError(f"open_url: refused a redirect from {_url_for_log(url)}: {error.reason}") from error
        logger.error("open_url: %s answered HTTP %s", _url_for_log(url), error.code)
        raise HelperError(f"open_url: {_url_for_log(url)} answered HTTP {error.code}") from error
    except (urllib.error.URLError, OSError) as error:
        logger.error("open_url: cannot reach %s: %s", _url_for_log(url), _error_for_log(error))
        raise HelperError(f"open_url: cannot reach {_url_for_log(url)}: {_error_for_log(error)}") from error


def check_url(url: str) -> bool:
    """True when ``url`` answers a HEAD with 2xx/3xx, or else a 3-byte ranged GET with 2xx.

    Network failures give False; a malformed URL raises, since that is a programming error.
    """
    try:
        head = requests.head(url, timeout=URL_CHECK_TIMEOUT_SECONDS, allow_redirects=False)
        if 200 <= head.status_code < 400:
            return True
        response = open_url(url, timeout=URL_CHECK_TIMEOUT_SECONDS, Range="bytes=0-2")
        status = getattr(response, "status", None) or getattr(response, "code", None)
        return response is not None and status is not None and 200 <= int(status) < 300
    except (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema):
        raise
    except requests.exceptions.RequestException as error:
        logger.error("check_url: %s is not reachable: %s", _url_for_log(url), _error_for_log(error))
        return False


def check_url_modified(url: str) -> bool:
    """True only when a HEAD on ``url`` answers 200 (e.g. modified since the caller last looked)."""
    try:
        response = requests.head(url, timeout=URL_CHECK_TIMEOUT_SECONDS)
        response.raise_for_status()
    except requests.exceptions.RequestException as error:
        logger.info("check_url_modified: %s: %s", _url_for_log(url), _error_for_log(error))
        return False
    return response.status_code == 200


def get_url_content_disposition(headers: Mapping[str, str]) -> str | None:
    """File name from a ``Content-Disposition`` header (any case); None without that header.

    Like the reference, a header without ``filename=`` raises ``IndexError``.
    """
    for name, value in headers.items():
        if name.lower() == "content-disposition":
            after = value.split("filename=", 1)[1]
            return after.split(";", 1)[0].strip().strip("\"'")
    return None


_EXTENSION = re.compile(r"^[^.].*\.[A-Za-z0-9]{1,10}$")


def get_url_path_filename(url: str) -> str | None:
    """Last path segment of ``url`` when it looks like a file name with an extension, else None."""
    path = urllib.parse.urlsplit(url).path
    name = os.path.basename(path)
    if name and _EXTENSION.match(name):
        return urllib.parse.unquote(name)
    return None


def get_url_filename(url: str) -> str | None:
    """File name for ``url``: from ``Content-Disposition`` of a HEAD, else from the URL path."""
    try:
        response = requests.head(url, timeout=URL_CHECK_TIMEOUT_SECONDS, allow_redirects=True)
    except requests.exceptions.RequestException as error:
        logger.error("get_url_filename: %s: %s", _url_for_log(url), _error_for_log(error))
        return None
    try:
        name = get_url_content_disposition(response.headers)
    except IndexError:
        name = None
    return name or get_url_path_filename(url)
