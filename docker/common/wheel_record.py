"""A distribution's RECORD (PEP 376/627): the one format every image script rewrites.

Scripts that change installed or packed files (``slim_botocore_data``, ``strip_wheels``,
``register_reference_name``) keep RECORD true to the files, so pip can still uninstall or replace
the distribution later. They import this module from the folder they run from.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io


def entry(name: str, data: bytes) -> list[str]:
    """The RECORD row for a file ``name`` holding ``data``."""
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return [name, f"sha256={digest}", str(len(data))]


def parse(text: str) -> list[list[str]]:
    return [row for row in csv.reader(io.StringIO(text)) if row]


def render(rows: list[list[str]]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue()
