"""Check 6: hostile input to helpers: exec_command, cache/lock names, URL helpers. Nothing runs or escapes."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from _kit import Figure, at_least, at_most

INJECTIONS = ["; touch {p}", "$(touch {p})", "`touch {p}`", "| touch {p}", "&& touch {p}", "\ntouch {p}",
              "' ; touch {p} ; '", '" ; touch {p} ; "']  # fmt: skip
TRAVERSALS = ["../../etc/passwd", "/etc/passwd", "..", "../x", "a/../../b", "%2e%2e/%2e%2e/etc", "..\\..\\x",
              "\x00evil", "a/\x00/b", "~root/x", "/proc/self/environ", "....//....//etc"]  # fmt: skip


def run(options) -> list[Figure]:
    check = "helpers"
    from insightconnect_plugin_runtime import helper

    work = Path(tempfile.mkdtemp(prefix="reliability-helpers-"))
    proof = work / "pwned"
    ran, escaped, tried, crashed = [], [], 0, []
    for template in INJECTIONS:
        payload = template.format(p=proof)
        for command in (f"echo hi {payload}", f"echo{payload}"):
            tried += 1
            try:
                helper.exec_command(command)
            except Exception:  # noqa: BLE001 - refusing is fine; running is not
                pass
            if proof.exists():
                ran.append(command)
                proof.unlink()
    cache = work / "cache"
    cache.mkdir()
    outside_before = set(os.listdir(work))
    old_cache = helper.CACHE_DIR
    helper.CACHE_DIR = str(cache)
    for name in TRAVERSALS:
        for function in ("open_cachefile", "check_cachefile", "remove_cachefile", "lock_cache", "unlock_cache"):
            target = getattr(helper, function, None)
            if target is None:
                continue
            tried += 1
            try:
                if function == "lock_cache":
                    result = target(name, timeout=0.05, poll_interval=0.01)
                elif function == "unlock_cache":
                    result = target(name, 0)
                elif function == "open_file":
                    result = target(str(cache / name))
                else:
                    result = target(name)
                if hasattr(result, "close"):
                    path = getattr(result, "name", "")
                    result.close()
                    if path and not os.path.realpath(path).startswith(os.path.realpath(cache) + os.sep):
                        escaped.append(f"{function}({name!r}) opened {path}")
            except (ValueError, OSError, TypeError, Exception) as error:  # noqa: BLE001
                if type(error).__name__ in ("AttributeError", "NameError", "KeyError", "IndexError"):
                    crashed.append(f"{function}({name!r}): {error!r}")
    new = set(os.listdir(work)) - outside_before
    if new:
        escaped.append(f"files created outside the cache dir: {sorted(new)}")
    for path in ("/etc/passwd.lock", "/etc/passwd.lck", "/x", "/b"):
        if os.path.exists(path) and path != "/etc/passwd":
            escaped.append(f"{path} exists")
    # URL helpers: traversal and injection in the path must not leave the URL's path or host.
    url_problems = []
    for hostile in ("../../admin", "..%2f..%2fadmin", "@evil.example", "#frag", "?x=1&y=2", "\r\nX-Injected: 1"):
        for function in ("get_url_path_filename", "url_path_join"):  # get_url_filename does a HEAD: not here
            target = getattr(helper, function, None)
            if target is None:
                continue
            tried += 1
            try:
                value = (target("https://api.example.com/base", hostile) if function == "url_path_join"
                         else target(f"https://api.example.com/files/{hostile}"))  # fmt: skip
            except Exception:  # noqa: BLE001
                continue
            if isinstance(value, str) and ("\r" in value or "\n" in value):
                url_problems.append(f"{function}: {value!r}")
    helper.CACHE_DIR = old_cache
    return [
        at_least(check, "hostile calls made", tried, 50),
        at_most(check, "injected commands that ran", len(ran), 0, "; ".join(ran[:3])),
        at_most(check, "cache/lock/file names that escaped the cache dir", len(escaped), 0, "; ".join(escaped[:3])),
        at_most(
            check,
            "helpers crashing with an internal error (not a clear refusal)",
            len(crashed),
            0,
            "; ".join(crashed[:3]),
        ),  # fmt: skip
        at_most(check, "URL helpers returning CR/LF", len(url_problems), 0, "; ".join(url_problems[:3])),
    ]
