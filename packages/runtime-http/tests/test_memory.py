"""``_memory``: with the arena cap, threads that take turns with large buffers reuse one another's freed
memory instead of each keeping its own; with the thresholds set, the next large request reuses the
memory of the last one instead of faulting it in again (each measured in a child process, with and
without the setting)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from insightconnect_plugin_runtime.api._memory import ARENAS, keep_freed_memory, limit_malloc_arenas

MIB = 16
CHILD = textwrap.dedent(
    f"""
    import sys, threading
    from pathlib import Path
    from insightconnect_plugin_runtime.api._memory import limit_malloc_arenas

    def rss_mib():
        line = next(l for l in Path("/proc/self/status").read_text().splitlines() if l.startswith("VmRSS:"))
        return int(line.split()[1]) // 1024

    capped = limit_malloc_arenas() if sys.argv[1] == "cap" else False
    warm = bytearray({MIB} << 20)  # freeing it raises glibc's mmap threshold: later buffers come from arenas
    del warm
    before = rss_mib()
    turns = [threading.Event() for _ in range(5)]
    pinned = []

    def request(i):
        pinned.append(bytearray(100))  # each thread takes its arena while all four are alive
        turns[i].wait()
        buffer = bytearray({MIB} << 20)
        pinned.append(bytearray(2000))
        del buffer
        turns[i + 1].set()

    threads = [threading.Thread(target=request, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    turns[0].set()
    for thread in threads:
        thread.join()
    print(capped, rss_mib() - before)
    """
)


def _retained(mode: str) -> tuple[str, int]:
    out = subprocess.run([sys.executable, "-c", CHILD, mode], capture_output=True, text=True, check=True).stdout
    capped, retained = out.split()
    return capped, int(retained)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")
def test_threads_reuse_the_memory_another_thread_freed() -> None:
    capped, retained = _retained("cap")
    assert capped == "True" and retained <= ARENAS * MIB + 2
    assert _retained("keep")[1] >= 3 * MIB  # without the cap: one buffer kept per thread


def test_an_operator_setting_is_left_alone() -> None:
    assert not limit_malloc_arenas({"MALLOC_ARENA_MAX": "4"})
    assert not limit_malloc_arenas({"GLIBC_TUNABLES": "glibc.malloc.arena_max=4"})
    if sys.platform.startswith("linux"):
        assert limit_malloc_arenas({"GLIBC_TUNABLES": "glibc.rtld.nns=2"})


FAULTS_CHILD = textwrap.dedent(
    """
    import resource, sys
    from insightconnect_plugin_runtime.api._memory import keep_freed_memory

    kept = keep_freed_memory() if sys.argv[1] == "keep" else False
    faults = []
    for size in (5, 6, 5, 6):  # MiB: two requests' worth of a body and a larger reply, one after the other
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        buffer = bytearray(size << 20)
        faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
        del buffer
    print(kept, sum(faults[2:]))
    """
)


def _faults_of_the_second_request(mode: str) -> tuple[str, int]:
    out = subprocess.run([sys.executable, "-c", FAULTS_CHILD, mode], capture_output=True, text=True, check=True)
    kept, faults = out.stdout.split()
    return kept, int(faults)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")
def test_the_next_large_request_reuses_the_freed_memory_without_page_faults() -> None:
    kept, faults = _faults_of_the_second_request("keep")
    assert kept == "True" and faults < 100  # 11 MiB are 2,816 pages
    assert _faults_of_the_second_request("default")[1] > 1000  # glibc handed (most of) it back


def test_an_operator_threshold_is_left_alone() -> None:
    for environ in (
        {"MALLOC_MMAP_THRESHOLD_": "131072"},
        {"MALLOC_TRIM_THRESHOLD_": "0"},
        {"MALLOC_TOP_PAD_": "0"},
        {"GLIBC_TUNABLES": "glibc.malloc.trim_threshold=0"},
    ):
        assert not keep_freed_memory(environ)
