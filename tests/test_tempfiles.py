"""Spooled copies: whole, seekable, in memory when small, under the cache when large."""

from __future__ import annotations

import io
import os
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
        b[: len(data)] = data
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


def test_a_large_file_goes_to_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tempfiles, "SPOOL_IN_MEMORY", 1000)
    tempfiles.set_tempdir(str(tmp_path))
    try:
        data = b"y" * 3000
        with tempfiles.spool(_Trickle(data, 512), len(data)) as f:
            assert not isinstance(f, tempfiles.MemorySpool) and tempfiles.is_spooled(f)
            # an unlinked file in the cache's temporary directory, nowhere else
            where = os.readlink(f"/proc/self/fd/{f.fileno()}")
            assert where.startswith(str(tmp_path)) and where.endswith("(deleted)")
            assert f.read() == data
            f.seek(2990)
            assert f.read() == data[2990:]
        assert list(tmp_path.iterdir()) == []
        # size unknown: in memory until it outgrows the limit, then on disk
        with tempfiles.spool(_Trickle(data, 512)) as f:
            assert tempfiles.is_spooled(f) and f.read() == data
            assert getattr(f, "_rolled", False)
    finally:
        tempfiles.set_tempdir(None)


@pytest.mark.parametrize("size", [5000, 0])
def test_a_spooled_copy_is_searched_in_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, size: int
) -> None:
    data = bytes(size // 2) + b"needle" * (size > 0) + bytes(size // 2)
    tempfiles.set_tempdir(str(tmp_path))
    try:
        for in_memory in (10**6, 1000):
            monkeypatch.setattr(tempfiles, "SPOOL_IN_MEMORY", in_memory)
            with (
                tempfiles.spool(_Trickle(data, 700), len(data)) as f,
                tempfiles.searchable(f) as found,
            ):
                assert found is not None
                assert found.find(b"needle") == (size // 2 if size else -1)
                assert found.find(b"needle", size // 2 + 1) == -1
                assert f.read() == data  # searching did not move the file
        with tempfiles.searchable(io.BytesIO(data)) as found:
            assert found is None  # not a spooled copy: the caller reads it through
    finally:
        tempfiles.set_tempdir(None)


def test_a_memory_spool_reads_seeks_and_fills_buffers_like_a_file() -> None:
    data = bytes(range(200))
    f = tempfiles.spool(io.BytesIO(data), len(data))
    assert f.seek(-10, io.SEEK_END) == 190 and f.read(100) == data[190:]
    assert f.read(5) == b"" and f.seek(500) == 500 and f.read() == b""
    f.seek(5)
    buf = bytearray(8)
    assert f.readinto(buf) == 8 and bytes(buf) == data[5:13] and f.tell() == 13
    with pytest.raises(ValueError):
        f.seek(-1)
    assert f.seek(-500, io.SEEK_END) == 0 and f.seek(-1, io.SEEK_CUR) == 0  # as BytesIO
    f.close()
    with pytest.raises(ValueError):
        f.read()


def test_a_prefixed_stream_reads_whole() -> None:
    stream = tempfiles.PrefixedStream(b"\x7fELF", io.BufferedReader(_Trickle(b"rest", 1)))
    assert stream.read(2) == b"\x7fE"
    assert stream.read(10) == b"LFrest"
    assert stream.read(1) == b""


def test_a_prefixed_stream_fills_buffers_head_first() -> None:
    stream = tempfiles.PrefixedStream(b"\x7fELF", _Trickle(b"rest of it", 3))
    with tempfiles.spool(stream, 14) as f:  # type: ignore[arg-type]
        assert f.read() == b"\x7fELFrest of it"
