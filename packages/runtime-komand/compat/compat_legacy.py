#!/usr/bin/env python3
"""Run every public KOMAND-era plugin's code on icon-runtime: imports, ``info`` and ``sample``.

    python compat_legacy.py [--mirror GIT_DIR] [-j 2] [--workdir DIR] [--keep] [PLUGIN ...]

For every plugin of rapid7/insightconnect-plugins (the bare git dir in ``--mirror`` / ``ICP_MIRROR``)
whose code imports ``komand``:

1. export ``plugins/<name>`` at ``--rev`` into the work folder (``git archive``; blob by blob when
   the mirror lacks a large file), never touching the mirror;
2. give it a venv of its own: a copy of a template venv holding our wheels (core, helpers, komand,
   built once from this checkout) and their dependencies, then ``pip install -r requirements.txt``
   minus any ``komand`` / ``insightconnect-plugin-runtime`` line, bounded in time; a plugin whose
   requirements do not install on this Python is skipped, and the table says which requirement;
3. import every module of its package, run ``bin/<plugin> info`` and ``bin/<plugin> sample <step>``
   for every step ``info`` lists (network blocked: proxies and non-loopback connections refused);
4. print a table (imports / info / samples, or the first error and whose it is) and the totals.

Each error is attributed by the innermost traceback frame and the exception: ``ours`` (a frame in
``insightconnect_plugin_runtime`` or ``icon_runtime_komand``, or a ``komand`` name we do not
provide), ``py311`` (Python 2 syntax or a dependency that no longer works on this Python),
``plugin`` (the plugin's own code or an undeclared dependency). Everything happens under the work
folder (default: a fresh folder in /tmp, removed unless --keep); the pip cache is pip's own unless
``--pip-cache`` says otherwise, so a second run installs from it.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
#: Built from this checkout into every plugin venv; aws and tracing only where a plugin uses them.
BASE_PACKAGES = ("runtime-core", "runtime-helpers", "runtime-komand")
OPTIONAL_PACKAGES = {"runtime-aws": "aws_client", "runtime-tracing": "insightconnect_plugin_runtime.telemetry"}
RUNTIME_REQUIREMENT = re.compile(r"^\s*(insightconnect[-_.]plugin[-_.]runtime|komand)\s*([<>=!~;\[]|$)", re.I)
KOMAND_IMPORT = r"^\s*(from komand[ .]|import komand\b)"
OUR_PATHS = ("insightconnect_plugin_runtime/", "icon_runtime_komand/")
ANSI = re.compile(r"\x1b\[[0-9;]*m")
FRAME = re.compile(r'^\s*File "([^"]+)", line \d+')
_print_lock = threading.Lock()
#: Standard-library modules of Python 2 that Python 3 renamed or removed: importing one is Python 2 code.
PY2_STDLIB = frozenset(
    "urllib2 urlparse StringIO cStringIO ConfigParser HTMLParser httplib Queue cookielib commands exceptions "
    "__builtin__ cPickle SocketServer BaseHTTPServer SimpleHTTPServer md5 sha sets Tkinter xmlrpclib dummy_thread "
    "thread anydbm dbhash htmlentitydefs robotparser UserDict UserList UserString copy_reg repr".split()
)
#: What each attribution means in the summary.
CAUSES = {
    "ours": "ours: a frame in our code, or a komand name we do not provide",
    "py2": "plugin: Python 2 code (syntax or a Python 2 standard-library module)",
    "py311-dep": "plugin: a pinned dependency that no longer works on this Python",
    "undeclared": "plugin: imports a module neither requirements.txt nor its Dockerfile installs",
    "plugin": "plugin: its own code fails",
    "environment": "harness or machine",
}

#: Put on PYTHONPATH of every plugin process: refuses non-loopback connections and name lookups,
#: so nothing here depends on (or uses) the network.
OFFLINE_SITECUSTOMIZE = """
import socket
_LOCAL = ("127.", "::1", "localhost", "0.0.0.0")
_getaddrinfo, _connect = socket.getaddrinfo, socket.socket.connect
def _local(host):
    host = (host.decode() if isinstance(host, bytes) else str(host or "")).strip("[]").lower()
    return host == "" or host.startswith(_LOCAL)
def getaddrinfo(host, *args, **kwargs):
    if not _local(host):
        raise socket.gaierror(socket.EAI_NONAME, "compat-legacy: network blocked for %r" % (host,))
    return _getaddrinfo(host, *args, **kwargs)
