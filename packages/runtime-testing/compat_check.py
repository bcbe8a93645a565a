#!/usr/bin/env python3
"""``make compat-check``: run ``bin/<plugin> check`` over the public plugins of the open compatibility
list, unchanged, and print one table of every finding.

Needs ``ICP_MIRROR`` (the git dir of rapid7/insightconnect-plugins). The shared compatibility harness
(``../shared/compat``) exports each plugin at its listed commit and builds its venv with our
distributions (core, helpers, aws, tracing, testing) and the plugin's requirements; it also runs the
plugin's unit tests, which is how it prepares venvs, and is reported separately. Then ``check`` runs
in each venv from the plugin's folder (so its ``plugin.spec.yaml`` is compared too), with the network
cut to loopback by the kit itself.

    python packages/runtime-testing/compat_check.py [--max-examples 10] [--budget 5] [PLUGIN ...]

Exit 0 when the table is empty, 1 when there are findings, 2 when the harness could not prepare.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HARNESS = REPO.parent / "shared" / "compat" / "run.sh"
RUNTIME = ",".join(
    f"./packages/{name}"
    for name in ("runtime-core", "runtime-helpers", "runtime-aws", "runtime-tracing", "runtime-testing")
)


def prepare(work: Path, plugins: list[str]) -> int:
    """Build the plugin venvs with the harness (kept in ``work``); its own report goes to stderr."""
    command = [str(HARNESS), RUNTIME, *(plugins or ["@open"]), "--keep", "--workdir", str(work), "-j", "1"]
    done = subprocess.run(command, cwd=REPO, stdout=sys.stderr, stderr=sys.stderr)
    return done.returncode


def refresh_kit(plugin_dir: Path) -> None:
    """With ``--reuse``: copy this checkout's kit modules over the ones the venv was built with."""
    import shutil

    source = Path(__file__).resolve().parent / "src" / "insightconnect_plugin_runtime"
    for target in plugin_dir.glob("venv/lib/python*/site-packages/insightconnect_plugin_runtime"):
        for module in [source / "testing.py", *source.glob("_testing_*.py")]:
            shutil.copyfile(module, target / module.name)


def check(plugin_dir: Path, max_examples: int, budget: float) -> tuple[int, str]:
    """``bin/<plugin> check`` in the plugin's venv; returns its exit code and output."""
    root = next(plugin_dir.joinpath("src").glob("plugins/*"))
    script = next(root.joinpath("bin").iterdir())
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONHOME", "VIRTUAL_ENV", "PLUGIN_RUNTIME_ENVIRONMENT")}
    env["PYTHONPATH"] = str(root)
    env["HOME"] = str(plugin_dir / "home")
    command = [
        str(plugin_dir / "venv" / "bin" / "python"), str(script), "check",
        "--max-examples", str(max_examples), "--budget", str(budget),
    ]  # fmt: skip
    try:
        done = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, timeout=1800)
    except subprocess.TimeoutExpired:
        return 3, "check did not finish within 30 minutes"
    return done.returncode, done.stdout + (done.stderr[-2000:] if done.returncode not in (0, 1) else "")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("plugins", nargs="*", help="plugin names (default: the open list)")
    parser.add_argument("--max-examples", type=int, default=10)
    parser.add_argument("--budget", type=float, default=5.0)
    parser.add_argument("--workdir", help="keep the venvs here (default: a temporary folder)")
    parser.add_argument("--reuse", action="store_true", help="check the venvs already in --workdir")
    args = parser.parse_args()
    if not os.environ.get("ICP_MIRROR"):
        sys.stderr.write("ICP_MIRROR must name the git dir of rapid7/insightconnect-plugins.\n")
        return 2
    with tempfile.TemporaryDirectory(prefix="icon-compat-check-") as scratch:
        work = Path(args.workdir or scratch)
        code = 0 if args.reuse and args.workdir else prepare(work, args.plugins)
        prepared = sorted(
            p for p in work.iterdir() if (p / "venv" / "bin" / "python").exists() and any(p.glob("src/plugins/*/bin/*"))
        )
        if not prepared:
            sys.stderr.write(f"The harness prepared no plugin (exit {code}).\n")
            return 2
        summary, findings = [], []
        for plugin_dir in prepared:
            if args.reuse:
                refresh_kit(plugin_dir)
            code, output = check(plugin_dir, args.max_examples, args.budget)
            lines = output.strip().splitlines()
            summary.append(f"{plugin_dir.name:<28} exit {code}  {lines[-1] if lines else '(no output)'}")
            rows = [line for line in lines if " | " in line and not line.startswith(("step ", "-"))]
            findings += [f"{plugin_dir.name:<24} | {row}" for row in rows]
            if code not in (0, 1):
                findings.append(f"{plugin_dir.name:<24} | check itself failed: {' '.join(lines[-3:])}")
    print("\n".join(summary))
    if findings:
        print("\nplugin                   | step | check | finding | example input")
        print("\n".join(findings))
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
