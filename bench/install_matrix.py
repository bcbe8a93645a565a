"""Install every distribution the way users do, with the pips they have, and check the result.

    python bench/install_matrix.py                 # the CI matrix, prints a table, exit 1 on a failure
    python bench/install_matrix.py --pythons 3.11 --installers pip-old --targets icon-runtime

For each Python found (3.11, 3.12, 3.13; pyenv's are used when ``PYENV_VERSION`` exposes them) and
each installer (the old pips that Python meets in the field, the newest pip, uv), every target
(the meta-package ``icon-runtime``, each distribution alone and each extra, read from
``packages/*/pyproject.toml``) goes into a fresh virtual environment from a local wheelhouse of this
checkout's wheels plus PyPI for third-party packages, then ``pip check`` (``uv pip check``) and an
import of ``insightconnect_plugin_runtime``. The ``offline`` rows install the meta-package with
``--no-index`` from a wheelhouse downloaded beforehand (what docker/wheelhouse.sh does for the
images), so a resolver only sees the files on disk.

Why these pips: on 3.11, 22.0 (Ubuntu 22.04's, the oldest that runs there), 23.0 (Debian 12's
python3-venv) and 23.2 (what ``python3.11 -m venv`` seeds from python.org builds). They differ: with
open OpenTelemetry ranges pip 22.0 backtracks its way to a solution and 23.2 gives up with
``ResolutionImpossible``, so the oldest alone is not the hardest. pip before 23.2 cannot run on 3.12
or 3.13 at all (it imports ``distutils``), so their oldest is 23.2.1, the pip Python 3.12.0 bundled.
The machine's pip configuration is ignored (``PIP_CONFIG_FILE`` is the null device) so extra
indexes or local wheels of the build machine cannot make a cell pass.

Bounded: every install has a time limit (``--timeout``), two cells run at once (CI has 2 cores), and
by default only the oldest pip and uv install every target; the other pips install the meta-package
and ``icon-runtime-tracing[otlp]`` (the resolver-heavy ones), the offline rows the meta-package,
which pulls in every distribution anyway (``--full``: every target with every installer).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TOOLS = REPO / ".venv-tools" / "bin"
PYTHONS = ("3.11", "3.12", "3.13")
# The pips each Python meets in the field and can run, oldest first (see the module docstring).
OLD_PIPS = {"3.11": ("22.0.4", "23.0.1", "23.2.1"), "3.12": ("23.2.1",), "3.13": ("23.2.1",)}
META = "icon-runtime"
OTLP = "icon-runtime-tracing[otlp]"


@dataclass(frozen=True)
class Cell:
    python: str
    installer: str  # "pip 22.0.4", "pip newest", "uv" or "offline pip 22.0.4"
    target: str


@dataclass
class Outcome:
    ok: bool
    seconds: float
    detail: str = ""


def clean_env() -> dict[str, str]:
    """The environment of every install: no machine pip configuration, the proxy's CA kept."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_")) and k != "VIRTUAL_ENV"}
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1")
    cert = os.environ.get("PIP_CERT") or os.environ.get("SSL_CERT_FILE")
    if cert:
        env["PIP_CERT"] = cert
        env["SSL_CERT_FILE"] = cert
    return env


ENV = clean_env()


def run(args: list[str | Path], timeout: float, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(a) for a in args], env=ENV, cwd=cwd, text=True, capture_output=True, timeout=timeout, check=False
    )


def targets() -> list[str]:
    """The meta-package, then each distribution alone, then each of its extras (the meta-package's
    extras, such as ``[testing]``, only name distributions that are targets of their own)."""
    found: list[str] = []
    for pyproject in sorted(REPO.glob("packages/*/pyproject.toml")):
        project = tomllib.loads(pyproject.read_text())["project"]
        if project["name"] == META:
            continue
        found.append(project["name"])
        found += [f"{project['name']}[{extra}]" for extra in project.get("optional-dependencies", {})]
    return [META, *found]


def interpreter(version: str) -> str | None:
    """``pythonX.Y`` if it runs here (a pyenv shim without that version exits non-zero)."""
    exe = shutil.which(f"python{version}")
    if exe and subprocess.run([exe, "-c", "pass"], capture_output=True).returncode == 0:
        return exe
    return None


