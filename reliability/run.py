"""``make reliability``: runs the checks and prints ``check | figure | bound | ok/FAIL`` per figure.

Exit code 1 when any figure misses its bound. ``--only api-fuzz,canary`` runs a subset; the soak
length is ``--soak-seconds`` (``RELIABILITY_SOAK_SECONDS``, default 120).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _kit import Figure  # noqa: E402

CHECKS = {
    "api-fuzz": "check_api_fuzz",
    "message-fuzz": "check_message_fuzz",
    "canary": "check_canary",
    "soak": "check_soak",
    "faults": "check_faults",
    "helpers": "check_helpers",
    "hostile": "check_hostile",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", default="", help="comma-separated check names: " + ", ".join(CHECKS))
    parser.add_argument("--soak-seconds", type=float, default=float(os.environ.get("RELIABILITY_SOAK_SECONDS", 120)))
    parser.add_argument("--fuzz-examples", type=int, default=int(os.environ.get("RELIABILITY_FUZZ_EXAMPLES", 80)))
    parser.add_argument("--fuzz-timeout", type=float, default=240)
    parser.add_argument(
        "--message-examples", type=int, default=int(os.environ.get("RELIABILITY_MESSAGE_EXAMPLES", 400))
    )
    parser.add_argument("--message-subprocesses", type=int, default=30)
    parser.add_argument("--verbose", action="store_true")
    parser.add_argument("--seed", type=int, default=int(os.environ.get("RELIABILITY_SEED", 20261129)))
    options = parser.parse_args(argv)
    options.python = sys.executable
    names = [name for name in options.only.split(",") if name] or list(CHECKS)
    figures: list[Figure] = []
    started = time.monotonic()
    for name in names:
        begun = time.monotonic()
        try:
            module = importlib.import_module(CHECKS[name])
            found = module.run(options)
        except Exception:
            found = [Figure(name, "check ran", "crashed", "completes", False, traceback.format_exc()[-1500:])]
        for figure in found:
            print(figure.line(), flush=True)
        print(f"{name} | duration = {time.monotonic() - begun:.0f}s | - | ok", flush=True)
        figures += found
    failed = [figure for figure in figures if not figure.ok]
    print(
        f"reliability | figures = {len(figures)}, failed = {len(failed)}, total time = "
        f"{time.monotonic() - started:.0f}s | failed = 0 | {'ok' if not failed else 'FAIL'}"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
