"""A layout file replaced while it is read (another ``hullscan sign`` rewriting index.json)
reads whole: the old content or the new, never the new content cut to the old length."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from hullscan.errors import ImageError
from hullscan.sources.store import DirStore

SHORT = b'{"manifests": []}\n'
LONG = b'{"manifests": [' + b", ".join([b'{"digest": "sha256:' + b"a" * 64 + b'"}'] * 8) + b"]}\n"

#: a second process that swaps index.json between the two contents, as fast as it can
SWAPPER = """
import os, sys, time
root, short, long_ = sys.argv[1], sys.argv[2].encode(), sys.argv[3].encode()
end = time.monotonic() + float(sys.argv[4])
n = 0
while time.monotonic() < end:
    tmp = os.path.join(root, f".index.json.{n}.tmp")
    with open(tmp, "wb") as f:
        f.write(long_ if n % 2 else short)
    os.replace(tmp, os.path.join(root, "index.json"))
    n += 1
"""


def test_a_replaced_file_reads_whole(tmp_path: Path) -> None:
    (tmp_path / "index.json").write_bytes(SHORT)
    store = DirStore(str(tmp_path))
    seconds = 3.0
    swapper = subprocess.Popen(
        [sys.executable, "-c", SWAPPER, str(tmp_path), SHORT.decode(), LONG.decode(), str(seconds)]
    )
    seen: set[bytes] = set()
    try:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            data = store.read("index.json", 1 << 20)
            assert data in (SHORT, LONG), data
            seen.add(data)
    finally:
        swapper.wait(timeout=30)
    assert seen == {SHORT, LONG}  # the race was really run


def test_the_limit_holds_on_the_opened_file(tmp_path: Path) -> None:
    (tmp_path / "index.json").write_bytes(LONG)
    store = DirStore(str(tmp_path))
    assert store.read("index.json", len(LONG)) == LONG
    with pytest.raises(ImageError, match="larger than"):
        store.read("index.json", len(LONG) - 1)