def build_wheels(out: Path) -> None:
    shutil.rmtree(out, ignore_errors=True)
    for pyproject in sorted(REPO.glob("packages/*/pyproject.toml")):
        result = run([TOOLS / "hatch", "build", "-t", "wheel", out], timeout=300, cwd=pyproject.parent)
        if result.returncode:
            sys.exit(f"building {pyproject.parent.name} failed:\n{result.stderr[-2000:]}")


def fresh_venv(path: Path, python: str, pip: str | None, timeout: float) -> subprocess.CompletedProcess | None:
    """A new venv; with ``pip`` ("" = newest) seeded into it by uv (fast: uv's cache)."""
    shutil.rmtree(path, ignore_errors=True)
    result = run([TOOLS / "uv", "venv", "-q", "-p", python, path], timeout=timeout)
    if result.returncode or pip is None:
        return result if result.returncode else None
    spec = f"pip=={pip}" if pip else "pip"
    result = run([TOOLS / "uv", "pip", "install", "-q", "-p", path / "bin" / "python", spec], timeout=timeout)
    return result if result.returncode else None


def install_cell(cell: Cell, work: Path, ours: Path, wheelhouse: Path, timeout: float) -> Outcome:
    start = time.monotonic()
    venv = work / "venvs" / f"{cell.python}-{cell.installer}-{cell.target}".replace("[", "-").replace("]", "")
    python = venv / "bin" / "python"
    uses_uv = cell.installer.endswith("uv")
    version = cell.installer.rsplit(" ", 1)[-1]
    pip = None if uses_uv else ("" if version == "newest" else version)
    offline = cell.installer.startswith("offline")
    sources = ["--find-links", ours] + (["--no-index", "--find-links", wheelhouse / cell.python] if offline else [])
    steps: list[list[str | Path]] = []
    if uses_uv:
        steps.append([TOOLS / "uv", "pip", "install", "-q", "-p", python, *sources, cell.target])
        steps.append([TOOLS / "uv", "pip", "check", "-p", python])
    else:
        steps.append([python, "-m", "pip", "install", "-q", "--no-compile", *sources, cell.target])
        steps.append([python, "-m", "pip", "check"])
    steps.append([python, "-c", "import insightconnect_plugin_runtime"])
    try:
        failed = fresh_venv(venv, cell.python, pip, timeout)
        if failed is not None:
            return Outcome(False, time.monotonic() - start, "venv: " + last_line(failed))
        for step in steps:
            result = run(step, timeout=timeout)
            if result.returncode:
                return Outcome(False, time.monotonic() - start, f"{Path(str(step[2])).name}: {last_line(result)}")
    except subprocess.TimeoutExpired:
        return Outcome(False, time.monotonic() - start, f"timed out after {timeout:.0f} s")
    finally:
        shutil.rmtree(venv, ignore_errors=True)
    return Outcome(True, time.monotonic() - start)


def last_line(result: subprocess.CompletedProcess) -> str:
    lines = [
        line for line in (result.stderr + result.stdout).splitlines() if line.strip() and "Location 'file" not in line
    ]
    errors = [line for line in lines if "ERROR" in line or "error" in line]
    return (errors or lines or ["(no output)"])[-1].strip()[:300]


def download_wheelhouse(python: str, ours: Path, out: Path, wanted: list[str], timeout: float) -> str | None:
    """Every third-party wheel the targets need on ``python``, fetched by the newest pip."""
    shutil.rmtree(out, ignore_errors=True)
    venv = out.parent / f"download-{python}"
    failed = fresh_venv(venv, python, "", timeout)
    if failed is not None:
        return last_line(failed)
    result = run([venv / "bin" / "python", "-m", "pip", "download", "-q", "-d", out, "--find-links", ours, *wanted],
                 timeout=timeout)  # fmt: skip
    shutil.rmtree(venv, ignore_errors=True)
    return last_line(result) if result.returncode else None


