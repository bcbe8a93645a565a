"""Keep compiled bytecode only for the modules a plugin container loads when it starts.

Bytecode is about a third of an image's Python files, and most of it belongs to modules nothing
imports at run time (pip, setuptools, botocore's documentation builders, Jinja's extensions...).
A module without bytecode still imports; it is compiled in memory instead (the images set
``PYTHONDONTWRITEBYTECODE`` and run as a user who cannot write to site-packages), which costs
milliseconds per module and matters only on the start path. So this script imports what the
runtime's entry points import (server, CLI, helpers, AWS client, tracing, the validators) and the
standard-library modules public plugins import, records
every module file that loaded, writes bytecode for exactly those and removes the rest under the
given roots.

    python hot_bytecode.py ROOT [ROOT ...]

Run it with the interpreter of the image, after ``pip install --no-compile``; the roots are
site-packages and the standard library. Outside the roots nothing changes.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import py_compile
import sys
from pathlib import Path

#: What the runtime's start paths import: one-shot ``run``/``test``, the HTTP server and its
#: app, the helpers, the AWS client, tracing, schema validation, and what public plugins import
#: first (requests, dateutil, structlog).
HOT_MODULES = (
    "insightconnect_plugin_runtime",
    "insightconnect_plugin_runtime.cli",
    "insightconnect_plugin_runtime.plugin",
    "insightconnect_plugin_runtime.action",
    "insightconnect_plugin_runtime.trigger",
    "insightconnect_plugin_runtime.task",
    "insightconnect_plugin_runtime.connection",
    "insightconnect_plugin_runtime.exceptions",
    "insightconnect_plugin_runtime.server",
    "insightconnect_plugin_runtime.api.endpoints",
    "insightconnect_plugin_runtime.helper",
    "insightconnect_plugin_runtime.clients.oauth",
    "insightconnect_plugin_runtime.clients.aws_client",
    "insightconnect_plugin_runtime.telemetry",
    "gunicorn.app.base",
    "gunicorn.workers.sync",
    "gunicorn.workers.gthread",
    "gunicorn.glogging",
    "flask",
    "jsonschema",
    "yaml",
    "prometheus_client",
    "structlog",
    "requests",
    "dateutil.parser",
    "boto3",
    "opentelemetry.sdk.trace",
    "opentelemetry.exporter.otlp.proto.http.trace_exporter",
)

#: Standard-library modules that the code of the public plugins (rapid7/insightconnect-plugins,
#: every ``import``/``from`` outside their unit tests, counted 2026-12) imports: 69 modules, some
#: listed with the submodules plugins name. Their bytecode stays too, so a plugin's own imports
#: are not compiled at every start either.
PLUGIN_STDLIB_IMPORTS = tuple(
    """
    _datetime abc argparse array asyncio atexit base64 binascii bz2 collections
    concurrent.futures contextlib copy csv dataclasses datetime difflib email
    email.mime.multipart email.mime.text email.mime.base email.utils enum ftplib functools gzip
    hashlib hmac html html.parser http.client io ipaddress json json.decoder logging
    logging.handlers lzma math mimetypes multiprocessing.dummy operator os os.path pathlib queue
    quopri random re secrets shlex shutil signal smtplib socket ssl stat string struct
    subprocess sys tarfile tempfile threading time typing unicodedata unittest urllib
    urllib.parse urllib.request uuid xml.etree.ElementTree zipfile
    """.split()
)


def _warm_up() -> None:
    """Exercise the lazy imports that only happen on first use."""
    import jsonschema

    jsonschema.validate({"a": 1}, {"type": "object", "properties": {"a": {"type": "integer"}}})
    import boto3

    # Explicit keys: no credential lookup (which would try the instance metadata service).
    boto3.session.Session(aws_access_key_id="build", aws_secret_access_key="build", region_name="us-east-1").client(
        "sts"
    )
    from insightconnect_plugin_runtime.api import endpoints  # noqa: F401 (the app's modules)


def loaded_sources() -> set[Path]:
    """Source files of every module imported so far that was loaded from a ``.py`` file."""
    sources = set()
    for module in list(sys.modules.values()):
        origin = getattr(getattr(module, "__spec__", None), "origin", None)
        if origin and origin.endswith(".py") and os.path.isfile(origin):
            sources.add(Path(os.path.abspath(origin)))
    return sources


def runtime_sources() -> set[Path]:
    """Every module of the runtime itself: small, and partly imported only on demand."""
    import insightconnect_plugin_runtime

    return {
        Path(os.path.abspath(path))
        for folder in insightconnect_plugin_runtime.__path__
        for path in Path(folder).rglob("*.py")
    }


def prune_and_compile(roots: list[Path], hot: set[Path]) -> tuple[int, int]:
    """Compile the hot sources under ``roots``; delete every other bytecode file there."""
    compiled = removed = 0
    for root in roots:
        for cached in root.rglob("*.pyc"):
            cached.unlink()
            removed += 1
        for cache_dir in sorted(root.rglob("__pycache__"), reverse=True):
            if not any(cache_dir.iterdir()):
                cache_dir.rmdir()
    for source in sorted(hot):
        if any(source.is_relative_to(root) for root in roots):
            py_compile.compile(str(source), cfile=importlib.util.cache_from_source(str(source)), doraise=True)
            compiled += 1
    return compiled, removed


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: python hot_bytecode.py ROOT [ROOT ...]", file=sys.stderr)
        return 2
    roots = [Path(os.path.abspath(arg)) for arg in argv]
    for name in HOT_MODULES + PLUGIN_STDLIB_IMPORTS:
        importlib.import_module(name)
    _warm_up()
    hot = loaded_sources() | runtime_sources()
    compiled, removed = prune_and_compile(roots, hot)
    print(f"hot_bytecode: {compiled} modules compiled, {removed} bytecode files removed")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
