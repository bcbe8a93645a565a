"""Shrink botocore's data files without changing what any AWS call does; update its RECORD.

botocore is the largest thing in the images (about 21 MB of its 25 are data files). Two changes:

* Service models (``service-2.json.gz``) lose the ``documentation`` and ``documentationUrl``
  strings of the service, its operations, shapes and members: 15.4 MB -> about 4 MB. botocore
  reads those only to build docstrings (``help(client.x)``) and falls back to an empty string
  where one is missing (``ServiceModel``/``OperationModel``/``Shape.documentation``); requests,
  responses, validation, pagination, waiters and errors never look at them. (Entries botocore
  indexes directly, such as ``clientContextParams``, keep theirs.)
* The remaining plain ``.json`` files (paginators, waiters, examples, ``endpoints.json``: 4 MB)
  are stored as ``.json.gz``, which botocore's loader reads like ``.json`` (0.5 MB).

The distribution's RECORD is rewritten with the new names, hashes and sizes, so ``pip uninstall``
or ``pip install botocore==...`` in a plugin image still removes every file, and a plugin that
wants the documentation back reinstalls botocore (``pip install --force-reinstall botocore==<v>``).

    python slim_botocore_data.py
"""

from __future__ import annotations

import gzip
import json
import sys
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

import wheel_record

#: Keys whose string values are prose for docstrings and nothing else.
DOCUMENTATION_KEYS = ("documentation", "documentationUrl")


def _drop_prose(definition: object) -> None:
    if isinstance(definition, dict):
        for key in DOCUMENTATION_KEYS:
            if isinstance(definition.get(key), str):
                del definition[key]


def without_documentation(model: dict) -> dict:
    """``model`` without the documentation of the service, its operations, shapes and members.

    Only those places: botocore reads each of them with a default (``.get('documentation', '')``).
    Other entries that carry a ``documentation`` (``clientContextParams``) are indexed directly by
    botocore and stay as they are."""
    _drop_prose(model)
    for operation in (model.get("operations") or {}).values():
        _drop_prose(operation)
    for shape in (model.get("shapes") or {}).values():
        _drop_prose(shape)
        if isinstance(shape, dict):
            for member in (shape.get("members") or {}).values():
                _drop_prose(member)
    return model


def _slimmed(name: str, raw: bytes) -> tuple[str, bytes] | None:
    """The new RECORD name and content for a data file, or None to leave it alone."""
    if name.endswith("/service-2.json.gz"):
        model = json.loads(gzip.decompress(raw))
        text = json.dumps(without_documentation(model), separators=(",", ":"), ensure_ascii=False)
        return name, gzip.compress(text.encode(), compresslevel=9, mtime=0)
    if name.endswith(".json"):
        return name + ".gz", gzip.compress(raw, compresslevel=9, mtime=0)
    return None


def slim(site_packages: Path, record_path: Path) -> tuple[int, int, int]:
    """Rewrite botocore's data files listed in RECORD; return (files, bytes before, bytes after)."""
    rows = wheel_record.parse(record_path.read_text(encoding="utf-8"))
    files = before = after = 0
    for row in rows:
        name = row[0]
        if not name.startswith("botocore/data/"):
            continue
        source = site_packages / name
        raw = source.read_bytes()
        result = _slimmed(name, raw)
        if result is None:
            continue
        new_name, content = result
        target = site_packages / new_name
        if new_name != name:
            if target.exists():
                raise SystemExit(f"slim_botocore_data: {target} already exists beside {source}")
            source.unlink()
        target.write_bytes(content)
        row[:] = wheel_record.entry(new_name, content)
        files += 1
        before += len(raw)
        after += len(content)
    record_path.write_text(wheel_record.render(rows), encoding="utf-8")
    return files, before, after


def check_loader() -> None:
    """The loader still finds each kind of file, and a client still builds its requests."""
    import botocore.session

    session = botocore.session.get_session()
    loader = session.get_component("data_loader")
    loader.load_data("endpoints")
    loader.load_service_model("sts", "paginators-1")
    loader.load_service_model("ec2", "waiters-2")
    client = session.create_client("s3", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y")
    if not client.meta.service_model.operation_model("ListObjectsV2").input_shape.members:
        raise SystemExit("slim_botocore_data: the S3 model lost its shapes")


def main() -> int:
    try:
        dist = distribution("botocore")
    except PackageNotFoundError:
        print("slim_botocore_data: botocore is not installed; nothing to do")
        return 0
    record = next((f for f in dist.files or () if f.name == "RECORD"), None)
    if record is None:
        raise SystemExit("slim_botocore_data: botocore has no RECORD")
    site_packages = Path(dist.locate_file(""))
    files, before, after = slim(site_packages, Path(dist.locate_file(record)))
    print(f"slim_botocore_data: {files} files, {before / 1e6:.1f} MB -> {after / 1e6:.1f} MB")
    check_loader()
    return 0


if __name__ == "__main__":
    sys.exit(main())
