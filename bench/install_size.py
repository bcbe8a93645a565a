"""Installed size of icon-runtime against the reference runtime, each in a fresh virtual environment.

    python bench/install_size.py            # builds this checkout's wheels, installs, prints a table

Sets: core alone, core + helpers, the full set (meta-package ``icon-runtime``) and the reference
``insightconnect-plugin-runtime==6.6.1``. The figure is the bytes under site-packages minus those of
an empty venv (so pip itself is not counted), ``__pycache__`` included as installed. The reference
goes into its own venv under the work folder, never into the repository's environments; if its
exact pins do not resolve it is installed ``--no-deps`` with its dependencies unpinned (said so in
the output). Installs use uv (hatch's) for speed; each venv is created fresh.
"""

from __future__ import annotations

import argparse
import email
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TOOLS = REPO / ".venv-tools" / "bin"
REFERENCE = "insightconnect-plugin-runtime==6.6.1"


def run(*args: str | Path, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in args], check=True, text=True, capture_output=True, **kwargs)


def site_bytes(venv: Path) -> int:
    (site,) = venv.glob("lib/python3*/site-packages")
    total = 0
    for root, _dirs, files in os.walk(site):
        for name in files:
            path = os.path.join(root, name)
            if not os.path.islink(path):
                total += os.path.getsize(path)
    return total


def fresh_venv(path: Path, python: str) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    run(python, "-m", "venv", "--without-pip", path)
    return path


def install(venv: Path, *requirements: str | Path, find_links: Path | None = None, no_deps=False) -> None:
    args = [TOOLS / "uv", "pip", "install", "-q", "--python", venv / "bin" / "python", "--compile-bytecode"]
    if find_links:
        args += ["--find-links", find_links]
    if no_deps:
        args.append("--no-deps")
    run(*args, *requirements)


def build_wheels(out: Path) -> None:
    run(TOOLS / "hatch", "build", "--all", "-t", "wheel", out, cwd=REPO)
    run(TOOLS / "hatch", "build", "-t", "wheel", out, cwd=REPO / "packages" / "runtime")


def reference_unpinned(work: Path) -> list[str]:
    """The reference's dependencies without their version pins (read from its wheel)."""
    dl = work / "refwheel"
    run(sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:", "-d", dl, REFERENCE)
    (wheel,) = dl.glob("*.whl")
    with zipfile.ZipFile(wheel) as zf:
        meta_name = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        meta = email.message_from_bytes(zf.read(meta_name))
    deps = []
    for requirement in meta.get_all("Requires-Dist") or []:
        if "extra ==" in requirement:
            continue
        deps.append(re.split(r"[ ;<>=!~\[(]", requirement.strip(), maxsplit=1)[0])
    return [str(wheel), *deps]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", default="python3.11", help="interpreter of the venvs (default python3.11)")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "icon-install-size")
    parser.add_argument("--skip-reference", action="store_true")
    args = parser.parse_args()
    work: Path = args.work
    work.mkdir(parents=True, exist_ok=True)
    dist = work / "dist"
    shutil.rmtree(dist, ignore_errors=True)
    build_wheels(dist)

    empty = site_bytes(fresh_venv(work / "empty", args.python))
    sets = {
        "icon-runtime-core": ["icon-runtime-core"],
        "icon-runtime-core + icon-runtime-helpers": ["icon-runtime-core", "icon-runtime-helpers"],
        "icon-runtime (meta: all five, tracing[otlp])": ["icon-runtime"],
    }
    rows: list[tuple[str, int, str]] = []
    for label, requirements in sets.items():
        venv = fresh_venv(work / re.sub(r"\W+", "-", label).strip("-"), args.python)
        install(venv, *requirements, find_links=dist)
        rows.append((label, site_bytes(venv) - empty, ""))
    if not args.skip_reference:
        venv = fresh_venv(work / "reference", args.python)
        note = "exact pins"
        try:
            install(venv, REFERENCE)
        except subprocess.CalledProcessError:
            venv = fresh_venv(work / "reference", args.python)
            wheel, *deps = reference_unpinned(work)
            install(venv, wheel, no_deps=True)
            install(venv, *deps)
            note = "--no-deps + unpinned deps (its pins do not resolve)"
        rows.append((REFERENCE, site_bytes(venv) - empty, note))

    ref = rows[-1][1] if not args.skip_reference else None
    print(f"Installed size in fresh venvs ({args.python}, site-packages minus an empty venv, with .pyc):")
    print(f"{'set':48} {'MB':>8} {'of ref':>8}  note")
    for label, size, note in rows:
        share = f"{size / ref:8.1%}" if ref else f"{'-':>8}"
        print(f"{label:48} {size / 1e6:8.1f} {share}  {note}")
    if ref:
        core = rows[0][1]
        verdict = "meets" if core * 5 <= ref else "MISSES"
        print(f"core alone is 1/{ref / core:.1f} of the reference: {verdict} the <= 1/5 target")
    return 0


if __name__ == "__main__":
    sys.exit(main())
