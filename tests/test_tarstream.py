"""The lean layer-tar reader agrees with tarfile, member for member and byte for byte, on
every header kind it decodes itself and every kind it hands to tarfile."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from hullscan.errors import ImageError
from hullscan.streams import Limits, open_layer_stream
from hullscan.tarstream import TarMembers


def _entries(fmt: int) -> list[tuple[tarfile.TarInfo, bytes | None]]:
    out: list[tuple[tarfile.TarInfo, bytes | None]] = []

    def add(name: str, data: bytes | None = None, **attrs: object) -> None:
        ti = tarfile.TarInfo(name)
        ti.mtime = 1_700_000_000
        for k, v in attrs.items():
            setattr(ti, k, v)
        if data is not None:
            ti.size = len(data)
        out.append((ti, data))

    add("etc", type=tarfile.DIRTYPE, mode=0o755)
    add("etc/hostname", b"box\n", mode=0o644, uid=0, gid=0, uname="root")
    add("d/" + "long-directory-name/" * 6 + "file.txt", b"deep")  # ustar prefix or longname
    add("big", os.urandom(3 * 1024 * 1024 + 17))
    add("link", type=tarfile.SYMTYPE, linkname="etc/hostname")
    add("hard", type=tarfile.LNKTYPE, linkname="etc/hostname")
    add("dev/null", type=tarfile.CHRTYPE, devmajor=1, devminor=3)
    add("fifo", type=tarfile.FIFOTYPE)
    add("empty", b"")
    add("ünïcode/naïve.txt", b"unicode")
    if fmt != tarfile.USTAR_FORMAT:  # GNU long-name records, or PAX records
        add("x/" + "n" * 150, b"over 100 characters of name")
        add("sym-" + "t" * 120, type=tarfile.SYMTYPE, linkname="/" + "l" * 130)
        add("high-uid", b"uid", uid=3_000_000, gid=4_000_000)  # PAX record or base-256
    return out


def _tar(fmt: int) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tf:
        for ti, data in _entries(fmt):
            tf.addfile(ti, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def _ours(blob: bytes) -> list[tuple[object, ...]]:
    stream = open_layer_stream(io.BytesIO(blob), "layer", None, None, None, Limits())
    members = TarMembers(stream.tar, "layer")
    out = []
    try:
        for m in members:
            data = members.open(m).read() if m.isreg() else None
            out.append(
                (
                    m.name,
                    m.type,
                    m.size if m.isreg() else 0,
                    m.mode,
                    m.uid,
                    m.gid,
                    m.mtime,
                    m.linkname,
                    data,
                )
            )
        stream.verify()
    finally:
        stream.close()
    return out


def _tarfiles(blob: bytes) -> list[tuple[object, ...]]:
    out = []
    with tarfile.open(fileobj=io.BytesIO(blob)) as tf:
        for m in tf:
            f = tf.extractfile(m) if m.isreg() else None
            out.append(
                (
                    m.name,
                    m.type,
                    m.size if m.isreg() else 0,
                    m.mode,
                    m.uid,
                    m.gid,
                    int(m.mtime),
                    m.linkname,
                    f.read() if f else None,
                )
            )
    return out


@pytest.mark.parametrize(
    "fmt",
    [tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT, tarfile.PAX_FORMAT],
    ids=["ustar", "gnu", "pax"],
)
def test_members_agree_with_tarfile(fmt: int) -> None:
    blob = _tar(fmt)
    ours = _ours(blob)
    assert ours == _tarfiles(blob)
    assert len(ours) == len(_entries(fmt))


def test_a_global_pax_header_applies_to_the_members_after_it() -> None:
    buf = io.BytesIO()
    with tarfile.open(
        fileobj=buf,
        mode="w",
        format=tarfile.PAX_FORMAT,
        pax_headers={"uid": "4242", "uname": "builder"},
    ) as tf:
        for ti, data in _entries(tarfile.PAX_FORMAT):
            tf.addfile(ti, io.BytesIO(data) if data is not None else None)
    ours = _ours(buf.getvalue())
    assert ours == _tarfiles(buf.getvalue())
    assert {m[4] for m in ours if m[0] != "high-uid"} == {4242}


def test_a_bad_checksum_ends_the_archive_where_tarfile_ends_it() -> None:
    blob = bytearray(_tar(tarfile.USTAR_FORMAT))
    second = 512  # "etc" has no data blocks; "etc/hostname" follows
    stored = int(bytes(blob[second + 148 : second + 154]), 8)
    blob[second + 148 : second + 154] = b"%06o" % (stored + 1)
    assert (
        _ours(bytes(blob))
        == _tarfiles(bytes(blob))
        == [("etc", tarfile.DIRTYPE, 0, 0o755, 0, 0, 1_700_000_000, "", None)]
    )


def test_garbage_from_the_first_block_is_not_a_tar() -> None:
    with pytest.raises(ImageError, match="not a valid tar archive"):
        _ours(b"\x01" * 2048)


def test_a_v7_directory_is_a_directory() -> None:
    ti = tarfile.TarInfo("olddir/")  # a regular-file type with a trailing slash
    ti.type = tarfile.AREGTYPE
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tf:
        tf.addfile(ti)
    assert _ours(buf.getvalue()) == _tarfiles(buf.getvalue())
    assert _ours(buf.getvalue())[0][:2] == ("olddir", tarfile.DIRTYPE)


@pytest.mark.skipif(shutil.which("tar") is None, reason="needs GNU tar")
def test_gnu_sparse_files_are_read_through_tarfile(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    with open(src / "sparse", "wb") as f:
        f.write(b"head")
        f.seek(4 * 1024 * 1024)
        f.write(b"tail")
    (src / "after").write_text("after the sparse file")
    for fmt in ("gnu", "posix"):
        out = tmp_path / f"{fmt}.tar"
        subprocess.run(
            [
                "tar",
                f"--format={fmt}",
                "--sparse",
                "-cf",
                str(out),
                "-C",
                str(src),
                "sparse",
                "after",
            ],
            check=True,
        )
        blob = out.read_bytes()
        ours = _ours(blob)
        assert ours == _tarfiles(blob)
        sparse = next(m for m in ours if m[0] == "sparse")
        assert sparse[8] == b"head" + bytes(4 * 1024 * 1024 - 4) + b"tail"


def test_member_data_cannot_be_read_after_the_walk_moved_on() -> None:
    blob = _tar(tarfile.USTAR_FORMAT)
    stream = open_layer_stream(io.BytesIO(blob), "layer", None, None, None, Limits())
    members = TarMembers(stream.tar, "layer")
    it = iter(members)
    first_file = next(m for m in it if m.isreg())
    late = members.open(first_file)
    next(it), next(it)
    with pytest.raises(OSError, match="backwards"):
        late.read()
    stream.close()


def test_a_truncated_tar_is_an_error() -> None:
    blob = _tar(tarfile.USTAR_FORMAT)
    cut = blob[: 512 * 4 + 100]  # inside "d/…/file.txt"'s successor's data
    with pytest.raises(ImageError):
        _ours(cut)


def _rewrite(blob: bytearray, header: int, start: int, field: bytes) -> None:
    """Put ``field`` at ``start`` of the header at ``header`` and fix its checksum."""
    blob[header + start : header + start + len(field)] = field
    blob[header + 148 : header + 156] = b" " * 8
    blob[header + 148 : header + 156] = b"%06o\0 " % sum(blob[header : header + 512])


@pytest.mark.parametrize(
    "field",
    [
        b"0000644\0",
        b"644\0\0\0\0\0",
        b"  644  \0",
        b"\t644\0xyz",
        b"       \0",
        b"\0garbage",
        b"0000 644",
        b"6_4_4\0\0\0",
        b"-000644\0",
        b"0000648\0",
        b"\x80\0\0\0\0\0\x01\xa4",
        b"\xff\xff\xff\xff\xff\xff\xff\xff",
        b"\xc3\xa9\0\0\0\0\0\0",
    ],
)
@pytest.mark.parametrize(
    "where", [100, 108, 124, 136, 329], ids=["mode", "uid", "size", "mtime", "devmajor"]
)
def test_numeric_fields_read_as_tarfile_reads_them(field: bytes, where: int) -> None:
    """However a number is spelled (blanks, NULs, underscores, a sign, base-256, garbage),
    a member reads as tarfile reads it, or the archive stops where tarfile stops."""
    blob = bytearray(_tar(tarfile.USTAR_FORMAT))
    header = 512  # "etc/hostname", four bytes of data
    _rewrite(blob, header, where, field if where != 136 else field + b"\0" * 4)
    try:
        expected = _tarfiles(bytes(blob))
    except (tarfile.TarError, ValueError):
        expected = None
    if expected is None or any(m[2] < 0 for m in expected):
        # tarfile takes a negative base-256 size, and would read the archive backwards
        with pytest.raises(ImageError, match="corrupt tar archive"):
            _ours(bytes(blob))
        return
    assert _ours(bytes(blob)) == expected