def connect(self, address):
    if isinstance(address, tuple) and not _local(address[0]):
        raise ConnectionRefusedError("compat-legacy: network blocked for %r" % (address,))
    return _connect(self, address)
socket.getaddrinfo, socket.socket.connect = getaddrinfo, connect
"""

#: Run inside a plugin venv: import every module of the given package directories, report as JSON.
IMPORT_DRIVER = """
import importlib, json, os, sys, traceback
report_file, root, packages = sys.argv[1], sys.argv[2], sys.argv[3:]
sys.path.insert(0, root)
modules, failed = [], []
for package in packages:
    for directory, subdirs, files in os.walk(os.path.join(root, package)):
        subdirs[:] = sorted(d for d in subdirs if d != "__pycache__")
        relative = os.path.relpath(directory, root).replace(os.sep, ".")
        if not os.path.exists(os.path.join(directory, "__init__.py")):
            continue
        modules.append(relative)
        modules += [relative + "." + f[:-3] for f in sorted(files) if f.endswith(".py") and f != "__init__.py"]
for name in modules:
    try:
        importlib.import_module(name)
    except BaseException as error:
        failed.append({"module": name, "error": "%s: %s" % (type(error).__name__, error),
                       "type": type(error).__name__, "missing": getattr(error, "name", None),
                       "traceback": traceback.format_exc()[-4000:]})
with open(report_file, "w") as fh:
    json.dump({"modules": len(modules), "failed": failed}, fh)
"""


def log(message: str) -> None:
    with _print_lock:
        print(message, file=sys.stderr, flush=True)


def run(cmd: list[str], logfile: Path, timeout: float, **kwargs) -> tuple[int, str]:
    """Run ``cmd`` with low priority; append its output to ``logfile``; return (code, output)."""
    with logfile.open("a") as fh:
        fh.write(f"\n$ {' '.join(cmd)}\n")
    try:
        proc = subprocess.run(
            ["nice", "-n", "10", *cmd], capture_output=True, text=True, errors="replace", timeout=timeout, **kwargs
        )
        code, output = proc.returncode, proc.stdout + proc.stderr
    except subprocess.TimeoutExpired as expired:
        out = expired.stdout or b""
        code, output = 124, (out.decode(errors="replace") if isinstance(out, bytes) else out) + "\nTIMEOUT\n"
    with logfile.open("a") as fh:
        fh.write(output)
    return code, output


# --- attribution ----------------------------------------------------------------------------------


def frames_of(traceback_text: str) -> list[str]:
    return [m.group(1) for line in traceback_text.splitlines() if (m := FRAME.match(line))]


def last_line(text: str) -> str:
    lines = [line.strip() for line in ANSI.sub("", text).splitlines() if line.strip() and line.strip() != "TIMEOUT"]
    errors = [line for line in lines if re.match(r"^[A-Za-z_.]*(Error|Exception|Exit)\b", line)]
    return (errors or lines or [""])[-1][:160]


def attribute(traceback_text: str, plugin_root: Path, missing: str | None = None) -> str:
    """Whose problem the error in ``traceback_text`` is: a key of :data:`CAUSES`."""
    text = ANSI.sub("", traceback_text)
    frames = frames_of(text)
    innermost = frames[-1] if frames else ""
    final = last_line(text)
    if missing is None and (found := re.search(r"No module named '([^']+)'", final)):
        missing = found.group(1)
    if missing and (missing == "komand" or missing.startswith(("komand.", "insightconnect_plugin_runtime"))):
        return "ours"
    if re.search(r"module 'komand(\.[a-z_.]+)?' has no attribute", text):
        return "ours"
    if missing and missing.split(".")[0] in PY2_STDLIB:
        return "py2"
    in_dependency = "site-packages" in innermost or "/lib/python3" in innermost
    if final.startswith(("SyntaxError", "TabError", "IndentationError")):
        return "py311-dep" if in_dependency else "py2"
    if any(part in innermost for part in OUR_PATHS):
        return "ours"
    if re.match(r"ImportError: cannot import name .* from '[^']+' \(.*site-packages", final):
        return "py311-dep"  # a pinned dependency whose package does not work here (Python 2 relative imports)
    if final.startswith("ModuleNotFoundError") and not in_dependency:
        return "undeclared"
    if in_dependency:
        return "py311-dep"
    return "plugin" if frames else "ours"


def dockerfile_requirements(root: Path) -> list[str]:
    """Packages a plugin's Dockerfile installs (``pip install``, ``easy_install``) beside requirements.txt."""
    dockerfile = root / "Dockerfile"
    if not dockerfile.exists():
        return []
    found = []
    pattern = r"(?:pip3? install|easy_install) ([^&;\\\n]+)"
    for command in re.findall(pattern, dockerfile.read_text(errors="replace")):
        for word in command.split():
            if word.startswith("-") or word in (".", "requirements.txt"):
                continue
            if "*" in word:  # vendored wheels (vendor/*.whl): the files themselves
                found += [str(path) for path in sorted(root.glob(word))]
            elif "/" not in word or word.startswith("git+"):
                found.append(word)
    return found