def pip_versions() -> str:
    newest = run([sys.executable, "-m", "pip", "index", "versions", "pip"], timeout=60).stdout.split("\n")[0]
    uv = run([TOOLS / "uv", "--version"], timeout=30).stdout.strip()
    return f"old pips per Python {OLD_PIPS}; newest {newest or 'pip (from PyPI)'}; {uv}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pythons", nargs="*", default=list(PYTHONS))
    parser.add_argument("--installers", nargs="*", default=["pip-old", "pip-newest", "uv", "offline-pip-oldest"])
    parser.add_argument("--targets", nargs="*", default=None, help="default: meta-package, each distribution, extra")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "icon-install-matrix")
    parser.add_argument("--timeout", type=float, default=300, help="seconds per install step")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument(
        "--full",
        action="store_true",
        help="every target with every installer (default: the "
        "oldest pip and uv install every target, the newest pip and offline the meta-package)",
    )
    args = parser.parse_args()
    work: Path = args.work
    work.mkdir(parents=True, exist_ok=True)
    wanted = args.targets or targets()

    pythons = {version: exe for version in args.pythons if (exe := interpreter(version))}
    for version in sorted(set(args.pythons) - set(pythons)):
        print(f"python{version}: not found, skipped")
    if not pythons:
        print("no Python of the matrix found")
        return 1

    ours = work / "ours"
    build_wheels(ours)
    print(f"built: {', '.join(sorted(p.name for p in ours.glob('*.whl')))}")
    print(pip_versions())

    cells: list[Cell] = []
    setup_failures: dict[str, str] = {}
    for version in pythons:
        rows: list[tuple[str, list[str]]] = []  # (installer, its targets)
        for choice in args.installers:
            if choice == "pip-old":  # the oldest installs everything, the later old ones the resolver-heavy two
                oldest, *later = OLD_PIPS[version]
                rows.append((f"pip {oldest}", wanted))
                rows += [(f"pip {pip}", wanted if args.full else [t for t in wanted if t in (META, OTLP)])
                         for pip in later]  # fmt: skip
            elif choice == "pip-newest":
                rows.append(("pip newest", wanted if args.full else [t for t in wanted if t in (META, OTLP)]))
            elif choice == "uv":
                rows.append(("uv", wanted))
            elif choice == "offline-pip-oldest":
                rows.append((f"offline pip {OLD_PIPS[version][0]}", wanted if args.full else [META]))
            else:
                sys.exit(f"unknown installer {choice!r}: pip-old, pip-newest, uv, offline-pip-oldest")
        for installer, row_targets in rows:
            offline = installer.startswith("offline")
            if offline and version not in setup_failures and not (work / "wheelhouse" / version).exists():
                error = download_wheelhouse(version, ours, work / "wheelhouse" / version, wanted, args.timeout)
                if error:
                    setup_failures[version] = error
            cells += [Cell(version, installer, target) for target in row_targets]

    started = time.monotonic()
    results: dict[Cell, Outcome] = {}
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        futures = {}
        for cell in cells:
            if cell.installer.startswith("offline") and cell.python in setup_failures:
                results[cell] = Outcome(False, 0.0, "wheelhouse download: " + setup_failures[cell.python])
            else:
                futures[cell] = pool.submit(install_cell, cell, work, ours, work / "wheelhouse", args.timeout)
        results.update({cell: future.result() for cell, future in futures.items()})
    shutil.rmtree(work / "wheelhouse", ignore_errors=True)

    print_table(results, wanted)
    failures = [(cell, outcome) for cell, outcome in results.items() if not outcome.ok]
    for cell, outcome in failures:
        print(f"FAIL python{cell.python} {cell.installer} {cell.target}: {outcome.detail}")
    print(f"{len(results) - len(failures)}/{len(results)} installs passed in {time.monotonic() - started:.0f} s")
    return 1 if failures else 0


def short(target: str) -> str:
    return "meta" if target == META else target.removeprefix("icon-runtime-")


def print_table(results: dict[Cell, Outcome], wanted: list[str]) -> None:
    rows = sorted({(cell.python, cell.installer) for cell in results})
    columns = [t for t in wanted if any(cell.target == t for cell in results)]
    width = max(9, *(len(short(t)) for t in columns))
    print()
    print("Install matrix (ok = install + pip check + import succeeded; wall seconds):")
    print(f"{'python installer':27}" + "".join(f" {short(t):>{width}}" for t in columns))
    for python, installer in rows:
        line = f"{python + ' ' + installer:27}"
        for target in columns:
            outcome = results.get(Cell(python, installer, target))
            text = "-" if outcome is None else f"{'ok' if outcome.ok else 'FAIL'} {outcome.seconds:.0f}s"
            line += f" {text:>{width}}"
        print(line)
    print()


if __name__ == "__main__":
    sys.exit(main())
