"""Fuzz FIRST's EPSS scores file as ``db import``/``db update`` read it: ``read_epss`` (the
comment line, the header, then each row, through gzip or not) and the rows into the
database's ``epss`` table.

The first byte picks how the rest is stored: 0 as written (plain CSV, or whatever bytes the
fuzzer made), 1 gzip-compressed (so the CSV mutations reach the parser through the gzip
reader), 2 gzip-compressed and cut short (a truncated download).

Checked: only ``DatabaseError`` escapes, with a short message, whether raised by
``read_epss`` or while its rows are read; every row is a CVE id with finite scores in
[0, 1]; there are no more rows than lines; the same CSV gives the same header and rows
plain and gzipped; the table holds exactly the distinct CVEs.
"""

from __future__ import annotations

import gzip
import math
import re
import sqlite3
from pathlib import Path

from contract import ContractViolation, check_bounded, expect, instrumented, main, scratch_dir

with instrumented():
    from hullscan.errors import DatabaseError
    from hullscan.vulndb.build import SourceSpec, _load_exploits
    from hullscan.vulndb.exploits import EpssHeader, data_kind, read_epss
    from hullscan.vulndb.store import SCHEMA

ROOT = scratch_dir("epss")
PLAIN = ROOT / "epss_scores-current.csv"
GZIPPED = ROOT / "epss_scores-current.csv.gz"
CVE = re.compile(r"CVE-\d{4}-\d{4,}")
MAX_MESSAGE = 600
CONN = sqlite3.connect(":memory:")
CONN.executescript(SCHEMA)

Rows = list[tuple[str, float, float]]


def _read(path: Path) -> tuple[EpssHeader, Rows] | None:
    """Header and every row, or None for a refused file (checked: a short message)."""
    try:
        header, rows = read_epss(path, path.name)
        return header, list(rows)
    except DatabaseError as e:
        check_bounded(len(str(e)), MAX_MESSAGE, "error message")
        return None


def _check(read: tuple[EpssHeader, Rows], csv_text: bytes | None) -> None:
    header, rows = read
    if not isinstance(header.model_version, str) or not isinstance(header.score_date, str):
        raise ContractViolation("header fields are not strings")
    if csv_text is not None:
        check_bounded(len(rows), csv_text.count(b"\n") + csv_text.count(b"\r") + 1, "rows")
    for cve, score, pct in rows:
        if not CVE.fullmatch(cve):
            raise ContractViolation(f"row {cve!r} is not a CVE id")
        for value in (score, pct):
            if not (isinstance(value, float) and math.isfinite(value) and 0 <= value <= 1):
                raise ContractViolation(f"{cve}: score {value!r} not in [0, 1]")


def _load(path: Path, rows: Rows) -> None:
    CONN.execute("BEGIN")
    try:
        meta = expect(
            lambda: _load_exploits(CONN, SourceSpec(path, "fuzz", "file", data="epss"), None),
            (DatabaseError,),
        )
        stored = CONN.execute("SELECT count(*) FROM epss").fetchone()[0]
    finally:
        CONN.execute("ROLLBACK")
    if meta is None or meta["entries"] != len(rows):
        raise ContractViolation("the table load disagrees with read_epss")
    if stored != len({r[0] for r in rows}):
        raise ContractViolation(f"{stored} rows stored for {len(rows)} read")


def test_one_input(data: bytes) -> None:
    if not data:
        return
    how, body = data[0] % 3, data[1:]
    if how == 0:
        PLAIN.write_bytes(body)
        # bytes that start as gzip are read as gzip: their lines are not the CSV's
        path, csv_text = PLAIN, (None if body[:2] == b"\x1f\x8b" else body)
    else:
        packed = gzip.compress(body, mtime=0)
        if how == 2:
            packed = packed[: max(2, len(packed) * 2 // 3)]
        GZIPPED.write_bytes(packed)
        path, csv_text = GZIPPED, (body if how == 1 else None)
    if data_kind(path) != "epss":
        raise ContractViolation("an EPSS file name was not taken for EPSS")
    read = _read(path)
    if how == 1:  # the same CSV, not compressed: the same answer
        PLAIN.write_bytes(body)
        if body[:2] != b"\x1f\x8b" and _read(PLAIN) != read:
            raise ContractViolation("gzip and plain CSV of the same text read differently")
    if read is None:
        return
    _check(read, csv_text)
    _load(path, read[1])


if __name__ == "__main__":
    main(test_one_input)
