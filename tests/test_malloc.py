"""``malloc.keep_freed_memory``: a layer stream's churn of quarter-MiB chunks stops
faulting fresh pages in once glibc is told to keep freed memory (Linux with glibc)."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

CHURN = """
import collections, resource, sys
if sys.argv[1] == "tuned":
    from hullscan.malloc import keep_freed_memory
    keep_freed_memory()
    keep_freed_memory()  # once per process: a second call changes nothing
live = collections.deque()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for i in range(3000):  # as a layer stream: a few chunks alive, made and freed in turn
    live.append(b"x" * (256 * 1024 + (i % 7) * 4096))
    if len(live) > 4:
        live.popleft()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def faults(mode: str) -> int:
    done = subprocess.run(
        [sys.executable, "-c", CHURN, mode], capture_output=True, text=True, check=True
    )
    return int(done.stdout)


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc",
    reason="glibc's allocator only",
)
def test_freed_chunks_are_reused_without_page_faults() -> None:
    default, tuned = faults("default"), faults("tuned")
    # 3,000 chunks of 256 KiB are 192,000 pages: by default most of them fault in again
    assert default > 20_000
    assert tuned < default / 10


def test_opening_a_layer_stream_keeps_freed_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    from hullscan import streams

    calls: list[bool] = []
    monkeypatch.setattr(streams, "keep_freed_memory", lambda: calls.append(True))
    streams.open_layer_stream(io.BytesIO(b""), "layer", None, None, None, streams.Limits()).close()
    assert calls == [True]
