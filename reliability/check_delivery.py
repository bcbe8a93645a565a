"""Part of check 5 (faults): trigger delivery under kills, redirects, rejections and transient failures.

Runs the replay trigger of runtime-core's delivery test kit (``icon_delivery_testkit``) as real
subprocesses against a scripted orchestrator on 127.0.0.1: identical payloads, a rejected event
followed by 100 more, one kill at each point of the send/checkpoint cycle, and seeded random
scenarios mixing answers (200, 302, 307, 400, 413, 429, 500, refused, timeout), kills and repeated
payloads. Reports runs, kill points, events emitted, delivered, dead-lettered, lost and duplicated.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

from _kit import REPO, Figure, at_most

sys.path.insert(0, str(REPO / "packages" / "runtime-core" / "tests"))

import icon_delivery_testkit as kit  # noqa: E402

RANDOM_SCENARIOS = 12


def _scenarios(seed: int) -> list[tuple[str, list, list[str], list[str | None]]]:
    """(name, values, answers, kills per run), bounded in count and size."""
    chosen: list[tuple[str, list, list[str], list[str | None]]] = [
        ("identical payload x3", [7, 7, 7], [], []),
        ("rejected then 100", ["bad", *range(100)], ["400"], []),
        ("redirects", ["a", "a"], ["302", "307", "302"], []),
    ]
    for point in kit.POINTS:
        answers = ["400"] if point == "after_reject" else []
        chosen.append((f"kill at {point}", [1, 1, 2, 1], answers, [f"{point}:1"]))
    rng = random.Random(seed)
    for number in range(RANDOM_SCENARIOS):
        values = [rng.choice([1, 2, "x"]) for _ in range(rng.randint(1, 8))]
        answers = [rng.choice(kit.ANSWERS) for _ in range(rng.randint(0, 8))]
        kills = [rng.choice([None, f"{rng.choice(kit.POINTS)}:{rng.randint(1, 4)}"]) for _ in range(rng.randint(0, 3))]
        chosen.append((f"random {number}", values, answers, kills))
    return chosen


def delivery(work: Path, seed: int = 20261129) -> list[Figure]:
    figures = kit.FIGURES
    figures.update(runs=0, kills=0, kill_points=set(), emitted=0, delivered=0, dead=0, lost=0, dup=0)
    failures: list[str] = []
    followed = 0
    for index, (name, values, answers, kills) in enumerate(_scenarios(seed)):
        server = kit.Orchestrator(answers)
        try:
            cache = work / f"delivery-{index}" / "cache"
            kit.run_until_done(server, cache, values, kills=kills, retries=1)
            kit.check_exactly_once(server, cache, values)
        except AssertionError as error:
            failures.append(f"{name}: {str(error)[:200]}")
        finally:
            followed += server.followed
            server.close()
    points = sorted(figures["kill_points"])
    return [
        Figure(
            "faults",
            "delivery: runs / kills / kill points",
            f"{figures['runs']} / {figures['kills']} / {len(points)}",
            f"all {len(kit.POINTS)} points",
            len(points) == len(kit.POINTS),
            repr(points),
        ),
        Figure(
            "faults",
            "delivery: events emitted = delivered + dead-lettered",
            f"{figures['emitted']} = {figures['delivered']} + {figures['dead']}",
            "equal",
            figures["emitted"] == figures["delivered"] + figures["dead"],
        ),
        at_most("faults", "delivery: events lost", figures["lost"], 0),
        at_most("faults", "delivery: events duplicated", figures["dup"], 0),
        at_most("faults", "delivery: redirects followed", followed, 0),
        at_most("faults", "delivery: scenarios failing their checks", len(failures), 0, "; ".join(failures)[:1500]),
    ]
