"""Register the distribution name ``insightconnect-plugin-runtime`` in the image, with no files.

Public plugins declare ``install_requires=["insightconnect-plugin-runtime"]`` in their generated
``setup.py`` (169 of them), and their Dockerfiles run ``pip install .`` or ``python setup.py
install``. The reference images satisfy that with the reference runtime itself. In an icon-runtime
image the import package comes from ``icon-runtime-core`` and its siblings, so without this entry
pip would download the reference runtime from PyPI and install it over ours: same import package,
other code, and all of its dependencies.

This writes a ``.dist-info`` for that name at the reference version the runtime is compatible with
(``REFERENCE_VERSION``), listing only its own files: it satisfies the unversioned requirement (and
``==6.6.1``), pip never downloads the reference, and ``pip uninstall insightconnect-plugin-runtime``
removes the entry and nothing of icon-runtime. A plugin that pins another reference version still
gets it, as it asked.

    python register_reference_name.py
"""

from __future__ import annotations

import base64
import hashlib
import sys
import sysconfig
from importlib.metadata import version
from pathlib import Path

#: The reference release whose behaviour the runtime implements (docs: runtime-contract.md).
REFERENCE_VERSION = "6.6.1"
NAME = "insightconnect-plugin-runtime"


def _record_line(path: Path, root: Path) -> str:
    data = path.read_bytes()
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{path.relative_to(root).as_posix()},sha256={digest},{len(data)}"


def register(site_packages: Path) -> Path:
    """Write the ``.dist-info`` into ``site_packages`` and return its path."""
    core = version("icon-runtime-core")
    dist_info = site_packages / f"insightconnect_plugin_runtime-{REFERENCE_VERSION}.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(
        "Metadata-Version: 2.1\n"
        f"Name: {NAME}\n"
        f"Version: {REFERENCE_VERSION}\n"
        f"Summary: Provided by icon-runtime-core {core} in this image (no files of its own)\n"
        f"Requires-Dist: icon-runtime-core=={core}\n",
        encoding="utf-8",
    )
    (dist_info / "INSTALLER").write_text("icon-runtime image\n", encoding="utf-8")
    files = [dist_info / "METADATA", dist_info / "INSTALLER"]
    lines = [_record_line(path, site_packages) for path in files]
    lines.append(f"{(dist_info / 'RECORD').relative_to(site_packages).as_posix()},,")
    (dist_info / "RECORD").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return dist_info


def main() -> int:
    site_packages = Path(sysconfig.get_paths()["purelib"])
    dist_info = register(site_packages)
    print(f"register_reference_name: {dist_info.name} (no files; provided by icon-runtime-core)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
