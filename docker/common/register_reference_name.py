"""Register the distribution names ``insightconnect-plugin-runtime`` and ``komand`` in the image, with no files.

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

The KOMAND-era plugins (86 public ones) declare ``install_requires=['komand']`` instead; their
``komand`` import package comes from ``icon-runtime-komand``. The name ``komand`` is registered the
same way (at ``KOMAND_VERSION``, the last KOMAND SDK release), but only when ``icon-runtime-komand``
is installed and no ``komand`` distribution is: a real KOMAND SDK in the image is left alone, and it
is the one Python imports (icon-runtime-komand never shadows it).

    python register_reference_name.py
"""

from __future__ import annotations

import sys
import sysconfig
from importlib.metadata import Distribution, PackageNotFoundError, version
from pathlib import Path

import wheel_record

#: The reference release whose behaviour the runtime implements (docs: runtime-contract.md).
REFERENCE_VERSION = "6.6.1"
NAME = "insightconnect-plugin-runtime"
#: The last release of the KOMAND SDK (distribution ``komand``), whose API icon-runtime-komand serves.
KOMAND_VERSION = "3.4.0"
KOMAND_NAME = "komand"
KOMAND_PROVIDER = "icon-runtime-komand"


def register(site_packages: Path) -> Path:
    """Write the reference's ``.dist-info`` into ``site_packages`` and return its path."""
    return _register_name(site_packages, NAME, REFERENCE_VERSION, "icon-runtime-core")


def register_komand(site_packages: Path) -> Path | None:
    """Register ``komand`` as provided by icon-runtime-komand; ``None`` when that is not for us to do.

    Nothing is written when icon-runtime-komand is not installed (nothing would provide the import
    package) or when a ``komand`` distribution is already installed in ``site_packages`` or anywhere
    on ``sys.path`` (a real KOMAND SDK keeps its name and its files).
    """
    try:
        version(KOMAND_PROVIDER)
    except PackageNotFoundError:
        return None
    search = [str(site_packages), *sys.path]
    if any(True for _ in Distribution.discover(name=KOMAND_NAME, path=search)):
        return None
    return _register_name(site_packages, KOMAND_NAME, KOMAND_VERSION, KOMAND_PROVIDER)


def _register_name(site_packages: Path, name: str, registered_version: str, provider: str) -> Path:
    """Write a ``.dist-info`` for ``name`` that lists only its own files and requires ``provider``."""
    provided_by = version(provider)
    dist_info = site_packages / f"{name.replace('-', '_')}-{registered_version}.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(
        "Metadata-Version: 2.1\n"
        f"Name: {name}\n"
        f"Version: {registered_version}\n"
        f"Summary: Provided by {provider} {provided_by} in this image (no files of its own)\n"
        f"Requires-Dist: {provider}=={provided_by}\n",
        encoding="utf-8",
    )
    (dist_info / "INSTALLER").write_text("icon-runtime image\n", encoding="utf-8")
    rows = [
        wheel_record.entry(f"{dist_info.name}/{member}", (dist_info / member).read_bytes())
        for member in ("METADATA", "INSTALLER")
    ]
    rows.append([f"{dist_info.name}/RECORD", "", ""])
    (dist_info / "RECORD").write_text(wheel_record.render(rows), encoding="utf-8")
    return dist_info


def main() -> int:
    site_packages = Path(sysconfig.get_paths()["purelib"])
    dist_info = register(site_packages)
    print(f"register_reference_name: {dist_info.name} (no files; provided by icon-runtime-core)")
    komand = register_komand(site_packages)
    if komand is not None:
        print(f"register_reference_name: {komand.name} (no files; provided by {KOMAND_PROVIDER})")
    else:
        print(f"register_reference_name: {KOMAND_NAME} left alone (already installed, or no {KOMAND_PROVIDER} here)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
