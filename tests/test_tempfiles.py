"""Spooled copies: whole, seekable, in memory when small, under the cache when large."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

from hullscan import tempfiles


class _Trickle(io.RawIOBase):
    """A raw stream that returns at most ``piece`` bytes a read, as a pipe or a socket may."""

    def __init__(self, data: bytes, piece: int) -> None:
        self._data = io.BytesIO(data)
        self._piece = piece

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        data = self._data.read(min(len(b), self._piece))
        b[:len(data)] = data
        return len(data)


@pytest.mark.parametrize("piece", [1, 7, 4096, 1 << 20])
def test_a_small_file_is_spooled_whole_in_memory(piece: int) -> None:
    data = bytes(range(256)) * 300
    with tempfiles.spool(_Trickle(data, piece), len(data)) as f:
        assert isinstance(f, tempfiles.MemorySpool) and tempfiles.is_spooled(f)
        assert f.read() == data
        f.seek(1000)
        assert f.read(3) == data[1000:1003]


def test_the_limit_bounds_the_copy_and_a_short_stream_ends_it() -> None:
    data = b"x" * 5000
    with tempfiles.spool(_Trickle(data, 100), 1234) as f:
        assert f.read() == data[:1234]
    with tempfiles.spool(_Trickle(data, 100), 9999) as f:
        assert f.read() == data


def test_a_large_file_goes_to_disk(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tempfiles, "SPOOL_IN_MEMORY", 1000)
    tempfiles.set_tempdir(str(tmp_path))
    try:
        data = b"y" * 3000
        with tempfiles.spool(_Trickle(data, 512), len(data)) as f:
            assert not isinstance(f, tempfiles.MemorySpool) and tempfiles.is_spooled(f)
            assert f.read() == data
            assert getattr(f, "_rolled", False)  # written to a file
    finally:
        tempfiles.set_tempdir(None)


def test_a_prefixed_stream_reads_whole() -> None:
    stream = tempfiles.PrefixedStream(b"\x7fELF", io.BufferedReader(_Trickle(b"rest", 1)))
    assert stream.read(2) == b"\x7fE"
    assert stream.read(10) == b"LFrest"
    assert stream.read(1) == b""
