"""``bin/<plugin> check``, added to core's CLI through the ``cli_commands`` entry-point group.

Cheap to import: the checks load when the command runs. Exit codes: 0 nothing found, 1 findings,
2 usage error (an unreadable ``--connection``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any


class CheckCommand:
    help = "static checks, canary secrets and schema fuzzing of every step (icon-runtime-testing)"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--connection", help="connection parameters as JSON, or @file.json (default: sample)")
        parser.add_argument("--max-examples", type=int, default=20, help="fuzzed inputs per step (default 20)")
        parser.add_argument("--budget", type=float, default=10.0, help="seconds a step may take (default 10)")
        parser.add_argument("--no-fuzz", action="store_true", help="static checks and canary runs only")
        parser.add_argument("--no-http-fuzz", action="store_true", help="no outgoing-HTTP fault fuzzing")
        parser.add_argument("--no-connection-fuzz", action="store_true", help="no connection fuzzing")
        parser.add_argument("--step", action="append", default=[], help="check only this step (repeatable)")
        parser.add_argument(
            "--spec", help="plugin.spec.yaml to compare with the code (default: ./plugin.spec.yaml if present)"
        )

    def run(self, plugin: Any, args: argparse.Namespace) -> int:
        from ._testing_check import check_plugin, table

        connection = None
        if args.connection:
            try:
                text = args.connection
                if text.startswith("@"):
                    with open(text[1:], encoding="utf-8") as handle:
                        text = handle.read()
                connection = json.loads(text)
            except (OSError, ValueError) as error:
                sys.stderr.write(f"--connection is not readable JSON: {error}\n")
                return 2
        spec = args.spec or ("plugin.spec.yaml" if os.path.isfile("plugin.spec.yaml") else None)
        findings = check_plugin(
            plugin,
            connection,
            max_examples=args.max_examples,
            budget_seconds=args.budget,
            fuzz=not args.no_fuzz,
            http_fuzz=not args.no_http_fuzz,
            connection_fuzz=not args.no_connection_fuzz,
            only=set(args.step) or None,
            spec=spec,
        )
        from ._testing_check import steps

        checked = len(list(steps(plugin, set(args.step) or None)))
        if findings:
            sys.stdout.write(table(findings) + "\n")
            sys.stdout.write(f"\n{checked} step(s) checked, {len(findings)} finding(s).\n")
            return 1
        sys.stdout.write(f"{checked} step(s) checked, no findings.\n")
        return 0


check = CheckCommand()
