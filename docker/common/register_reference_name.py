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

import sys
import sysconfig
from importlib.metadata import version
from pathlib import Path

import wheel_record

#: The reference release whose behaviour the runtime implements (docs: runtime-contract.md).
REFERENCE_VERSION = "6.6.1"
NAME = "insightconnect-plugin-runtime"


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
    rows = [
        wheel_record.entry(f"{dist_info.name}/{name}", (dist_info / name).read_bytes())
        for name in ("METADATA", "INSTALLER")
    ]
    rows.append([f"{dist_info.name}/RECORD", "", ""])
    (dist_info / "RECORD").write_text(wheel_record.render(rows), encoding="utf-8")
    return dist_info


def main() -> int:
    site_packages = Path(sysconfig.get_paths()["purelib"])
    dist_info = register(site_packages)
    print(f"register_reference_name: {dist_info.name} (no files; provided by icon-runtime-core)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
