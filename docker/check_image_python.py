"""Run inside a built image (make image-test): the slimming kept everything that matters.

* Every module the runtime's start paths load comes from up-to-date bytecode (a stale or missing
  ``.pyc`` would be compiled again at every start, silently).
* botocore, with its slimmed data files, still builds, signs and parses real calls: S3, STS and
  EC2 against the moto server whose URL is the first argument (on 127.0.0.1).

    python check_image_python.py http://127.0.0.1:<moto port>
"""

from __future__ import annotations

import importlib
import os
import sys
from importlib.util import MAGIC_NUMBER

START_PATH = (
    "insightconnect_plugin_runtime.cli",
    "insightconnect_plugin_runtime.server",
    "insightconnect_plugin_runtime.api.endpoints",
    "insightconnect_plugin_runtime.helper",
    "insightconnect_plugin_runtime.clients.aws_client",
    "insightconnect_plugin_runtime.telemetry",
    "requests",
    "boto3",
)


def stale_bytecode() -> list[str]:
    """Modules loaded from source although bytecode should be there and current."""
    problems = []
    for name, module in sorted(sys.modules.items()):
        source = getattr(getattr(module, "__spec__", None), "origin", None)
        cached = getattr(module, "__cached__", None)
        if not (source and source.endswith(".py") and cached):
            continue
        try:
            with open(cached, "rb") as handle:
                header = handle.read(16)
        except OSError:
            problems.append(f"{name}: no bytecode")
            continue
        flags = int.from_bytes(header[4:8], "little")
        mtime = int.from_bytes(header[8:12], "little")
        size = int.from_bytes(header[12:16], "little")
        stat = os.stat(source)
        if header[:4] != MAGIC_NUMBER:
            problems.append(f"{name}: bytecode of another Python")
        elif flags == 0 and (mtime != int(stat.st_mtime) & 0xFFFFFFFF or size != stat.st_size & 0xFFFFFFFF):
            problems.append(f"{name}: bytecode older than its source")
    return problems


def aws_calls(endpoint: str) -> None:
    import boto3

    session = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    )
    s3 = session.client("s3", endpoint_url=endpoint)
    s3.create_bucket(Bucket="image-check")
    s3.put_object(Bucket="image-check", Key="a.txt", Body=b"hello")
    keys = [
        item["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket="image-check")
        for item in page.get("Contents", [])
    ]
    assert keys == ["a.txt"], keys
    assert s3.get_object(Bucket="image-check", Key="a.txt")["Body"].read() == b"hello"
    identity = session.client("sts", endpoint_url=endpoint).get_caller_identity()
    assert identity["Account"].isdigit(), identity
    ec2 = session.client("ec2", endpoint_url=endpoint)
    assert isinstance(ec2.describe_instances()["Reservations"], list)
    try:
        s3.head_bucket(Bucket="no-such-bucket")
    except s3.exceptions.ClientError as error:
        assert error.response["Error"]["Code"] == "404", error.response
    else:
        raise AssertionError("head_bucket of a missing bucket succeeded")


def main(argv: list[str]) -> int:
    for name in START_PATH:
        importlib.import_module(name)
    problems = stale_bytecode()
    for problem in problems:
        print("  bytecode:", problem)
    print(f"  bytecode: {len(sys.modules)} modules loaded, {len(problems)} without current bytecode")
    if argv:
        aws_calls(argv[0])
        print("  botocore: S3 (create, put, paginate, get, 404), STS, EC2 calls against moto: ok")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
