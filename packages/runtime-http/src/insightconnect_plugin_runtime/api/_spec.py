"""The plugin's ``plugin.spec.yaml``, found and parsed once when the app is built.

It is read once, since it cannot change while the server runs; a missing or unreadable file leaves
the endpoints that need it answering 404 with a JSON reason, and ``/info`` falls back to what the
``Plugin`` object knows.
"""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from insightconnect_plugin_runtime.settings import text

log = logging.getLogger("insightconnect_plugin_runtime.server")

#: Where plugin images keep it (container paths); a checkout's copy is looked for after these.
CONTAINER_SPEC_PATHS = ("/python/src/plugin.spec.yaml", "/workspace/plugin.spec.yaml")


@dataclass(frozen=True)
class PluginSpec:
    path: str | None = None
    text: str | None = None
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def found(self) -> bool:
        return self.text is not None

    def section(self, kind: str, name: str) -> dict[str, Any] | None:
        entries = self.data.get(kind) or {}
        entry = entries.get(name) if isinstance(entries, dict) else None
        return entry if isinstance(entry, dict) else None


def candidate_paths() -> list[str]:
    override = text("ICON_RUNTIME_PLUGIN_SPEC")
    paths = [override] if override else []
    paths += list(CONTAINER_SPEC_PATHS)
    paths.append(os.path.join(os.getcwd(), "plugin.spec.yaml"))
    if sys.argv and sys.argv[0]:
        script_dir = Path(os.path.realpath(sys.argv[0])).parent
        paths.append(str(script_dir.parent / "plugin.spec.yaml"))
    return paths


def load_spec(paths: list[str] | None = None) -> PluginSpec:
    import yaml

    for path in paths if paths is not None else candidate_paths():
        if not path or not os.path.isfile(path):
            continue
        try:
            with open(path, encoding="utf-8") as handle:
                text = handle.read()
            data = yaml.safe_load(text)
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
            log.warning("Ignoring the plugin spec at %s: %s", path, error)
            continue
        return PluginSpec(path, text, data if isinstance(data, dict) else {})
    return PluginSpec()
