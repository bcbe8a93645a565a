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
import re
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


#: Findings reviewed by hand: (plugin, step regex, check, finding regex, classification, why).
#: A finding no rule matches is printed as "unreviewed"; review it and add a rule (or fix the kit).
#: Plugin "*" matches any plugin. Reviewed against the open list at the commits of plugins.txt.
BUG, KIT = "plugin bug", "kit false positive"
REVIEWED: list[tuple[str, str, str, str, str, str]] = [
    # faults of the service, through the fault server: requests/http.client errors nobody classified
    ("*", r"", "crash", r"^(ChunkedEncodingError|IncompleteRead)", BUG, "a body cut short escapes unclassified"),
    ("*", r"", "crash", r"^TooManyRedirects", BUG, "a redirect loop escapes unclassified"),
    ("*", r"^connection$", "crash", r"^(MissingSchema|InvalidURL|InvalidSchema)", BUG,
     "a malformed URL/host typed in the connection reaches requests unchecked; no ConnectionTestException"),
    ("*", r"", "network", r"^(ConnectionError|EndpointConnectionError|NewConnectionError)", BUG,
     "an unreachable service escapes as the client library's error, not a PluginException"),
    ("*", r"", "network", r"^still retrying after", BUG, "retries an unreachable service without end"),
    ("aws_ec2", r"^connection$", "crash", r"^(ValueError: Invalid endpoint|InvalidRegionError)", BUG,
     "an empty or unknown region reaches botocore unchecked"),
    ("darktrace", r"^trigger pull_alerts$", "crash", r"^ValidationError", BUG,
     "sends the API's answer as an event unchecked: an answer of another shape fails its own output schema"),
    ("duo_admin", r"^action add_user$", "crash", r"^TypeError: object of type 'NoneType' has no len", BUG,
     "len() of the optional aliases input when it is absent"),
    ("jamf", r"^action ", "crash", r"^AttributeError: 'NoneType' object has no attribute 'get'", BUG,
     "a JSON null answer is used as an object"),
    ("phishtank", r"^connection$", "spec", r"required differs between spec and code: credentials", BUG,
     "plugin.spec.yaml says credentials is optional, the generated schema.py requires it"),
    ("zoom", r"^connection$", "crash", r"^UnicodeEncodeError: 'latin-1'", BUG,
     "a non-Latin-1 client id or secret breaks the Basic auth header unclassified"),
    # reached once the fault server answered https:// APIs too (testing 0.3.0)
    ("duo_admin", r"^action get_(logs|users)$", "crash", r"^AttributeError: 'NoneType' object has no attribute 'get'",
     BUG, "a JSON null answer is used as an object"),
    ("duo_admin", r"^action get_logs$", "crash", r"^TypeError: unsupported operand type\(s\) for -: 'NoneType'", BUG,
     "a field missing from the answer is used in arithmetic"),
    ("freshdesk", r"^action ", "crash",
     r"^(TypeError: 'NoneType' object is not iterable|AttributeError: '(NoneType|list)' object has no attribute 'get')",
     BUG, "an answer of another shape (null, a list) is used unchecked"),
    ("get_url", r"^connection test$", "crash", r"^HelperError: open_url: .* answered HTTP", BUG,
     "the connection test lets open_url's error escape instead of raising ConnectionTestException"),
    ("zoom", r"^(connection test|trigger user_activity_event)$", "crash",
     r"^TypeError: 'NoneType' object is not subscriptable", BUG, "a JSON null answer is indexed unchecked"),
]  # fmt: skip

CHECK_COLUMNS = ("crash", "output schema", "leak", "network", "time")


def classify(plugin: str, step: str, check: str, finding: str) -> tuple[str, str]:
    """``(classification, why)`` of one finding from :data:`REVIEWED`."""
    for name, step_re, kind, finding_re, verdict, why in REVIEWED:
        if name in (plugin, "*") and kind == check and re.search(step_re, step) and re.search(finding_re, finding):
            return verdict, why
    return "unreviewed", ""


def parse(output: str) -> tuple[int | None, list[list[str]]]:
    """Steps checked and the finding rows (step, check, finding, example) of one ``check`` output."""
    lines = output.strip().splitlines()
    steps = None
    for line in reversed(lines):
        found = re.match(r"(\d+) step\(s\) checked", line)
        if found:
            steps = int(found.group(1))
            break
    rows = [
        [cell.strip() for cell in line.split(" | ", 3)]
        for line in lines
        if " | " in line and not line.startswith(("step ", "-"))
    ]
    return steps, [row + [""] * (4 - len(row)) for row in rows]


def render(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    widths = [min(width, 70) for width in widths]
    out = []
    for number, row in enumerate(rows):
        cells = [cell if len(cell) <= w else cell[: w - 1] + "…" for cell, w in zip(row, widths, strict=True)]
        out.append(" | ".join(cell.ljust(w) for cell, w in zip(cells, widths, strict=True)).rstrip())
        if number == 0:
            out.append("-+-".join("-" * w for w in widths))
    return "\n".join(out)


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
        summary = [["plugin", "exit", "steps", *CHECK_COLUMNS, "other", "plugin bugs", "kit false pos.", "unreviewed"]]
        detail = [["plugin", "step", "check", "finding", "example input", "classification", "why"]]
        for plugin_dir in prepared:
            if args.reuse:
                refresh_kit(plugin_dir)
            code, output = check(plugin_dir, args.max_examples, args.budget)
            steps, rows = parse(output)
            name = plugin_dir.name
            if code not in (0, 1):
                rows.append(
                    ["(check)", "kit", f"check itself failed: {' '.join(output.strip().splitlines()[-3:])}", ""]
                )
            counts = dict.fromkeys((*CHECK_COLUMNS, "other"), 0)
            verdicts = {"plugin bug": 0, "kit false positive": 0, "unreviewed": 0}
            for step, kind, finding, example in rows:
                counts[kind if kind in counts else "other"] += 1
                verdict, why = classify(name, step, kind, finding)
                verdicts[verdict] += 1
                detail.append([name, step, kind, finding, example, verdict, why])
            summary.append(
                [
                    name,
                    str(code),
                    "?" if steps is None else str(steps),
                    *map(str, counts.values()),
                    *map(str, verdicts.values()),
                ]
            )
    print(render(summary))
    if len(detail) > 1:
        print()
        print(render(detail))
    return 1 if len(detail) > 1 else 0


if __name__ == "__main__":
    sys.exit(main())
