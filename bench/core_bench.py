"""Import cost and one-shot ``run`` of an action: icon-runtime-core alone vs the reference 6.6.1.

Both runtimes run the same plugins with the same messages, in the same run, from their own virtual
environments. Prints medians over several runs and the ratios against the targets of the core issue:
import <= 1/8 of the reference's; and those of issue 19: one-shot wall time <= 0.10 and peak RSS <= 0.4
of the reference's.

The target rows run ``bench/hello_plugin``, one action and a credential laid out like a generated
plugin, so they measure the runtime and not what a plugin imports. ``samples/example`` is printed too,
for information: its ``leak_everywhere`` action imports logging, threads and URL parsing, which both
runtimes pay alike. Plugin sources are byte-compiled first, as ``pip install`` does in a plugin image;
otherwise every run would recompile them (this machine sets PYTHONDONTWRITEBYTECODE).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _venvs import REPO, our_venv, reference_venv  # noqa: E402

RUNS = int(os.environ.get("BENCH_RUNS", "15"))
HELLO = REPO / "bench" / "hello_plugin"
SAMPLE = REPO / "samples" / "example"
#: (label, plugin directory, launcher, message); the first one carries the targets.
PLUGINS = (
    ("one-shot run", HELLO, "icon_hello", HELLO / "messages" / "greet.json"),
    ("sample run", SAMPLE, "icon_example", SAMPLE / "messages" / "say_hello.json"),
)


def _measure(argv: list[str], stdin: bytes = b"", cwd: Path | None = None) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=cwd)
    proc.stdin.write(stdin)
    proc.stdin.close()
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{argv} exited with {proc.returncode}")
    return elapsed, usage.ru_maxrss / 1024


def _module_count(python: Path) -> int:
    code = "import sys; n=len(sys.modules); import insightconnect_plugin_runtime; print(len(sys.modules)-n)"
    return int(subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=True).stdout)


def _paired_medians(pairs: list[tuple[list[str], list[str]]], **kwargs) -> list[tuple[float, float]]:
    """Medians of each command's (wall, RSS), the commands run in turn round after round, so a change
    in the machine's load during the run weighs on ours and the reference's alike."""
    flat = [argv for pair in pairs for argv in pair]
    for argv in flat:
        _measure(argv, **kwargs)  # warm the page cache
    samples: list[list[tuple[float, float]]] = [[] for _ in flat]
    for round_ in range(RUNS):
        order = range(len(flat)) if round_ % 2 == 0 else reversed(range(len(flat)))
        for index in order:
            samples[index].append(_measure(flat[index], **kwargs))
    return [(statistics.median(s[0] for s in runs), statistics.median(s[1] for s in runs)) for runs in samples]


def _byte_compile(python: Path, directory: Path) -> None:
    subprocess.run([str(python), "-m", "compileall", "-q", str(directory)], check=True, stdout=subprocess.DEVNULL)


def main() -> int:
    ours = our_venv("core-venv", ["runtime-core"]) / "bin" / "python"
    ref = reference_venv() / "bin" / "python"
    pythons = {"ours": ours, "reference": ref}
    (bare_ours, _), _ = _paired_medians([([str(ours), "-c", "pass"], [str(ref), "-c", "pass"])])
    rows: dict[str, dict[str, float]] = {label: {"modules": _module_count(python)} for label, python in pythons.items()}
    imports = _paired_medians([([str(ours), "-c", "import insightconnect_plugin_runtime"],
                                [str(ref), "-c", "import insightconnect_plugin_runtime"])])  # fmt: skip
    for label, (seconds, _) in zip(pythons, imports, strict=True):
        rows[label]["import_ms"] = (seconds - bare_ours) * 1000
    for key, directory, launcher, message in PLUGINS:
        for python in pythons.values():
            _byte_compile(python, directory)
        argv = [[str(python), str(directory / "bin" / launcher), "run"] for python in pythons.values()]
        runs = _paired_medians([(argv[0], argv[1])], stdin=message.read_bytes(), cwd=directory)
        for label, (seconds, rss) in zip(pythons, runs, strict=True):
            rows[label][f"{key} (ms)"], rows[label][f"{key} peak RSS (MiB)"] = seconds * 1000, rss
    print(
        f"python -c pass: {bare_ours * 1000:.1f} ms (subtracted from import times); {RUNS} rounds, ours and the "
        "reference in turn, medians"
    )
    print(f"{'':28}{'ours':>12}{'reference':>12}{'ratio':>9}{'target':>9}")
    checks = [("import (ms)", "import_ms", 1 / 8), ("import (modules)", "modules", None),
              ("one-shot run (ms)", "one-shot run (ms)", 0.10),
              ("one-shot peak RSS (MiB)", "one-shot run peak RSS (MiB)", 0.4),
              ("sample run (ms)", "sample run (ms)", None),
              ("sample run peak RSS (MiB)", "sample run peak RSS (MiB)", None)]  # fmt: skip
    failed = False
    for title, key, target in checks:
        mine, theirs = rows["ours"][key], rows["reference"][key]
        ratio = mine / theirs if theirs else float("nan")
        verdict = "" if target is None else (f"<= {target:.3f}" + (" ok" if ratio <= target else " MISS"))
        failed |= target is not None and ratio > target
        print(f"{title:28}{mine:12.1f}{theirs:12.1f}{ratio:9.3f}  {verdict}")
    return 1 if failed and os.environ.get("BENCH_STRICT") == "1" else 0


if __name__ == "__main__":
    sys.exit(main())