# --- one plugin ------------------------------------------------------------------------------------


@dataclass
class Result:
    name: str
    status: str = "ok"  # ok | skipped | error
    requirements: str = ""
    modules: int = 0
    imports_ok: bool = False
    info_ok: bool = False
    steps: int = 0
    samples_ok: int = 0
    cause: str = ""  # ours | py311 | plugin | requirement | environment
    first_error: str = ""
    notes: list[str] = field(default_factory=list)
    seconds: int = 0

    @property
    def samples_all_ok(self) -> bool:
        return self.info_ok and self.samples_ok == self.steps

    def fail(self, cause: str, error: str) -> None:
        if not self.first_error:
            self.cause, self.first_error = cause, error


def export_plugin(mirror: str, rev: str, name: str, dest: Path) -> list[str]:
    """``plugins/<name>`` at ``rev`` into ``dest``; returns the paths the mirror has no blob for."""
    git = ["git", "--git-dir", mirror]
    dest.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run([*git, "archive", "--format=tar", rev, f"plugins/{name}"], capture_output=True)
    if archive.returncode == 0:
        subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)
        return []
    missing = []
    listing = subprocess.run([*git, "ls-tree", "-r", "-z", rev, f"plugins/{name}"], capture_output=True, check=True)
    for item in listing.stdout.split(b"\0"):
        if not item:
            continue
        meta, path = item.split(b"\t", 1)
        mode, kind, sha = meta.decode().split()
        if kind != "blob":
            continue
        blob = subprocess.run([*git, "cat-file", "blob", sha], capture_output=True)
        if blob.returncode != 0:
            missing.append(path.decode())
            continue
        target = dest / path.decode()
        target.parent.mkdir(parents=True, exist_ok=True)
        if mode == "120000":
            target.symlink_to(blob.stdout.decode())
        else:
            target.write_bytes(blob.stdout)
            if mode == "100755":
                target.chmod(0o755)
    return missing


def failed_requirement(pip_output: str) -> str:
    """The requirement pip could not install, as far as its output says."""
    for pattern in (
        r"(\S+\.whl) is not a supported wheel",
        r"No matching distribution found for (\S+)",
        r"Failed building wheel for (\S+)",
        r"Failed to build installable wheels for some pyproject\.toml based projects\s*╰─>\s*(\S+)",
        r"Could not build wheels for (\S+)",
        r"Getting requirements to build wheel did not run successfully.*?\n.*?(\S+)",
        r"Cannot install (.+?) because",
        r"metadata-generation-failed.*?for (\S+)",
    ):
        match = re.search(pattern, pip_output, re.S)
        if match:
            return match.group(1).strip(",.")
    for line in pip_output.splitlines():
        if re.search(r"git\+|ERROR", line):
            return line.strip()[:100]
    return last_line(pip_output)


