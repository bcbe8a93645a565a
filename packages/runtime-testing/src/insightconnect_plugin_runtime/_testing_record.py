"""Record and replay a step's outgoing HTTP in cassettes that never hold a secret of the connection.

Built on vcrpy, the library pytest-recording and most Python projects use for this: it patches
``http.client``, urllib3 and requests underneath the plugin, whatever helper the plugin calls, and
stores readable YAML. Every request (URI, headers, body) and response (headers, body, decoded when
compressed) is scrubbed with the runtime's own masker, through core's public
``OutputMasker.mask_output_data(connection, value, schema)``: the connection's credential fields and
secret-looking keys, in their plain, base64 (at any alignment, so Basic auth), URL-encoded and
JSON-escaped forms, become ``********``.

The live request is scrubbed the same way before it is matched against the cassette (vcrpy applies
the hook to both), so a cassette recorded with one secret replays with any other.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from insightconnect_plugin_runtime.plugin import OutputMasker


class Scrubber:
    """Masks one connection's secrets in vcrpy requests and responses."""

    def __init__(self, connection: Mapping[str, Any] | None, schema: Mapping[str, Any] | None = None) -> None:
        self.connection = dict(connection or {})
        self.schema = dict(schema) if isinstance(schema, Mapping) else None

    def text(self, value: str) -> str:
        return OutputMasker.mask_output_data(self.connection, value, self.schema)

    def data(self, value: Any) -> Any:
        if isinstance(value, bytes):
            try:
                decoded = value.decode("utf-8")
            except UnicodeDecodeError:
                decoded = value.decode("latin-1")
                return self.text(decoded).encode("latin-1")
            return self.text(decoded).encode("utf-8")
        if isinstance(value, str):
            return self.text(value)
        return value

    def request(self, request: Any) -> Any:
        scrubbed = copy.deepcopy(request)
        scrubbed.uri = self.text(scrubbed.uri)
        scrubbed.body = self.data(scrubbed.body)
        for name in list(scrubbed.headers):
            scrubbed.headers[name] = self.data(scrubbed.headers[name])
        return scrubbed

    def response(self, response: dict[str, Any]) -> dict[str, Any]:
        scrubbed = copy.deepcopy(response)
        headers = scrubbed.get("headers") or {}
        for name, values in headers.items():
            headers[name] = [self.data(v) for v in values] if isinstance(values, list) else self.data(values)
        body = scrubbed.get("body") or {}
        if "string" in body:
            body["string"] = self.data(body["string"])
        return scrubbed


@contextmanager
def recorded_http(
    cassette: str | os.PathLike[str],
    connection: Mapping[str, Any] | None,
    schema: Mapping[str, Any] | None = None,
    *,
    record_mode: str = "once",
) -> Iterator[Any]:
    """Record into (or replay from) ``cassette`` while the block runs; yields vcrpy's cassette.

    ``record_mode`` is vcrpy's: ``once`` records when the file is missing and replays otherwise,
    ``none`` only replays (an unrecorded request fails), ``all`` always records.
    """
    try:
        import vcr
    except ImportError as missing:
        raise RuntimeError("Recording HTTP needs vcrpy: pip install 'icon-runtime-testing[record]'.") from missing
    scrubber = Scrubber(connection, schema)
    recorder = vcr.VCR(
        record_mode=record_mode,
        decode_compressed_response=True,
        before_record_request=scrubber.request,
        before_record_response=scrubber.response,
        match_on=("method", "scheme", "host", "port", "path", "query", "body"),
    )
    with recorder.use_cassette(os.fspath(cassette)) as recorded:
        yield recorded
