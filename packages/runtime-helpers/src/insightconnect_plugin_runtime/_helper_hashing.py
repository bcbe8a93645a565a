"""Digests for de-duplicating events and checking checksums, and base64 of strings and files.

The digests are stored by plugins across runs: their input encoding must never change, or every
event seen before would look new.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from ._helper_base import HelperError, logger, public


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
    encoding = public().ENCODE_TYPE
    digest = hashlib.sha1()  # noqa: S324 - identity digest for de-duplication, not security
    for key, value in items:
        digest.update(f"{key}{value}".encode(encoding, errors="ignore"))
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
    data = s.encode(public().ENCODE_TYPE)
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


def encode_string(s: str) -> bytes | None:
    """Base64 of the UTF-8 bytes of ``s`` (as bytes); ``None`` when ``s`` is not a str."""
    if not isinstance(s, str):
        return None
    return base64.b64encode(s.encode(public().ENCODE_TYPE))


def encode_file(file_path: str) -> bytes | None:
    """Base64 of a file's bytes; ``None`` when the file does not exist."""
    try:
        handle = public().open_file(file_path)
        if handle is None:
            return None
        with handle:
            return base64.b64encode(handle.read())
    except OSError as error:
        logger.error("encode_file: cannot read %s: %s", file_path, error)
        raise HelperError(f"encode_file: cannot read {file_path}: {error}") from error
