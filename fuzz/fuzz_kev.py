"""Fuzz CISA's Known Exploited Vulnerabilities catalog as ``db import``/``db update`` read
it: ``read_kev`` on the file, then the rows into the database's ``kev`` table.

Checked: only ``DatabaseError`` escapes, with a short message; every row that comes back
was validated (a CVE id, ``YYYY-MM-DD`` dates, ransomware ``Known``/``Unknown``) and is
the entry at the same place in the document, so nothing is invented or reordered; the
table holds exactly the distinct CVEs; sniffing the file's kind never fails.
"""

from __future__ import annotations

import json
import re
import sqlite3

from contract import ContractViolation, check_bounded, expect, instrumented, main, scratch_dir

with instrumented():
    from hullscan.errors import DatabaseError
    from hullscan.vulndb.build import SourceSpec, _load_exploits
    from hullscan.vulndb.exploits import data_kind, read_kev
    from hullscan.vulndb.store import SCHEMA

ROOT = scratch_dir("kev")
FILE = ROOT / "known_exploited_vulnerabilities.json"
SNIFFED = ROOT / "catalog"  # no telling name: data_kind reads the first bytes
CVE = re.compile(r"CVE-\d{4}-\d{4,}")
DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
#: an error message names the file and the entry, it does not repeat the input
MAX_MESSAGE = 600
CONN = sqlite3.connect(":memory:")
CONN.executescript(SCHEMA)


def _message(e: DatabaseError) -> None:
    check_bounded(len(str(e)), MAX_MESSAGE, "error message")


def test_one_input(data: bytes) -> None:
    FILE.write_bytes(data)
    SNIFFED.write_bytes(data)
    if data_kind(SNIFFED) not in (None, "kev", "epss"):
        raise ContractViolation("data_kind answered something else than kev, epss or None")
    try:
        catalog = read_kev(FILE, str(FILE))
    except DatabaseError as e:
        _message(e)
        return
    doc = json.loads(data)  # read_kev accepted it: it is JSON
    entries = doc["vulnerabilities"]
    if len(catalog.rows) != len(entries):
        raise ContractViolation(f"{len(entries)} entries became {len(catalog.rows)} rows")
    if not isinstance(catalog.version, str) or not isinstance(catalog.released, str):
        raise ContractViolation("catalog version or release date is not a string")
    for entry, (cve, added, due, ransomware) in zip(entries, catalog.rows, strict=True):
        if cve != entry["cveID"] or not CVE.fullmatch(cve):
            raise ContractViolation(f"row {cve!r} for entry {entry.get('cveID')!r}")
        if not DATE.fullmatch(added) or not (due == "" or DATE.fullmatch(due)):
            raise ContractViolation(f"{cve}: dates {added!r}, {due!r} were not validated")
        if ransomware not in ("Known", "Unknown"):
            raise ContractViolation(f"{cve}: ransomware {ransomware!r}")
    # into the table, as a build does (INSERT OR REPLACE: a repeated CVE is one row)
    CONN.execute("BEGIN")
    try:
        meta = expect(
            lambda: _load_exploits(CONN, SourceSpec(FILE, "fuzz", "file", data="kev"), None),
            (DatabaseError,),
        )
        stored = CONN.execute("SELECT count(*) FROM kev").fetchone()[0]
    finally:
        CONN.execute("ROLLBACK")
    if meta is None or meta["entries"] != len(catalog.rows):
        raise ContractViolation("the table load disagrees with read_kev")
    if stored != len({r[0] for r in catalog.rows}):
        raise ContractViolation(f"{stored} rows stored for {len(catalog.rows)} entries")


if __name__ == "__main__":
    main(test_one_input)