class Harness:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.work = Path(args.workdir or tempfile.mkdtemp(prefix="icon-compat-legacy."))
        self.work.mkdir(parents=True, exist_ok=True)
        self.wheels: dict[str, Path] = {}
        self.env = dict(os.environ)
        for key in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP"):
            self.env.pop(key, None)
        self.env.update(PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1", MAKEFLAGS="-j1", MAX_JOBS="1")
        if args.pip_cache:
            self.env["PIP_CACHE_DIR"] = str(Path(args.pip_cache).resolve())
        self.offline = self.work / "offline"
        self.offline.mkdir(exist_ok=True)
        (self.offline / "sitecustomize.py").write_text(OFFLINE_SITECUSTOMIZE)
        (self.work / "import_driver.py").write_text(IMPORT_DRIVER)

    # -- preparation
    def build_wheels(self) -> None:
        out = self.work / "wheels"
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir()
        for package in (*BASE_PACKAGES, *OPTIONAL_PACKAGES):
            before = set(out.iterdir())
            subprocess.run(
                [sys.executable, "-m", "hatchling", "build", "-t", "wheel", "-d", str(out)],
                cwd=REPO / "packages" / package,
                check=True,
                capture_output=True,
            )
            (wheel,) = set(out.iterdir()) - before
            self.wheels[package] = wheel

    def prepare_template(self) -> None:
        """A venv with pip, our base wheels and their dependencies; every plugin venv starts as a copy."""
        self.template = self.work / "template"
        shutil.rmtree(self.template, ignore_errors=True)
        logfile = self.work / "template.log"
        code, out = run([self.args.python, "-m", "venv", str(self.template)], logfile, 300, env=self.env)
        python = str(self.template / "bin" / "python")
        if code == 0:
            wheels = [str(self.wheels[p]) for p in BASE_PACKAGES]
            code, out = run([python, "-m", "pip", "install", "-q", *wheels], logfile, 900, env=self.env)
        if code != 0:
            raise SystemExit(f"compat-legacy: cannot prepare the template venv:\n{out[-2000:]}")
        self.purelib_rel = subprocess.run(
            [python, "-c", "import sys, sysconfig; print(sysconfig.get_paths()['purelib'][len(sys.prefix) + 1:])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        self.python_version = subprocess.run(
            [python, "-c", "import platform; print(platform.python_version())"], capture_output=True, text=True
        ).stdout.strip()

    # -- one plugin
    def plugin_env(self, root: Path, venv: Path) -> dict[str, str]:
        env = dict(self.env)
        env.update(
            PYTHONPATH=os.pathsep.join([str(self.offline), str(root)]),
            PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}",
            HOME=str(root.parent / "home"),
            PYTHONDONTWRITEBYTECODE="1",
            TZ="UTC",
            ICON_RUNTIME_CACHE_DIR=str(root.parent / "cache") + "/",
            http_proxy="http://127.0.0.1:9",
            https_proxy="http://127.0.0.1:9",
            HTTP_PROXY="http://127.0.0.1:9",
            HTTPS_PROXY="http://127.0.0.1:9",
            NO_PROXY="localhost,127.0.0.1",
        )
        return env

    def check_plugin(self, name: str) -> Result:
        result = Result(name)
        started = time.time()
        pdir = self.work / "plugins" / name
        shutil.rmtree(pdir, ignore_errors=True)
        pdir.mkdir(parents=True)
        (pdir / "home").mkdir()
        logfile = pdir / "check.log"
        try:
            missing = export_plugin(self.args.mirror, self.args.rev, name, pdir / "src")
            if missing:
                result.notes.append(f"{len(missing)} file(s) missing in the mirror")
            root = pdir / "src" / "plugins" / name
            venv = pdir / "venv"
            python = str(venv / "bin" / "python")
            code, out = run([self.args.python, "-m", "venv", "--without-pip", str(venv)], logfile, 120)
            if code == 0:
                copy = ["cp", "-a", f"{self.template / self.purelib_rel}/.", str(venv / self.purelib_rel)]
                code, out = run(copy, logfile, 300)
            if code != 0:
                result.status = "error"
                result.fail("environment", last_line(out))
                return result
            if not self.install_requirements(result, root, python, logfile):
                return result
            self.install_optional(result, root, python, logfile)
            env = self.plugin_env(root, venv)
            self.check_imports(result, root, python, env, logfile)
            self.check_cli(result, root, python, env, logfile)
            if result.first_error:
                result.status = "error"
            return result
        except Exception as error:  # a harness problem: report it, keep going
            result.status = "error"
            result.fail("environment", f"harness: {error!r}"[:160])
            return result
        finally:
            result.seconds = round(time.time() - started)
            if not self.args.keep_venvs:
                shutil.rmtree(pdir / "venv", ignore_errors=True)

    def install_requirements(self, result: Result, root: Path, python: str, logfile: Path) -> bool:
        requirements_file = root / "requirements.txt"
        lines = []
        if requirements_file.exists():
            for line in requirements_file.read_text(errors="replace").splitlines():
                stripped = line.split(" #", 1)[0].strip()
                if stripped and not stripped.startswith("#") and not RUNTIME_REQUIREMENT.match(stripped):
                    lines.append(stripped)
        from_dockerfile = [r for r in dockerfile_requirements(root) if r not in lines]
        if from_dockerfile:
            result.notes.append(f"+Dockerfile: {' '.join(Path(r).name for r in from_dockerfile)}")
        lines += from_dockerfile
        result.requirements = ", ".join(lines)
        if not lines:
            return True
        filtered = root.parents[2] / "requirements.filtered.txt"  # the plugin's work folder
        filtered.write_text("\n".join(lines) + "\n")
        code, out = run(
            [python, "-m", "pip", "install", "--prefer-binary", "-r", str(filtered)],
            logfile,
            self.args.install_timeout,
            env=self.env,
        )
        if code != 0:
            result.status = "skipped"
            requirement = failed_requirement(out)
            why = "timed out" if code == 124 else "does not install on Python " + self.python_version
            git_lines = [line for line in lines if "git+" in line]
            if git_lines and ("git+" in requirement or "git clone" in out or "git" in requirement):
                requirement, why = git_lines[0], "is a git URL (this machine reaches only PyPI)"
            result.fail("requirement", f"{requirement} {why}")
            return False
        conflicts = sorted(set(re.findall(r"(icon-runtime-[a-z]+ [^ ]+ requires [^,]+, but you have [^\n]+)", out)))
        if conflicts:
            result.notes += [f"pins below icon-runtime: {c.strip()}" for c in conflicts]
        return True

    def install_optional(self, result: Result, root: Path, python: str, logfile: Path) -> None:
        sources = "\n".join(p.read_text(errors="replace") for p in root.rglob("*.py"))
        for package, marker in OPTIONAL_PACKAGES.items():
            if marker in sources:
                install = [python, "-m", "pip", "install", "-q", str(self.wheels[package])]
                code, out = run(install, logfile, 600, env=self.env)
                result.notes.append(f"+{package}" + ("" if code == 0 else f" (failed: {last_line(out)})"))

    def check_imports(self, result: Result, root: Path, python: str, env: dict[str, str], logfile: Path) -> None:
        skip = {"bin", "unit_test", "unit_tests", "tests", "test", "examples"}
        packages = sorted(
            d.name for d in root.iterdir() if d.is_dir() and d.name not in skip and (d / "__init__.py").exists()
        )
        report_file = root.parents[2] / "imports.json"  # stdout and stderr may carry the plugin's own noise
        code, out = run(
            [python, str(self.work / "import_driver.py"), str(report_file), str(root), *packages],
            logfile,
            self.args.step_timeout * 3,
            env=env,
            cwd=root,
        )
        try:
            report = json.loads(report_file.read_text())
        except (ValueError, OSError):
            result.fail(attribute(out, root), "imports: " + last_line(out))
            return
        result.modules = report["modules"]
        result.imports_ok = not report["failed"] and result.modules > 0
        if report["failed"]:
            first = report["failed"][0]
            cause = attribute(first["traceback"], root, first.get("missing"))
            result.fail(cause, f"import {first['module']}: {first['error'][:140]}")
        elif result.modules == 0:
            result.fail("plugin", "no package with an __init__.py found")

    def check_cli(self, result: Result, root: Path, python: str, env: dict[str, str], logfile: Path) -> None:
        bins = sorted(
            path
            for path in ((root / "bin").iterdir() if (root / "bin").is_dir() else ())
            if path.is_file() and not path.name.endswith((".py", ".pyc"))
        )
        if len(bins) != 1:
            result.fail("plugin", f"expected one bin script, found {len(bins)}")
            return
        entry = str(bins[0])
        code, out = run([python, entry, "info"], logfile, self.args.step_timeout, env=env, cwd=root)
        steps = re.findall(r"^└── (\S+) \(", ANSI.sub("", out), re.M)
        result.info_ok = code == 0 and bool(steps)
        if not result.info_ok:
            result.fail(attribute(out, root), "info: " + last_line(out))
            return
        result.steps = len(steps)
        for step in steps:
            code, out = run([python, entry, "sample", step], logfile, self.args.step_timeout, env=env, cwd=root)
            try:
                message = json.loads(out.strip().splitlines()[0]) if code == 0 else None
            except (ValueError, IndexError):
                message = None
            kind = (message or {}).get("type", "").removesuffix("_start")
            if message and kind in ("action", "trigger", "task") and message["body"].get(kind) == step:
                result.samples_ok += 1
            else:
                result.fail(attribute(out, root), f"sample {step}: {last_line(out)}")


# --- report ----------------------------------------------------------------------------------------


def report(results: list[Result], python_version: str, seconds: float) -> int:
    width = max([len(r.name) for r in results] + [6])
    header = f"{'plugin':{width}}  {'imports':>9}  {'info':>4}  {'samples':>7}  {'cause':<11} first error / note"
    print(header)
    print("-" * len(header))
    for r in results:
        if r.status == "skipped":
            imports, info, samples = "-", "-", "-"
        else:
            imports = f"ok {r.modules}" if r.imports_ok else f"FAIL {r.modules}"
            info = "ok" if r.info_ok else "FAIL"
            samples = f"{r.samples_ok}/{r.steps}" if r.info_ok else "-"
        cause = "skip" if r.status == "skipped" else (r.cause if r.first_error else "")
        detail = r.first_error or "; ".join(r.notes)
        print(f"{r.name:{width}}  {imports:>9}  {info:>4}  {samples:>7}  {cause:<11} {detail}")
        if r.first_error and r.notes:
            print(f"{'':{width}}  {'':>9}  {'':>4}  {'':>7}  {'':<11} note: {'; '.join(r.notes)}")
    print("-" * len(header))
    total = len(results)
    skipped = [r for r in results if r.status == "skipped"]
    print(
        f"TOTAL of {total} (Python {python_version}): imports ok {sum(r.imports_ok for r in results)}, "
        f"info ok {sum(r.info_ok for r in results)}, samples ok {sum(r.samples_all_ok for r in results)} "
        f"({sum(r.samples_ok for r in results)}/{sum(r.steps for r in results)} steps); "
        f"skipped {len(skipped)} (requirements do not install); {round(seconds)}s"
    )
    causes: dict[str, list[str]] = {}
    for r in results:
        if r.first_error and r.status != "skipped":
            causes.setdefault(r.cause, []).append(r.name)
    for cause, names in sorted(causes.items()):
        print(f"{cause:<11} {len(names):>3}  ({CAUSES.get(cause, cause)}): {' '.join(names)}")
    if skipped:
        names = " ".join(r.name for r in skipped)
        print(f"{'skip':<11} {len(skipped):>3}  (a requirement does not install here): {names}")
    return 1 if "ours" in causes else 0


def komand_plugins(mirror: str, rev: str) -> list[str]:
    out = subprocess.run(
        ["git", "--git-dir", mirror, "grep", "-l", "-E", KOMAND_IMPORT, rev, "--", "plugins"],
        capture_output=True,
        text=True,
    ).stdout
    return sorted({line.split(":", 1)[-1].split("/")[1] for line in out.splitlines() if "/" in line})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("plugins", nargs="*", help="plugin names (default: every plugin importing komand)")
    parser.add_argument("--mirror", default=os.environ.get("ICP_MIRROR", ""))
    parser.add_argument("--rev", default="HEAD")
    parser.add_argument("-j", "--jobs", type=int, default=1, choices=(1, 2))
    parser.add_argument("--python", default="python3.11", help="interpreter the plugin venvs use")
    parser.add_argument("--workdir", help="work folder (default: a fresh one under /tmp)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (sources, logs)")
    parser.add_argument("--keep-venvs", action="store_true", help="keep every plugin's venv too (large)")
    parser.add_argument("--pip-cache", help="PIP_CACHE_DIR (default: pip's own cache, kept between runs)")
    parser.add_argument("--install-timeout", type=int, default=420, help="seconds for one plugin's requirements")
    parser.add_argument("--step-timeout", type=int, default=60, help="seconds for one info / sample run")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    if not args.mirror or not Path(args.mirror).exists():
        parser.error("set ICP_MIRROR or --mirror to the git dir of rapid7/insightconnect-plugins")
    args.mirror = str(Path(args.mirror).resolve())
    names = args.plugins or komand_plugins(args.mirror, args.rev)
    harness = Harness(args)
    started = time.time()
    print(f"compat-legacy: {len(names)} plugins at {args.rev}; work folder {harness.work}; jobs {args.jobs}")
    harness.build_wheels()
    harness.prepare_template()
    print(f"our wheels: {', '.join(w.name for w in harness.wheels.values())}; Python {harness.python_version}")
    sys.stdout.flush()
    results: dict[str, Result] = {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
        futures = [pool.submit(harness.check_plugin, name) for name in names]
        for future in concurrent.futures.as_completed(futures):
            r = future.result()
            results[r.name] = r
            log(f"[{len(results)}/{len(names)}] {r.name}: {r.status} {r.cause} {r.first_error} ({r.seconds}s)")
    ordered = [results[name] for name in names]
    code = report(ordered, harness.python_version, time.time() - started)
    if args.json:
        Path(args.json).write_text(json.dumps([r.__dict__ for r in ordered], indent=1))
    if args.keep:
        print(f"work folder kept: {harness.work}")
    else:
        shutil.rmtree(harness.work, ignore_errors=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
