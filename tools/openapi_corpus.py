"""Build our OpenAPI document for every public plugin and validate each with openapi-spec-validator.

    ICP_MIRROR=/path/to/insightconnect-plugins.git make openapi-corpus
    python tools/openapi_corpus.py --mirror DIR [--rev HEAD] [--only NAME ...] [-v]

Needs icon-runtime-http and openapi-spec-validator importable (``make openapi-corpus`` runs it in
hatch's ``http`` environment). No plugin code is imported or run: the schemas a plugin object
would carry are the JSON literals of its generated ``schema.py`` files (``schema = json.loads(...)``
in the ``Input``/``Output``/``State`` classes of every action, trigger, task and the connection),
read with ``git cat-file`` from the mirror and parsed with ``ast``. They are put on a plain object
shaped like a plugin and given to the same :func:`build_openapi` the server uses.

Each document is validated twice: as built, and with the set-aside of invalid defaults/examples
switched off, so the output shows what that set-aside fixes. Exit status 1 if any document as built
is invalid.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import subprocess
import sys
import time
from collections import defaultdict
from types import SimpleNamespace
from typing import Any

from insightconnect_plugin_runtime.api import _openapi

KINDS = {"actions": "actions", "triggers": "triggers", "tasks": "tasks"}
ROLES = {"Input": "input", "Output": "output", "State": "state"}


def git(mirror: str, *args: str, data: bytes | None = None) -> bytes:
    return subprocess.run(["git", f"--git-dir={mirror}", *args], input=data, capture_output=True, check=True).stdout


def schema_files(mirror: str, rev: str) -> dict[str, list[str]]:
    """plugin name -> paths of its generated schema.py files (steps and connection)."""
    found: dict[str, list[str]] = defaultdict(list)
    for path in git(mirror, "ls-tree", "-r", "--name-only", rev, "plugins/").decode().splitlines():
        parts = path.split("/")
        # plugins/<plugin>/<package>/<kind>/<step>/schema.py or plugins/<plugin>/<package>/connection/schema.py
        if parts[-1] != "schema.py" or len(parts) not in (5, 6):
            continue
        if (len(parts) == 6 and parts[3] in KINDS) or (len(parts) == 5 and parts[3] == "connection"):
            found[parts[1]].append(path)
    return found


def read_blobs(mirror: str, rev: str, paths: list[str]) -> dict[str, str]:
    """Contents of many files in one ``git cat-file --batch`` call."""
    out = git(mirror, "cat-file", "--batch", data="".join(f"{rev}:{p}\n" for p in paths).encode())
    blobs, offset = {}, 0
    for path in paths:
        header_end = out.index(b"\n", offset)
        header = out[offset:header_end].split()
        if header[-1] == b"missing":
            offset = header_end + 1
            continue
        size = int(header[2])
        blobs[path] = out[header_end + 1 : header_end + 1 + size].decode("utf-8", errors="replace")
        offset = header_end + 1 + size + 1
    return blobs


def schemas_in(source: str) -> dict[str, dict[str, Any]]:
    """role ("input", "output", "state") -> the JSON schema literal of that class in a schema.py."""
    found: dict[str, dict[str, Any]] = {}
    for node in ast.parse(source).body:
        if not isinstance(node, ast.ClassDef) or not node.bases:
            continue
        base = node.bases[0]
        base_name = base.attr if isinstance(base, ast.Attribute) else getattr(base, "id", "")
        role = ROLES.get(base_name)
        if role is None:
            continue
        for statement in node.body:
            if (
                isinstance(statement, ast.Assign)
                and any(isinstance(t, ast.Name) and t.id == "schema" for t in statement.targets)
                and isinstance(statement.value, ast.Call)
                and statement.value.args
                and isinstance(statement.value.args[0], ast.Constant)
                and isinstance(statement.value.args[0].value, str)
            ):
                found[role] = json.loads(statement.value.args[0].value)
    return found


def plugin_object(name: str, blobs: dict[str, str]) -> SimpleNamespace:
    """An object with what build_openapi reads from a plugin: registries of steps and a connection."""
    plugin = SimpleNamespace(
        name=name,
        vendor="rapid7",
        version="0.0.0",
        description=name,
        connection=SimpleNamespace(schema=None),
        actions={},
        triggers={},
        tasks={},
    )
    for path, source in sorted(blobs.items()):
        parts = path.split("/")
        schemas = schemas_in(source)
        if parts[3] == "connection":
            plugin.connection.schema = schemas.get("input")
            continue
        step = SimpleNamespace(
            input=SimpleNamespace(schema=schemas.get("input")),
            output=SimpleNamespace(schema=schemas.get("output")),
            state=SimpleNamespace(schema=schemas.get("state")),
            description="",
        )
        getattr(plugin, KINDS[parts[3]])[parts[4]] = step
    return plugin


def first_error(document: dict[str, Any]) -> str | None:
    from openapi_spec_validator import validate

    try:
        validate(document)
    except Exception as error:  # noqa: BLE001 - any failure is the finding
        return f"{type(error).__name__}: {str(error).splitlines()[0][:200]}"
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mirror", default=os.environ.get("ICP_MIRROR", ""))
    parser.add_argument("--rev", default="HEAD")
    parser.add_argument("--only", nargs="*")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args()
    if not args.mirror:
        print("set ICP_MIRROR (or --mirror) to the git directory of rapid7/insightconnect-plugins")
        return 2
    started = time.monotonic()
    files = schema_files(args.mirror, args.rev)
    names = sorted(args.only or files)
    blobs = read_blobs(args.mirror, args.rev, [p for n in names for p in files.get(n, [])])
    unreadable, valid, invalid, fixed, set_aside_values = [], 0, [], [], 0
    set_aside = _openapi._set_aside_invalid_values
    for name in names:
        try:
            plugin = plugin_object(name, {p: blobs[p] for p in files.get(name, []) if p in blobs})
        except (SyntaxError, ValueError) as error:
            unreadable.append((name, f"{type(error).__name__}: {error}"))
            continue
        document, moved = _openapi._build(plugin, include_admin=True, include_admin_status=False)
        error = first_error(document)
        set_aside_values += len(moved)
        _openapi._set_aside_invalid_values = lambda schemas: []
        try:
            naive_error = first_error(_openapi.build_openapi(plugin, True, False))
        finally:
            _openapi._set_aside_invalid_values = set_aside
        if error:
            invalid.append((name, error))
        else:
            valid += 1
        if naive_error and not error:
            fixed.append((name, naive_error, moved))
        if args.verbose:
            print(f"{name:40} {'ok' if not error else 'INVALID'} {len(moved)} value(s) set aside")
    for name, problem in unreadable:
        print(f"UNREADABLE {name}: {problem}")
    for name, problem in invalid:
        print(f"INVALID {name}: {problem}")
    for name, naive_error, moved in fixed:
        print(f"valid only with set-aside {name}: {naive_error}")
        for line in moved:
            print(f"    {line}")
    total = len(names)
    print(
        f"OpenAPI corpus ({args.rev}): {total} plugins, {valid} valid, {len(invalid)} invalid, "
        f"{len(unreadable)} unreadable; without the set-aside {len(fixed)} more would be invalid; "
        f"{set_aside_values} default/example value(s) set aside; {time.monotonic() - started:.0f} s"
    )
    return 1 if invalid or unreadable else 0


if __name__ == "__main__":
    sys.exit(main())
