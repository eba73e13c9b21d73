"""The advisory database: OSV parsing, import (real ../shared/vulndata), lookups,
atomic rebuilds, and `db update` against a loopback HTTP mirror started here."""

from __future__ import annotations

import email.utils
import hashlib
import http.server
import json
import os
import shutil
import socket
import sqlite3
import threading
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from hullscan.errors import DatabaseError
from hullscan.vulndb import (
    ImportStats,
    MalformedAdvisory,
    VulnDB,
    age_warning,
    base_ecosystem,
    import_paths,
    normalize_name,
    open_db,
    parse_advisory,
)
from hullscan.vulndb.build import expand_paths, record_scope, trim_record
from hullscan.vulndb.osv import MAX_RECORD_BYTES, timestamp_key
from hullscan.vulndb.store import SCHEMA_VERSION
from hullscan.vulndb.update import update

from conftest import SHARED

HERE = Path(__file__).resolve().parent
FIXTURES = HERE / "fixtures" / "osv"
VULNDATA = SHARED / "vulndata"


def fixture(set_name: str, adv_id: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / set_name / f"{adv_id}.json").read_bytes())
    return data


def make_zip(path: Path, records: dict[str, bytes | str | dict[str, Any]]) -> Path:
    """An OSV-style all.zip: member name → content (dicts are JSON-encoded)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, content in records.items():
            if isinstance(content, dict):
                content = json.dumps(content)
            zf.writestr(name, content)
    return path


def fixture_zip(path: Path, *set_names: str) -> Path:
    """An all.zip of every fixture record of the given sets."""
    return make_zip(
        path,
        {f.name: f.read_bytes() for s in set_names for f in sorted((FIXTURES / s).glob("*.json"))},
    )


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


# -- names ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("eco", "name", "key"),
    [
        ("PyPI", "Django", "django"),
        ("PyPI", "zope.interface", "zope-interface"),
        ("PyPI", "Foo__Bar-.baz", "foo-bar-baz"),
        ("NuGet", "Newtonsoft.Json", "newtonsoft.json"),
        ("Packagist", "Symfony/Console", "symfony/console"),
        ("npm", "@Angular/core", "@Angular/core"),
        ("Maven", "org.apache.logging.log4j:log4j-core", "org.apache.logging.log4j:log4j-core"),
        ("Go", "github.com/BurntSushi/toml", "github.com/BurntSushi/toml"),
        ("Debian:12", "openssl", "openssl"),
        ("Alpine:v3.11", "py3-Foo_bar", "py3-Foo_bar"),
        ("crates.io", "Serde_json", "Serde_json"),
        ("RubyGems", "RedCloth", "RedCloth"),
    ],
)
def test_normalize_name(eco: str, name: str, key: str) -> None:
    assert normalize_name(eco, name) == key


def test_base_ecosystem() -> None:
    assert base_ecosystem("Debian:12") == "Debian"
    assert base_ecosystem("Alpine:v3.11") == "Alpine"
    assert base_ecosystem("Ubuntu:Pro:18.04:LTS") == "Ubuntu"
    assert base_ecosystem("PyPI") == "PyPI"


# -- parsing ----------------------------------------------------------------------------------


def test_parse_real_records() -> None:
    adv = parse_advisory((FIXTURES / "npm" / "NSWG-ECO-368.json").read_bytes())
    assert adv.id == "NSWG-ECO-368"
    assert adv.aliases == ("CVE-2018-3721",)
    assert adv.severity == (("CVSS_V3", "CVSS:3.0/AV:L/AC:H/PR:H/UI:R/S:U/C:N/I:N/A:L"),)
    assert adv.references == ("https://hackerone.com/reports/310443",)
    assert adv.database_specific == {"cvss_score": 2.5}
    (entry,) = adv.affected
    assert (entry.ecosystem, entry.name, entry.purl) == ("npm", "lodash", "pkg:npm/lodash")
    (rng,) = entry.ranges
    assert rng.type == "SEMVER"
    assert [(e.kind, e.value) for e in rng.events] == [("introduced", "0"), ("fixed", "4.17.5")]
    assert entry.database_specific["vulnerable_versions"] == "<4.17.5"

    dsa = parse_advisory(fixture("Debian-DSA", "DSA-1004-1"))
    assert dsa.not_affected == (("Debian:3.0", "vlc"),)
    assert dsa.database_specific["not_affected"] == [{"ecosystem": "Debian:3.0", "name": "vlc"}]
    assert dsa.modified == "2006-03-16T00:00:00Z"

    withdrawn = parse_advisory(fixture("PyPI", "PYSEC-2019-144"))
    assert withdrawn.withdrawn == "2022-09-09T05:28:00Z"
    assert "3.5.20170817" in withdrawn.affected[0].versions

    alpine = parse_advisory(fixture("Alpine", "ALPINE-CVE-2016-0682"))
    assert alpine.affected == () and alpine.modified is None  # real data has no modified

    go = parse_advisory(fixture("Go", "GO-2020-0001"))
    assert go.affected[0].ecosystem_specific["imports"][0]["path"] == "github.com/gin-gonic/gin"


def _good() -> dict[str, Any]:
    return fixture("npm", "NSWG-ECO-368")


def _with(path: list[Any], value: Any) -> dict[str, Any]:
    rec = _good()
    target: Any = rec
    for key in path[:-1]:
        target = target[key]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return rec


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        (_with(["id"], KeyError), "missing id"),
        (_with(["id"], ""), "missing id"),
        (_with(["id"], 42), "missing id"),
        (_with(["id"], "../../etc/passwd"), "invalid id"),
        (_with(["summary"], ["not", "a", "string"]), "summary: expected a string"),
        (_with(["aliases"], "CVE-2018-3721"), "aliases: expected an array"),
        (_with(["aliases"], [1]), "aliases: expected an array of strings"),
        (_with(["affected"], {"package": {}}), "affected: expected an array"),
        (_with(["affected", 0, "package", "name"], KeyError), "ecosystem and name are required"),
        (_with(["affected", 0, "ranges", 0, "type"], "RANGE"), "unknown range type"),
        (
            _with(["affected", 0, "ranges", 0, "events", 1], {"patched": "4.17.5"}),
            "unknown event kind",
        ),
        (_with(["affected", 0, "ranges", 0, "events", 1], {"fixed": 4}), "needs a version string"),
        (
            _with(["affected", 0, "ranges", 0, "events", 1], {"fixed": "1", "limit": "2"}),
            "exactly one key",
        ),
        (_with(["affected", 0, "ranges", 0, "events"], []), "needs events"),
        (_with(["affected", 0, "ranges", 0, "type"], "GIT"), "needs a repo"),
        (_with(["affected", 0, "versions"], [1, 2]), "versions: expected an array of strings"),
        (_with(["modified"], "yesterday"), "modified: not an RFC 3339 timestamp"),
        (_with(["severity"], [{"type": "CVSS_V3"}]), "severity"),
        (_with(["references"], [{"type": "WEB"}]), "references"),
        (_with(["database_specific"], [1]), "database_specific: expected an object"),
    ],
)
def test_malformed_records(record: dict[str, Any], reason: str) -> None:
    with pytest.raises(MalformedAdvisory, match=reason):
        parse_advisory(json.dumps(record))


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b'{"id": NaN}', "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply|not valid JSON"),
        (b'{"id": "X-1", "details": "' + b"a" * MAX_RECORD_BYTES + b'"}', "larger than"),
    ],
)
def test_malformed_json(text: bytes, reason: str) -> None:
    with pytest.raises(MalformedAdvisory, match=reason):
        parse_advisory(text)


def test_lenient_where_real_data_needs_it() -> None:
    rec = _good()
    rec["withdrawn"] = None  # null counts as absent
    rec["modified"] = "1-01-01T00:00:00Z"  # PYSEC-2024-55 really says this
    assert parse_advisory(rec).withdrawn is None
    rec["database_specific"] = {
        "not_affected": [{"ecosystem": "npm"}, "junk", {"ecosystem": "npm", "name": "x"}]
    }
    assert parse_advisory(rec).not_affected == (("npm", "x"),)
    assert timestamp_key("2024-01-01T00:00:00.123456789Z") > timestamp_key("2023-12-31")
    assert timestamp_key("2024-01-01T01:00:00+02:00") < timestamp_key("2024-01-01T00:00:00Z")
    assert timestamp_key(None) <= timestamp_key("0001-01-01T00:00:00Z")


# -- merging ----------------------------------------------------------------------------------


def test_trim_and_scope() -> None:
    dsa = fixture("Debian-DSA", "DSA-1004-1")
    assert record_scope(dsa) == {"Debian:3.1", "Debian:3.0"}
    trimmed = trim_record(dsa, frozenset({"Debian:3.0"}))
    assert trimmed is not None and trimmed["database_specific"]["not_affected"] == []
    assert [a["package"]["ecosystem"] for a in trimmed["affected"]] == ["Debian:3.1"]
    assert trim_record(dsa, frozenset({"Debian:3.0", "Debian:3.1"})) is None
    assert trim_record(dsa, frozenset()) is None
    assert dsa["database_specific"]["not_affected"]  # not modified in place


def _ids_and_ecos(db: VulnDB, eco: str, name: str) -> list[tuple[str, str, str]]:
    return [
        (a.id, e.ecosystem, e.ranges[0].events[-1].value)
        for a in db.advisories_for(eco, name)
        for e in a.affected
    ]


def test_same_id_resolved_per_ecosystem(tmp_path: Path) -> None:
    # Debian-11 and Debian-12 publish the same id: both kept, each with its own text
    dest = tmp_path / "osv.sqlite"
    stats = import_paths([FIXTURES / "Debian-11", FIXTURES / "Debian-12"], dest)
    assert (stats.added, stats.merged, stats.advisories) == (1, 1, 1)
    with open_db(dest) as db:
        (d11,) = db.advisories_for("Debian:11", "openssl")
        (d12,) = db.advisories_for("Debian:12", "openssl")
        assert "Debian 11" in d11.summary and "Debian 12" in d12.summary
        whole = db.get("DEBCL-CVE-2019-1547")
        assert whole is not None
        assert sorted(e.ecosystem for e in whole.affected) == ["Debian:11", "Debian:12"]
        assert db.meta().advisories == 1 and db.ecosystems() == {"Debian:11": 1, "Debian:12": 1}

    # an updated record about Debian:9 only: it wins there, the old one keeps Debian:10,
    # whichever order the two arrive in
    old = fixture("Debian-DSA", "DSA-4539-1")
    new = fixture("Debian-DSA", "DSA-4539-1")
    new["modified"] = "2024-01-01T00:00:00Z"
    new["summary"] = "openssl - corrected"
    new["affected"] = new["affected"][:1]
    new["affected"][0]["ranges"][0]["events"][1]["fixed"] = "1.1.0l-1~deb9u9"
    for order in ((old, new), (new, old)):
        zips = [
            make_zip(tmp_path / f"z{n}" / "all.zip", {"r.json": rec}) for n, rec in enumerate(order)
        ]
        import_paths(zips, dest, replace=True)
        with open_db(dest) as db:
            assert _ids_and_ecos(db, "Debian:9", "openssl") == [
                ("DSA-4539-1", "Debian:9", "1.1.0l-1~deb9u9")
            ]
            assert db.advisories_for("Debian:9", "openssl")[0].summary == "openssl - corrected"
            assert _ids_and_ecos(db, "Debian:10", "openssl") == [
                ("DSA-4539-1", "Debian:10", "1.1.1d-0+deb10u1")
            ]
            whole = db.get("DSA-4539-1")
            assert whole is not None and whole.summary == "openssl - corrected"
            assert len(whole.affected) == 2
            assert [a.id for a in db.by_alias("CVE-2019-1563")] == ["DSA-4539-1"]

    # the same record twice (as in OSV's per-ecosystem exports): one row
    import_paths([FIXTURES / "Debian-DSA", FIXTURES / "Debian-DSA"], dest, replace=True)
    with open_db(dest) as db:
        assert len(db.advisories_for("Debian:10", "openssl")) == 1
        assert db._conn.execute("SELECT COUNT(*) FROM advisories").fetchone() == (2,)


# -- import: the real data ------------------------------------------------------------------


@pytest.fixture(scope="module")
def full(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[VulnDB, ImportStats]]:
    """All of ../shared/vulndata, imported once for the module."""
    if not (VULNDATA / "PyPI" / "all.zip").is_file():
        pytest.skip(f"{VULNDATA} not found")
    dest = tmp_path_factory.mktemp("fulldb") / "osv.sqlite"
    seen: list[tuple[str, int, int | None]] = []
    stats = import_paths([VULNDATA], dest, progress=lambda *a: seen.append(a))
    assert seen and seen[-1][1] == seen[-1][2]
    db = open_db(dest)
    yield db, stats
    db.close()


def test_full_import_counts(full: tuple[VulnDB, ImportStats]) -> None:
    db, stats = full
    pypi = str((VULNDATA / "PyPI" / "all.zip").resolve())
    deb12 = str((VULNDATA / "Debian-12" / "all.zip").resolve())
    assert stats.per_source[pypi] == 2661  # every PyPI record, none skipped
    assert stats.per_source[deb12] == 18306
    assert len(stats.sources) == 9
    # Debian-11 and Debian-12 share 7,670 DEBCL ids: both kept
    assert stats.merged == 7670
    assert stats.records == stats.added + stats.merged
    assert stats.advisories == stats.added == db.meta().advisories
    # the one malformed real record: a placeholder id in Alpine's secdb
    assert stats.skipped == 1
    assert "ALPINE-CVE-????-?????" in stats.skipped_examples[0]
    ecos = db.ecosystems()
    assert ecos["Debian:12"] == 18306 and ecos["PyPI"] == 2661 and ecos["npm"] == 467
    assert ecos["Debian:11"] == 14261 + 410  # DEBCL + DSA entries for bullseye
    assert set(ecos) >= {"Alpine:v3.11", "Go", "crates.io", "RubyGems", "Debian:3.0"}
    meta = db.meta()
    assert meta.schema_version == SCHEMA_VERSION and meta.skipped == 1
    assert meta.sources[pypi].records == 2661 and meta.sources[pypi].kind == "zip"
    assert "Debian:12" in db.describe()


def test_lookup_pypi_django(full: tuple[VulnDB, ImportStats]) -> None:
    db, _ = full
    advs = db.advisories_for("PyPI", "Django")
    assert advs == db.advisories_for("PyPI", "django")
    assert len(advs) > 50
    assert all(a.id.startswith("PYSEC-") for a in advs)
    assert all(e.ecosystem == "PyPI" and e.name_key == "django" for a in advs for e in a.affected)
    on_32 = [a.id for a in advs if any("3.2" in e.versions for e in a.affected)]
    assert len(on_32) >= 5
    pysec_2007_1 = next(a for a in advs if a.id == "PYSEC-2007-1")
    assert pysec_2007_1.affected[0].ranges[0].events[-1].value == "1.1"


def test_lookup_debian_openssl(full: tuple[VulnDB, ImportStats]) -> None:
    db, _ = full
    advs = {a.id: a for a in db.advisories_for("Debian:12", "openssl")}
    assert len(advs) > 40
    assert all(i.startswith("DEBCL-CVE-") for i in advs)
    a = advs["DEBCL-CVE-2019-1547"]
    (entry,) = a.affected  # only the Debian:12 entry of the merged record
    assert entry.ecosystem == "Debian:12"
    assert [(e.kind, e.value) for e in entry.ranges[0].events] == [
        ("introduced", "0"),
        ("fixed", "1.1.1d-1"),
    ]
    assert a.aliases == ("CVE-2019-1547",)
    b11 = {a.id: a for a in db.advisories_for("Debian:11", "openssl")}
    assert b11["DEBCL-CVE-2019-1547"].affected[0].ecosystem == "Debian:11"
    assert "Debian 11 (bullseye)" in b11["DEBCL-CVE-2019-1547"].summary
    assert any(i.startswith("DSA-") for i in b11)  # the DSA set has bullseye fixes too
    assert db.advisories_for("Debian:12", "no-such-package") == []
    assert db.advisories_for("Debian:13", "openssl") == []


def test_lookup_other_ecosystems(full: tuple[VulnDB, ImportStats]) -> None:
    db, _ = full
    lodash = {a.id: a for a in db.advisories_for("npm", "lodash")}
    assert "NSWG-ECO-368" in lodash
    assert lodash["NSWG-ECO-368"].affected[0].ranges[0].events[1].value == "4.17.5"
    assert "GO-2020-0001" in {a.id for a in db.advisories_for("Go", "github.com/gin-gonic/gin")}
    assert db.advisories_for("crates.io", "openssl")
    assert db.advisories_for("Alpine:v3.11", "openssl")
    # withdrawn advisories only when asked for
    assert db.advisories_for("PyPI", "arrayfire") == []
    (w,) = db.advisories_for("PyPI", "arrayfire", include_withdrawn=True)
    assert w.id == "PYSEC-2019-144" and w.withdrawn


def test_alias_and_get(full: tuple[VulnDB, ImportStats]) -> None:
    db, _ = full
    ids = [a.id for a in db.by_alias("CVE-2019-1547")]
    assert {"DEBCL-CVE-2019-1547", "ALPINE-CVE-2019-1547", "DSA-4539-1", "DLA-1932-1"} <= set(ids)
    assert ids == sorted(ids)
    debcl = db.get("DEBCL-CVE-2019-1547")
    assert debcl is not None
    assert {e.ecosystem for e in debcl.affected} == {"Debian:11", "Debian:12"}
    assert [a.id for a in db.by_alias("DSA-4539-1")] == ["DSA-4539-1"]
    assert db.get("NOPE-1") is None and db.by_alias("CVE-1999-99999999") == []


def test_not_affected(full: tuple[VulnDB, ImportStats]) -> None:
    db, _ = full
    assert db.not_affected("Debian:3.0", "vlc") == {"DSA-1004-1"}
    assert "ALPINE-CVE-2016-0682" in db.not_affected("Alpine:v3.8", "db")
    assert "CVE-2016-0682" in db.not_affected("Alpine:v3.8", "db", include_aliases=True)
    assert db.not_affected("Debian:12", "vlc") == set()


def test_reader_is_read_only(full: tuple[VulnDB, ImportStats]) -> None:
    db, _ = full
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        db._conn.execute("DELETE FROM meta")


# -- import: behaviour ------------------------------------------------------------------------


def test_import_adds_and_newer_wins(tmp_path: Path) -> None:
    dest = tmp_path / "db" / "osv.sqlite"
    first = import_paths([fixture_zip(tmp_path / "a" / "all.zip", "Debian-DSA")], dest)
    assert (first.added, first.kept) == (2, 0)
    second = import_paths([FIXTURES / "npm", FIXTURES / "Go" / "GO-2020-0001.json"], dest)
    assert (second.added, second.kept, second.advisories) == (2, 2, 4)
    with open_db(dest) as db:
        assert db.advisories_for("npm", "lodash") and db.not_affected("Debian:3.0", "vlc")
        assert db.advisories_for("Debian:10", "openssl")
        assert len(db.meta().sources) == 3
    newer = fixture("Debian-DSA", "DSA-4539-1")
    newer["modified"] = "2030-01-01T00:00:00Z"
    newer["affected"][1]["ranges"][0]["events"][1]["fixed"] = "9.9.9"  # the Debian:10 entry
    older = fixture("Debian-DSA", "DSA-4539-1")
    older["modified"] = "2000-01-01T00:00:00Z"
    older["affected"][1]["ranges"][0]["events"][1]["fixed"] = "0.0.1"
    third = import_paths(
        [
            make_zip(tmp_path / "b" / "all.zip", {"new.json": newer}),
            make_zip(tmp_path / "c" / "all.zip", {"old.json": older}),
        ],
        dest,
    )
    assert (third.added, third.merged, third.advisories) == (0, 2, 4)
    with open_db(dest) as db:
        (adv,) = db.advisories_for("Debian:10", "openssl")
        assert adv.affected[0].ranges[0].events[1].value == "9.9.9"
        assert adv.modified == "2030-01-01T00:00:00Z"
    replaced = import_paths([FIXTURES / "npm"], dest, replace=True)
    assert (replaced.kept, replaced.advisories) == (0, 1)
    with open_db(dest) as db:
        assert db.advisories_for("Debian:10", "openssl") == []
        assert list(db.meta().sources) == [str((FIXTURES / "npm").resolve())]
    assert leftovers(dest.parent) == []


def test_expand_paths(tmp_path: Path) -> None:
    tree = tmp_path / "mirror"
    fixture_zip(tree / "PyPI" / "all.zip", "PyPI")
    fixture_zip(tree / "deep" / "npm" / "all.zip", "npm")
    shutil.copy(FIXTURES / "Go" / "GO-2020-0001.json", tree / "GO-2020-0001.json")
    (tree / "README.md").write_text("not a record")
    specs = expand_paths([tree])
    assert [(s.kind, Path(s.label).relative_to(tree.resolve()).as_posix()) for s in specs] == [
        ("dir", "."),
        ("zip", "PyPI/all.zip"),
        ("zip", "deep/npm/all.zip"),
    ]
    assert specs[1].etag  # size-mtime, used by `db update` from a directory
    with pytest.raises(DatabaseError, match="no such file"):
        expand_paths([tmp_path / "missing"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatabaseError, match="no OSV records"):
        expand_paths([tmp_path / "empty"])
    (tmp_path / "x.txt").write_text("hello")
    with pytest.raises(DatabaseError, match="not an OSV JSON file"):
        expand_paths([tmp_path / "x.txt"])


def test_malformed_records_are_counted_not_fatal(tmp_path: Path) -> None:
    big = b'{"id": "BIG-1", "details": "' + b" " * (MAX_RECORD_BYTES + 10) + b'"}'
    bad = _good()
    bad["affected"][0]["ranges"][0]["events"].append({"patched": "1"})
    archive = make_zip(
        tmp_path / "all.zip",
        {
            "NSWG-ECO-368.json": _good(),
            "no-id.json": {"summary": "no id"},
            "bad-event.json": bad,
            "broken.json": "{broken",
            "array.json": "[]",
            "big.json": big,
            "README.txt": "ignored: not .json",
            "nested/GO-2020-0001.json": fixture("Go", "GO-2020-0001"),
        },
    )
    stats = import_paths([archive], tmp_path / "osv.sqlite")
    assert (stats.records, stats.skipped, stats.advisories) == (2, 5, 2)
    text = "\n".join(stats.skipped_examples)
    for reason in (
        "missing id",
        "unknown event kind",
        "not valid JSON",
        "not a JSON object",
        "larger than",
    ):
        assert reason in text
    assert "5 malformed" in stats.summary()
    with open_db(tmp_path / "osv.sqlite") as db:
        assert db.meta().skipped == 5
        assert [a.id for a in db.advisories_for("npm", "lodash")] == ["NSWG-ECO-368"]


def test_corrupt_zip_keeps_old_db(tmp_path: Path) -> None:
    dest = tmp_path / "osv.sqlite"
    import_paths([FIXTURES / "npm"], dest)
    before = dest.read_bytes()
    garbage = tmp_path / "bad" / "all.zip"
    garbage.parent.mkdir()
    garbage.write_bytes(b"PK\x03\x04 this is not really a zip" * 100)
    with pytest.raises(DatabaseError, match="not a readable zip"):
        import_paths([FIXTURES / "PyPI", garbage], dest)
    # a zip whose directory is fine but whose member data is damaged
    damaged = fixture_zip(tmp_path / "damaged" / "all.zip", "PyPI")
    raw = bytearray(damaged.read_bytes())
    start = raw.index(b"PK\x03\x04") + 30 + len("PYSEC-2007-1.json")
    raw[start + 10 : start + 60] = b"\x00" * 50
    damaged.write_bytes(bytes(raw))
    with pytest.raises(DatabaseError, match="corrupt zip"):
        import_paths([damaged], dest)
    assert dest.read_bytes() == before
    assert leftovers(tmp_path) == []
    with open_db(dest) as db:
        assert db.advisories_for("npm", "lodash")


def test_refuses_to_overwrite_other_files(tmp_path: Path) -> None:
    other = tmp_path / "important.sqlite"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE notes (x)")
    conn.commit()
    conn.close()
    text = tmp_path / "notes.txt"
    text.write_text("my notes " * 100)
    for path in (other, text):
        before = path.read_bytes()
        with pytest.raises(DatabaseError, match="not a hullscan vulnerability database"):
            import_paths([FIXTURES / "npm"], path)
        assert path.read_bytes() == before
        with pytest.raises(DatabaseError):
            open_db(path)


def test_atomic_swap_while_reader_holds_old_db(tmp_path: Path) -> None:
    dest = tmp_path / "osv.sqlite"
    import_paths([FIXTURES / "npm"], dest)
    reader = open_db(dest)
    try:
        assert reader.advisories_for("npm", "lodash")
        import_paths([FIXTURES / "PyPI"], dest, replace=True)
        # the open reader still sees the old file, complete and consistent
        assert [a.id for a in reader.advisories_for("npm", "lodash")] == ["NSWG-ECO-368"]
        assert reader.advisories_for("PyPI", "django") == []
        assert reader.meta().advisories == 1
        with open_db(dest) as fresh:
            assert fresh.advisories_for("npm", "lodash") == []
            assert [a.id for a in fresh.advisories_for("PyPI", "django")] == ["PYSEC-2007-1"]
    finally:
        reader.close()


def test_open_db_and_age(tmp_path: Path) -> None:
    with pytest.raises(DatabaseError, match=r"hullscan db update.*hullscan db import"):
        open_db(tmp_path / "missing.sqlite")
    dest = tmp_path / "osv.sqlite"
    import_paths([FIXTURES / "npm"], dest)
    with open_db(dest) as db:
        assert age_warning(db) is None
        later = datetime.now(UTC) + timedelta(days=30)
        warning = age_warning(db, 7, now=later)
        assert warning is not None and "hullscan db update" in warning and "30 days" in warning
        assert age_warning(db, 60, now=later) is None


def test_relative_and_odd_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    name = "odd ?#%name.sqlite"
    import_paths([FIXTURES / "npm"], name)
    import_paths([FIXTURES / "PyPI"], Path(name))
    with open_db(name) as db:
        assert db.meta().advisories == 3
    with pytest.raises(DatabaseError, match="nothing to import"):
        import_paths([], name)


def test_default_db_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from hullscan.cache import database_path

    monkeypatch.setenv("HULLSCAN_CACHE_DIR", str(tmp_path / "c"))
    assert database_path() == tmp_path / "c" / "db" / "osv.sqlite"


# -- update from a loopback mirror ------------------------------------------------------------


class Mirror(http.server.ThreadingHTTPServer):
    """Serves ``root`` like a static bucket: ETag, Last-Modified, 304s; logs requests."""

    def __init__(self, root: Path) -> None:
        super().__init__(("127.0.0.1", 0), MirrorHandler)
        self.root = root
        self.log: list[tuple[str, int, int]] = []  # (path, status, body bytes)
        self.fail: dict[str, int] = {}
        self.ignore_conditional = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class MirrorHandler(http.server.BaseHTTPRequestHandler):
    server: Mirror

    def do_GET(self) -> None:
        srv = self.server
        if self.path in srv.fail:
            return self._reply(srv.fail[self.path], b"broken")
        f = srv.root / self.path.lstrip("/")
        if ".." in self.path or not f.is_file():
            return self._reply(404, b"not found")
        body = f.read_bytes()
        etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
        mtime = int(f.stat().st_mtime)
        headers = {"ETag": etag, "Last-Modified": email.utils.formatdate(mtime, usegmt=True)}
        inm, ims = self.headers.get("If-None-Match"), self.headers.get("If-Modified-Since")
        if srv.ignore_conditional:
            pass
        elif inm is not None:
            if etag in [t.strip() for t in inm.split(",")]:
                return self._reply(304, b"", headers)
        elif ims is not None:
            since = email.utils.parsedate_to_datetime(ims).timestamp()
            if mtime <= since:
                return self._reply(304, b"", headers)
        self._reply(200, body, {**headers, "Content-Type": "application/zip"})

    def _reply(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        if not self.path.startswith(("/kev/", "/epss/")):  # exploitation data: own tests
            self.server.log.append((self.path, status, len(body)))
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if status != 304:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if status != 304:
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def mirror(tmp_path: Path) -> Iterator[Mirror]:
    root = tmp_path / "mirror"
    fixture_zip(root / "PyPI" / "all.zip", "PyPI")
    fixture_zip(root / "npm" / "all.zip", "npm")
    srv = Mirror(root)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join(5)


def test_update_conditional(mirror: Mirror, tmp_path: Path) -> None:
    dest, cache = tmp_path / "db" / "osv.sqlite", tmp_path / "cache"
    first = update(dest, mirror.url, ["PyPI", "npm"], cache_dir=cache)
    assert [(f.ecosystem, f.status) for f in first.fetched[:2]] == [
        ("PyPI", "downloaded"),
        ("npm", "downloaded"),
    ]
    assert first.imported is not None and first.imported.advisories == 3
    assert [s for _, s, _ in mirror.log] == [200, 200]
    with open_db(dest) as db:
        assert db.advisories_for("npm", "lodash")
        src = db.meta().sources[f"{mirror.url}/npm/all.zip"]
        assert src.kind == "url" and src.etag and src.last_modified
        assert db.meta().checked_at

    # unchanged: two 304s, nothing downloaded, the file is not rebuilt
    inode = dest.stat().st_ino
    mirror.log.clear()
    second = update(dest, mirror.url, ["PyPI", "npm"], cache_dir=cache)
    assert second.imported is None and second.changed == ()
    assert mirror.log == [("/PyPI/all.zip", 304, 0), ("/npm/all.zip", 304, 0)]
    assert dest.stat().st_ino == inode
    assert "nothing changed" in second.summary()
    mirror.ignore_conditional = True  # a server that always answers 200: same ETag, kept
    assert update(dest, mirror.url, ["PyPI"], cache_dir=cache).imported is None
    assert dest.stat().st_ino == inode
    mirror.ignore_conditional = False

    # npm changes upstream: only npm is downloaded; PyPI content is kept
    updated = fixture("npm", "NSWG-ECO-368")
    updated["modified"] = "2030-01-01T00:00:00Z"
    make_zip(
        mirror.root / "npm" / "all.zip",
        {"NSWG-ECO-368.json": updated, "GO-2020-0001.json": fixture("Go", "GO-2020-0001")},
    )
    mirror.log.clear()
    third = update(dest, mirror.url, None, cache_dir=cache)  # default: what the DB has
    assert [(p, s) for p, s, _ in mirror.log] == [("/PyPI/all.zip", 304), ("/npm/all.zip", 200)]
    assert third.changed == ("npm",)
    with open_db(dest) as db:
        assert db.advisories_for("npm", "lodash")[0].modified == "2030-01-01T00:00:00Z"
        assert db.advisories_for("PyPI", "django")
        assert db.advisories_for("Go", "github.com/gin-gonic/gin")
    assert list((cache / "tmp").iterdir()) == []  # downloads are removed


def test_update_errors_keep_old_db(mirror: Mirror, tmp_path: Path) -> None:
    dest, cache = tmp_path / "osv.sqlite", tmp_path / "cache"
    update(dest, mirror.url, ["npm"], cache_dir=cache)
    before = dest.read_bytes()
    with pytest.raises(DatabaseError, match="HTTP 404"):
        update(dest, mirror.url, ["npm", "NoSuchEcosystem"], cache_dir=cache)
    make_zip(mirror.root / "npm" / "all.zip", {"GO-2020-0001.json": fixture("Go", "GO-2020-0001")})
    mirror.fail["/PyPI/all.zip"] = 500
    with pytest.raises(DatabaseError, match="HTTP 500"):
        update(dest, mirror.url, ["npm", "PyPI"], cache_dir=cache)
    (mirror.root / "npm" / "all.zip").write_bytes(b"PK\x03\x04 garbage" * 50)
    with pytest.raises(DatabaseError, match="not a readable zip"):
        update(dest, mirror.url, ["npm"], cache_dir=cache)
    fixture_zip(mirror.root / "npm" / "all.zip", "npm", "Go")
    with pytest.raises(DatabaseError, match="allowed"):
        update(dest, mirror.url, ["npm"], cache_dir=cache, max_bytes=100)
    assert dest.read_bytes() == before
    assert list((cache / "tmp").iterdir()) == [] and leftovers(tmp_path) == []


def test_update_network_failure_and_offline(mirror: Mirror, tmp_path: Path) -> None:
    dest = tmp_path / "osv.sqlite"
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(DatabaseError, match="download failed"):
        update(dest, f"http://127.0.0.1:{port}", ["npm"], cache_dir=tmp_path / "c", timeout=5)
    assert not dest.exists()
    with pytest.raises(DatabaseError, match="--offline"):
        update(dest, mirror.url, ["npm"], offline=True, cache_dir=tmp_path / "c")
    assert mirror.log == []
    with pytest.raises(DatabaseError, match="unsupported scheme"):
        update(dest, "ftp://example.org/osv", ["npm"], cache_dir=tmp_path / "c")
    with pytest.raises(DatabaseError, match="not an OSV ecosystem name"):
        update(dest, mirror.url, ["../etc"], cache_dir=tmp_path / "c")


def test_update_from_directory(tmp_path: Path) -> None:
    root = tmp_path / "mirror"
    fixture_zip(root / "npm" / "all.zip", "npm")
    dest = tmp_path / "osv.sqlite"
    first = update(dest, str(root), ["npm"], offline=True, cache_dir=tmp_path / "c")
    assert [f.status for f in first.fetched] == ["read"]
    second = update(dest, root.as_uri(), ["npm"], cache_dir=tmp_path / "c")
    assert [f.status for f in second.fetched] == ["unchanged"] and second.imported is None
    fixture_zip(root / "npm" / "all.zip", "npm", "PyPI")
    os.utime(root / "npm" / "all.zip", (1, 1))  # a different mtime, whatever the clock
    third = update(dest, str(root), None, cache_dir=tmp_path / "c")
    assert third.changed == ("npm",)
    with open_db(dest) as db:
        assert db.advisories_for("PyPI", "django")
    with pytest.raises(DatabaseError, match="not found"):
        update(dest, str(root), ["Debian"], cache_dir=tmp_path / "c")


def test_every_rebuild_is_a_new_version(tmp_path: Path) -> None:
    """``built_at`` keys the server's jobs and wakes the rematch watcher: two imports
    within one second must still give two versions, each later than the last."""
    dest = tmp_path / "osv.sqlite"
    versions = []
    for _ in range(3):
        import_paths([FIXTURES / "Debian-12"], dest)
        with open_db(dest) as db:
            versions.append(db.meta().built_at)
    assert len(set(versions)) == 3
    assert versions == sorted(versions, key=datetime.fromisoformat)
