"""Fails when the meta-package does not pin the current version of every distribution (in its
dependencies, or in an extra such as ``[testing]`` for the distributions outside the runtime set).

Run by docker/wheelhouse.sh, so no image is built from a stale combination.
"""

import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
meta = tomllib.loads((ROOT / "packages/runtime/pyproject.toml").read_text())
pins = {}
extras = meta["project"].get("optional-dependencies", {}).values()
for requirement in [*meta["project"]["dependencies"], *(r for extra in extras for r in extra)]:
    match = re.fullmatch(r"(icon-runtime-[a-z]+)(\[[a-z,]+\])?==(\S+)", requirement)
    if match:
        pins[match[1]] = match[3]
errors = []
for pyproject in sorted((ROOT / "packages").glob("*/pyproject.toml")):
    project = tomllib.loads(pyproject.read_text())["project"]
    if project["name"] == meta["project"]["name"]:
        continue
    pinned = pins.pop(project["name"], None)
    if pinned != project["version"]:
        errors.append(f"{project['name']} is {project['version']}, the meta-package pins {pinned}")
errors += [f"{name}=={version} is pinned but not in packages/" for name, version in pins.items()]
if errors:
    sys.exit("packages/runtime/pyproject.toml:\n  " + "\n  ".join(errors))
