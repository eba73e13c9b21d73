"""Build the advisory database from OSV records: directories of ``*.json``, ``all.zip``
exports, or directories holding any of those (recursively).

Every import builds a NEW file next to the destination and swaps it in with
``os.replace``: a scan that has the old file open keeps reading the old inode, and
a failure (corrupt zip, full disk, Ctrl-C) leaves the old database untouched and
the temporary file removed.

Import ADDS to what the database already holds: the existing advisories are
copied into the new file first, then the new records are merged in by id and
ecosystem (see ``_Builder``): for each ecosystem a record speaks about, the one
with the newer ``modified`` wins, so an updated export replaces its old entries,
while records that share an id across sets (Debian-11 and Debian-12 both have
DEBCL-CVE-…) are both kept, each with its own text. ``replace=True`` starts from an
empty database instead. Records deleted upstream stay until a ``replace`` import;
OSV withdraws rather than deletes, so this is rare.

Malformed records are skipped and counted, never fatal; an unreadable archive is.
Archives are read in place, never extracted: member sizes, member count and the
total inflated size are bounded, and members not named ``*.json`` are ignored.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import tempfile
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hullscan.atomicfile import exclusive_lock
from hullscan.errors import DatabaseError
from hullscan.vulndb.exploits import KEV_FILE, data_kind, read_epss, read_kev
from hullscan.vulndb.names import normalize_name
from hullscan.vulndb.osv import (
    MAX_RECORD_BYTES,
    MalformedAdvisory,
    loads_record,
    not_affected_entries,
    parse_advisory,
    real_timestamp,
    timestamp_key,
)
from hullscan.vulndb.store import (
    ID_INDEX,
    SCHEMA,
    SCHEMA_VERSION,
    compress_record,
    decompress_record,
    read_meta_table,
    ro_uri,
)

MAX_ZIP_MEMBERS = 2_000_000
#: per archive; OSV's largest export inflates to a few GB
MAX_INFLATED_BYTES = 16 * 1024**3
MAX_SKIPPED_EXAMPLES = 10
_BATCH = 2000
_CHUNK = 1024 * 1024
_PROGRESS_EVERY = 1000

#: progress(source label, records read so far, total records or None if unknown)
ProgressFn = Callable[[str, int, int | None], None]


@dataclass(frozen=True)
class SourceSpec:
    """One input of a build: an all.zip, a directory of JSON files, or one JSON file.

    ``label`` is what the database's meta calls it (an absolute path, or the URL a
    download came from); ``etag``/``last_modified`` are kept for conditional updates.
    """

    path: Path
    label: str
    kind: str  # "zip" | "dir" | "file" | "url" (a downloaded file)
    etag: str | None = None
    last_modified: str | None = None
    #: "osv" advisories, "kev" (CISA's catalog JSON) or "epss" (FIRST's CSV)
    data: str = "osv"


@dataclass(frozen=True)
class ImportStats:
    dest: Path
    sources: tuple[str, ...]
    #: valid records read
    records: int
    #: advisory ids new to the database
    added: int
    #: records whose id the database (or an earlier source of this import) already had;
    #: resolved per ecosystem (see _Builder)
    merged: int
    #: malformed records skipped
    skipped: int
    skipped_examples: tuple[str, ...]
    #: advisories carried over from the previous database
    kept: int
    #: advisory ids in the new database
    advisories: int
    seconds: float
    db_bytes: int
    per_source: dict[str, int] = field(default_factory=dict, hash=False)
    #: entries of a KEV catalog or EPSS file this import loaded: {"kev": n, "epss": n}
    exploits: dict[str, int] = field(default_factory=dict, hash=False)

    def summary(self) -> str:
        s = (
            f"{self.records} records from {len(self.sources)} source(s): {self.added} new, "
            f"{self.merged} merged; {self.advisories} advisories in "
            f"{self.db_bytes / 1e6:.1f} MB, {self.seconds:.1f} s"
        )
        if "kev" in self.exploits:
            s += f"; CISA KEV: {self.exploits['kev']} entries"
        if "epss" in self.exploits:
            s += f"; EPSS: {self.exploits['epss']} scores"
        if self.skipped:
            s += f"; {self.skipped} malformed record(s) skipped, e.g. " + "; ".join(
                self.skipped_examples[:3]
            )
        return s


def import_paths(
    paths: Iterable[Path | str],
    dest_db: Path | str,
    progress: ProgressFn | None = None,
    *,
    replace: bool = False,
) -> ImportStats:
    """Import OSV records from ``paths`` into ``dest_db`` (adding to its content unless
    ``replace``), atomically. Raises ``DatabaseError`` for unusable inputs."""
    specs = expand_paths(paths)
    if not specs:
        raise DatabaseError("nothing to import: no paths given")
    dest = Path(dest_db)
    with db_lock(dest):
        return build(specs, dest, progress, replace=replace)


def expand_paths(paths: Iterable[Path | str]) -> list[SourceSpec]:
    """The sources under each path, in a stable order: every ``*.zip`` is a source of
    its own; loose ``*.json`` files under a directory form one source per directory
    argument."""
    specs: list[SourceSpec] = []
    for p in map(Path, paths):
        try:
            specs += _expand_one(p)
        except OSError as e:
            raise DatabaseError(f"{p}: {e.strerror or e}") from None
    return specs


def _expand_one(p: Path) -> list[SourceSpec]:
    if p.is_dir():
        found = _expand_dir(p)
        if not found:
            raise DatabaseError(f"{p}: no OSV records (*.json or *.zip) found")
        return found
    if not p.is_file():
        raise DatabaseError(f"{p}: no such file or directory")
    if (data := data_kind(p)) is not None:
        return [file_spec(p, "file", data)]
    if _is_zip(p):
        return [file_spec(p, "zip")]
    if p.name.lower().endswith(".json"):
        return [file_spec(p, "file")]
    raise DatabaseError(
        f"{p}: not an OSV JSON file, an all.zip, a KEV catalog, an EPSS file or a directory"
    )


def _expand_dir(root: Path) -> list[SourceSpec]:
    zips: list[SourceSpec] = []
    has_json = False
    # symlinked directories are not followed (loops); symlinked files are
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            lower = name.lower()
            if lower.endswith(".zip"):
                zips.append(file_spec(Path(dirpath) / name, "zip"))
            elif lower == KEV_FILE or lower.endswith((".csv", ".csv.gz")):
                zips.append(
                    file_spec(Path(dirpath) / name, "file", "kev" if lower == KEV_FILE else "epss")
                )
            elif lower.endswith(".json"):
                has_json = True
    out = [SourceSpec(root, str(root.resolve()), "dir")] if has_json else []
    return out + zips


def file_spec(path: Path, kind: str, data: str = "osv") -> SourceSpec:
    st = path.stat()
    # size + mtime stands in for an ETag, so `db update` from a directory can skip
    # an unchanged all.zip the way it skips an HTTP 304
    return SourceSpec(
        path,
        str(path.resolve()),
        kind,
        etag=f"{st.st_size}-{st.st_mtime_ns}",
        last_modified=datetime.fromtimestamp(st.st_mtime, UTC).isoformat(),
        data=data,
    )


def _is_zip(path: Path) -> bool:
    if path.name.lower().endswith(".zip"):
        return True
    with path.open("rb") as f:
        return f.read(4) in (b"PK\x03\x04", b"PK\x05\x06")


# -- reading records ------------------------------------------------------------------------


def _read_records(spec: SourceSpec) -> Iterator[tuple[str, bytes | MalformedAdvisory, int | None]]:
    """(member name, JSON bytes or the reason it is unusable, total if known)."""
    if spec.kind in ("zip", "url"):
        yield from _zip_records(spec.path, spec.label)
    elif spec.kind == "file":
        yield spec.path.name, _read_file(spec.path), 1
    else:
        for dirpath, dirnames, filenames in os.walk(spec.path):
            dirnames.sort()
            for name in sorted(filenames):
                if name.lower().endswith(".json"):
                    full = Path(dirpath) / name
                    yield str(full.relative_to(spec.path)), _read_file(full), None


def _read_file(path: Path) -> bytes | MalformedAdvisory:
    if not path.is_file():  # a FIFO or device named *.json would block or never end
        return MalformedAdvisory("not a regular file")
    try:
        with path.open("rb") as f:
            data = f.read(MAX_RECORD_BYTES + 1)
    except OSError as e:
        return MalformedAdvisory(f"unreadable: {e.strerror or e}")
    if len(data) > MAX_RECORD_BYTES:
        return MalformedAdvisory(f"record larger than {MAX_RECORD_BYTES} bytes")
    return data


def _zip_records(
    path: Path, label: str
) -> Iterator[tuple[str, bytes | MalformedAdvisory, int | None]]:
    """The members of an all.zip, read front to back from the local headers
    (``stream_unzip``): memory stays bounded by one record however many records the
    archive holds, where ``zipfile`` would first load its whole central directory
    (about 700 bytes a member: 200 MB for OSV's larger exports)."""
    # imported here: scans load this module, and never read an archive
    from stream_unzip import (
        NO_ENCRYPTION,
        EncryptionMechanismNotAllowed,
        UnzipError,
        stream_unzip,
    )

    try:
        f = path.open("rb")
    except OSError as e:
        raise DatabaseError(f"{label}: not a readable zip archive ({e.strerror or e})") from None
    members = inflated = 0
    with f:
        chunks = iter(lambda: f.read(_CHUNK), b"")
        try:
            for raw_name, _size, data in stream_unzip(
                chunks, allowed_encryption_mechanisms=(NO_ENCRYPTION,)
            ):
                members += 1
                if members > MAX_ZIP_MEMBERS:
                    raise DatabaseError(f"{label}: more than {MAX_ZIP_MEMBERS} members; refusing")
                name = raw_name.decode("utf-8", "replace")
                wanted = name.lower().endswith(".json") and not name.endswith("/")
                record = bytearray()
                for chunk in data:  # every member is read to its end to reach the next
                    inflated += len(chunk)
                    if inflated > MAX_INFLATED_BYTES:
                        raise DatabaseError(
                            f"{label}: inflates to more than {MAX_INFLATED_BYTES} bytes; refusing"
                        )
                    if wanted and len(record) <= MAX_RECORD_BYTES:
                        record += chunk[: MAX_RECORD_BYTES + 1 - len(record)]
                if not wanted:
                    continue
                if len(record) > MAX_RECORD_BYTES:
                    yield (
                        name,
                        MalformedAdvisory(f"record larger than {MAX_RECORD_BYTES} bytes"),
                        None,
                    )
                else:
                    yield name, bytes(record), None
        except EncryptionMechanismNotAllowed:
            raise DatabaseError(f"{label}: encrypted member; refusing") from None
        except (UnzipError, zlib.error, EOFError, ValueError) as e:
            what = "corrupt zip archive" if members else "not a readable zip archive"
            raise DatabaseError(f"{label}: {what} ({type(e).__name__}: {e})") from None


# -- merging --------------------------------------------------------------------------------


def _entry_ecosystem(entry: Any) -> str:
    pkg = entry.get("package") if isinstance(entry, dict) else None
    return str(pkg.get("ecosystem", "")) if isinstance(pkg, dict) else ""


def _raw_not_affected(raw: dict[str, Any]) -> list[Any]:
    dbs = raw.get("database_specific")
    na = dbs.get("not_affected") if isinstance(dbs, dict) else None
    return na if isinstance(na, list) else []


def record_scope(raw: dict[str, Any]) -> frozenset[str]:
    """The ecosystems a record speaks about: its ``affected`` entries' (``""`` for an
    entry without a package) and its ``not_affected`` entries'."""
    scope = {_entry_ecosystem(a) for a in raw.get("affected") or []}
    scope |= {eco for eco, _ in not_affected_entries(raw.get("database_specific"))}
    return frozenset(scope)


def _overlaps(a: frozenset[str], b: frozenset[str]) -> bool:
    # a record about nothing in particular speaks for the whole id
    return not a or not b or bool(a & b)


def trim_record(raw: dict[str, Any], scope: frozenset[str]) -> dict[str, Any] | None:
    """``raw`` without what it says about the ecosystems in ``scope``; None if nothing
    is left (or ``scope`` is empty, i.e. a record replacing the whole id)."""
    if not scope:
        return None
    affected = [a for a in raw.get("affected") or [] if _entry_ecosystem(a) not in scope]
    na_all = _raw_not_affected(raw)
    na = [n for n in na_all if not (isinstance(n, dict) and n.get("ecosystem") in scope)]
    out = dict(raw)
    out["affected"] = affected
    if len(na) != len(na_all):
        out["database_specific"] = {**raw["database_specific"], "not_affected": na}
    if not affected and not not_affected_entries(out.get("database_specific")):
        return None
    return out


def _newer_or_same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return timestamp_key(a.get("modified")) >= timestamp_key(b.get("modified"))


def _index_rows(raw: dict[str, Any]) -> tuple[set[tuple[str, str]], set[tuple[str, str]], set[str]]:
    affected = set()
    for a in raw.get("affected") or []:
        pkg = a.get("package")
        if isinstance(pkg, dict):
            eco, name = pkg["ecosystem"], pkg["name"]
            affected.add((eco, normalize_name(eco, name)))
    not_aff = {
        (eco, normalize_name(eco, name))
        for eco, name in not_affected_entries(raw.get("database_specific"))
    }
    return affected, not_aff, set(raw.get("aliases") or ()) | set(raw.get("upstream") or ())


# -- the build ------------------------------------------------------------------------------


class _Builder:
    """Writes records into the new file in batches.

    Records are stored as published, one row each; an id may have several rows as
    long as they speak about disjoint ecosystems (Debian-11 and Debian-12 both have a
    DEBCL-CVE-2019-1547, each with its own summary). A record whose ecosystems overlap
    a stored row of its id is resolved per ecosystem: the newer ``modified`` wins
    (the later one on a tie), and the loser keeps only its other ecosystems, or goes.

    Index rows go to TEMP staging tables tagged with the row's generation; a changed
    row gets a new generation, a deleted one none, and only rows of a live generation
    reach the real (sorted, WITHOUT ROWID) index tables at the end: no deletes there.
    """

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.rows: dict[str, list[int]] = {}  # id → nums of its live rows
        self.gen: dict[int, int] = {}  # num → generation, for live rows
        self.pending: dict[int, tuple[str, dict[str, Any]]] = {}  # num → (id, raw)
        self.deleted: list[int] = []
        self.next_num = 1
        self.kept = 0
        for table in ("s_affected", "s_not_affected"):
            conn.execute(
                f"CREATE TEMP TABLE {table} (ecosystem TEXT, name_key TEXT, "
                "advisory INTEGER, gen INTEGER)"
            )
        conn.execute("CREATE TEMP TABLE s_aliases (alias TEXT, advisory INTEGER, gen INTEGER)")
        conn.execute("CREATE TEMP TABLE live (num INTEGER PRIMARY KEY, gen INTEGER)")

    def copy_existing(self) -> None:
        c = self.conn
        c.execute(
            "INSERT INTO main.advisories SELECT num, id, modified, withdrawn, data "
            "FROM old.advisories"
        )
        for table in ("affected", "not_affected"):
            c.execute(
                f"INSERT INTO temp.s_{table} SELECT ecosystem, name_key, advisory, 0 "
                f"FROM old.{table}"
            )
        c.execute("INSERT INTO temp.s_aliases SELECT alias, advisory, 0 FROM old.aliases")
        for adv_id, num in c.execute("SELECT id, num FROM main.advisories"):
            self.rows.setdefault(adv_id, []).append(num)
            self.gen[num] = 0
            self.next_num = max(self.next_num, num + 1)
        self.kept = len(self.rows)

    def add(self, adv_id: str, raw: dict[str, Any]) -> bool:
        """Add one validated record; True if its id is new."""
        nums = self.rows.setdefault(adv_id, [])
        is_new = not nums
        scope = record_scope(raw) if nums else frozenset()
        incoming: dict[str, Any] | None = raw
        for num in list(nums):
            stored = self._load(adv_id, num)
            stored_scope = record_scope(stored)
            if not _overlaps(scope, stored_scope):
                continue
            if _newer_or_same(raw, stored):
                self._put(adv_id, num, trim_record(stored, scope))
            else:
                incoming = trim_record(incoming, stored_scope) if incoming else None
                if incoming is None:
                    break
        if incoming is not None:
            num, self.next_num = self.next_num, self.next_num + 1
            nums.append(num)
            self.gen[num] = 0
            self.pending[num] = (adv_id, incoming)
        if len(self.pending) >= _BATCH:
            self.flush()
        return is_new

    def _load(self, adv_id: str, num: int) -> dict[str, Any]:
        if (p := self.pending.get(num)) is not None:
            return p[1]
        (data,) = self.conn.execute("SELECT data FROM advisories WHERE num = ?", (num,)).fetchone()
        try:
            stored: dict[str, Any] = json.loads(decompress_record(data))
        except (zlib.error, ValueError) as e:  # MalformedAdvisory is a ValueError
            raise DatabaseError(
                f"advisory {adv_id} in the existing database is corrupt ({e}); "
                "remove the database file and import again"
            ) from None
        return stored

    def _put(self, adv_id: str, num: int, raw: dict[str, Any] | None) -> None:
        """Replace row ``num`` with ``raw``, or delete it (None)."""
        if raw is None:
            self.rows[adv_id].remove(num)
            del self.gen[num]
            self.pending.pop(num, None)
            self.deleted.append(num)
        else:
            self.gen[num] += 1
            self.pending[num] = (adv_id, raw)

    def flush(self) -> None:
        advs, aff, na, aliases = [], [], [], []
        for num, (adv_id, raw) in self.pending.items():
            gen = self.gen[num]
            advs.append(
                (
                    num,
                    adv_id,
                    real_timestamp(raw.get("modified")),
                    real_timestamp(raw.get("withdrawn")),
                    compress_record(raw),
                )
            )
            a_rows, n_rows, al_rows = _index_rows(raw)
            aff += [(eco, key, num, gen) for eco, key in a_rows]
            na += [(eco, key, num, gen) for eco, key in n_rows]
            aliases += [(alias, num, gen) for alias in al_rows]
        c = self.conn
        c.executemany("DELETE FROM advisories WHERE num = ?", [(n,) for n in self.deleted])
        c.executemany("INSERT OR REPLACE INTO advisories VALUES (?, ?, ?, ?, ?)", advs)
        c.executemany("INSERT INTO temp.s_affected VALUES (?, ?, ?, ?)", aff)
        c.executemany("INSERT INTO temp.s_not_affected VALUES (?, ?, ?, ?)", na)
        c.executemany("INSERT INTO temp.s_aliases VALUES (?, ?, ?)", aliases)
        self.pending.clear()
        self.deleted.clear()

    def finish(self) -> int:
        """Write the index tables; the number of advisory ids."""
        self.flush()
        c = self.conn
        c.executemany("INSERT INTO temp.live VALUES (?, ?)", self.gen.items())
        for table in ("affected", "not_affected"):
            c.execute(
                f"INSERT OR IGNORE INTO main.{table} SELECT s.ecosystem, s.name_key, "
                f"s.advisory FROM temp.s_{table} s JOIN temp.live l "
                "ON l.num = s.advisory AND l.gen = s.gen ORDER BY 1, 2, 3"
            )
        c.execute(
            "INSERT OR IGNORE INTO main.aliases SELECT s.alias, s.advisory "
            "FROM temp.s_aliases s JOIN temp.live l ON l.num = s.advisory "
            "AND l.gen = s.gen ORDER BY 1, 2"
        )
        c.execute(ID_INDEX)
        c.execute(
            "INSERT INTO ecosystems SELECT ecosystem, COUNT(DISTINCT advisory), "
            "COUNT(DISTINCT name_key) FROM affected GROUP BY ecosystem"
        )
        return sum(1 for nums in self.rows.values() if nums)


def existing_meta(dest: Path) -> dict[str, Any] | None:
    """The meta of the database at ``dest`` to build on, or None if there is none (or
    it is of another format, which a rebuild replaces). Raises ``DatabaseError`` if the
    file is something else, so that a mistyped ``--db`` never overwrites a user's file."""
    if not dest.exists() or (dest.is_file() and dest.stat().st_size == 0):
        return None
    if not dest.is_file():
        raise DatabaseError(f"{dest} is not a file")
    try:
        conn = sqlite3.connect(ro_uri(dest), uri=True)
        try:
            meta = read_meta_table(conn)
        finally:
            conn.close()
    except sqlite3.Error as e:
        meta, why = {}, f" ({e})"
    else:
        why = ""
    if "schema_version" not in meta:
        raise DatabaseError(
            f"{dest} exists and is not a hullscan vulnerability database{why}; "
            "remove it or choose another --db"
        )
    return meta if meta["schema_version"] == SCHEMA_VERSION else None


@contextlib.contextmanager
def db_lock(dest: Path) -> Iterator[None]:
    """Serialize builds of one database (two concurrent imports would each start from
    the old file and the second swap would drop the first one's records). Readers do
    not take it."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    with exclusive_lock(dest.parent / f".{dest.name}.lock"):
        yield


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _version_after(previous: Any) -> str:
    """The new database's ``built_at``: now, but always later than the database it
    replaces, so two rebuilds within one second are still two versions (the version
    keys the server's jobs and tells the rematch watcher that the data changed)."""
    now = datetime.now(UTC).replace(microsecond=0)
    try:
        before = datetime.fromisoformat(str(previous))
    except ValueError:
        return now.isoformat()
    if before.tzinfo is None:
        before = before.replace(tzinfo=UTC)
    return max(now, before + timedelta(seconds=1)).isoformat()


def build(
    specs: list[SourceSpec],
    dest: Path,
    progress: ProgressFn | None = None,
    *,
    replace: bool = False,
    checked_at: str | None = None,
) -> ImportStats:
    """Build a new database from the current one (unless ``replace``) plus ``specs`` and
    swap it in. The caller holds ``db_lock(dest)``."""
    started = time.monotonic()
    old = existing_meta(dest)  # even with replace: never overwrite a file that is not ours
    if replace:
        old = None
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        stats = _build_into(
            tmp, dest if old is not None else None, old or {}, specs, progress, checked_at
        )
        _fsync(tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, dest)
        _fsync_dir(dest.parent)
    except (sqlite3.Error, OSError) as e:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise DatabaseError(f"could not build {dest}: {e}") from None
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    return ImportStats(
        dest=dest, seconds=time.monotonic() - started, db_bytes=dest.stat().st_size, **stats
    )


def _build_into(
    tmp: Path,
    old_path: Path | None,
    old_meta: dict[str, Any],
    specs: list[SourceSpec],
    progress: ProgressFn | None,
    checked_at: str | None,
) -> dict[str, Any]:
    conn = sqlite3.connect(tmp.resolve().as_uri(), uri=True, isolation_level=None)
    try:
        # a throwaway file until the swap: no journal, no fsync per transaction
        conn.execute("PRAGMA journal_mode=OFF")
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("PRAGMA cache_size=-65536")
        conn.executescript(SCHEMA)
        if old_path is not None:
            conn.execute("ATTACH DATABASE ? AS old", (ro_uri(old_path),))
        conn.execute("BEGIN")
        builder = _Builder(conn)
        if old_path is not None:
            builder.copy_existing()
        records = added = merged = skipped = 0
        examples: list[str] = []
        sources: dict[str, Any] = dict(old_meta.get("sources") or {})
        per_source: dict[str, int] = {}
        exploit_meta: dict[str, Any] = {}
        for spec in specs:
            if spec.data != "osv":
                exploit_meta[spec.data] = _load_exploits(conn, spec, progress)
                sources[spec.label] = {
                    "kind": spec.kind,
                    "data": spec.data,
                    "etag": spec.etag,
                    "last_modified": spec.last_modified,
                    "imported_at": utc_now(),
                    "records": exploit_meta[spec.data]["entries"],
                    "skipped": 0,
                }
                continue
            n_ok = n_bad = 0
            for member, payload, total in _read_records(spec):
                try:
                    if isinstance(payload, MalformedAdvisory):
                        raise payload
                    raw = loads_record(payload)
                    adv = parse_advisory(raw)
                except MalformedAdvisory as e:
                    n_bad += 1
                    if len(examples) < MAX_SKIPPED_EXAMPLES:
                        examples.append(f"{spec.label}:{member}: {e}")
                    continue
                n_ok += 1
                if builder.add(adv.id, raw):
                    added += 1
                else:
                    merged += 1
                if progress is not None and (n_ok + n_bad) % _PROGRESS_EVERY == 0:
                    progress(spec.label, n_ok + n_bad, total)
            if progress is not None:
                progress(spec.label, n_ok + n_bad, n_ok + n_bad)
            records += n_ok
            skipped += n_bad
            per_source[spec.label] = n_ok
            sources[spec.label] = {
                "kind": spec.kind,
                "etag": spec.etag,
                "last_modified": spec.last_modified,
                "imported_at": utc_now(),
                "records": n_ok,
                "skipped": n_bad,
            }
        advisories = builder.finish()
        for table in ("kev", "epss"):
            if table in exploit_meta:
                continue
            if old_path is not None and old_meta.get(table):
                conn.execute(f"INSERT INTO main.{table} SELECT * FROM old.{table}")
                exploit_meta[table] = old_meta[table]
        meta = {
            "schema_version": SCHEMA_VERSION,
            "built_at": _version_after(old_meta.get("built_at")),
            "checked_at": checked_at or old_meta.get("checked_at"),
            "advisories": advisories,
            **exploit_meta,
            "sources": sources,
            "last_import": {
                "sources": [s.label for s in specs],
                "records": records,
                "added": added,
                "merged": merged,
                "skipped": skipped,
                "skipped_examples": examples,
            },
        }
        conn.executemany(
            "INSERT INTO meta VALUES (?, ?)", [(k, json.dumps(v)) for k, v in meta.items()]
        )
        conn.execute("COMMIT")
        if old_path is not None:
            conn.execute("DETACH DATABASE old")
    finally:
        conn.close()
    return {
        "sources": tuple(s.label for s in specs),
        "records": records,
        "added": added,
        "merged": merged,
        "skipped": skipped,
        "skipped_examples": tuple(examples),
        "kept": builder.kept,
        "advisories": advisories,
        "per_source": per_source,
        "exploits": {
            k: int(v["entries"])
            for k, v in exploit_meta.items()
            if v.get("source") in {s.label for s in specs}
        },
    }


def _load_exploits(
    conn: sqlite3.Connection, spec: SourceSpec, progress: ProgressFn | None
) -> dict[str, Any]:
    """Load a KEV catalog or an EPSS file into its (empty) table; its meta entry."""
    now = utc_now()
    if spec.data == "kev":
        catalog = read_kev(spec.path, spec.label)
        conn.executemany("INSERT OR REPLACE INTO kev VALUES (?, ?, ?, ?)", catalog.rows)
        if progress is not None:
            progress(spec.label, len(catalog.rows), len(catalog.rows))
        return {
            "version": catalog.version,
            "released": catalog.released,
            "entries": len(catalog.rows),
            "source": spec.label,
            "imported_at": now,
        }
    header, rows = read_epss(spec.path, spec.label)
    n = 0
    batch: list[tuple[str, float, float]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= 10_000:
            conn.executemany("INSERT OR REPLACE INTO epss VALUES (?, ?, ?)", batch)
            n += len(batch)
            batch.clear()
            if progress is not None:
                progress(spec.label, n, None)
    conn.executemany("INSERT OR REPLACE INTO epss VALUES (?, ?, ?)", batch)
    n += len(batch)
    if progress is not None:
        progress(spec.label, n, n)
    return {
        "model_version": header.model_version,
        "score_date": header.score_date,
        "entries": n,
        "source": spec.label,
        "imported_at": now,
    }


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):  # not every platform can open a directory
        _fsync(path)
