"""One OSV record (https://ossf.github.io/osv-schema/), parsed and validated.

Advisories come from strangers, so everything is checked before it is believed:
types, event kinds, range types, the size of a record. A record that does not fit
raises ``MalformedAdvisory``; the importer skips and counts it rather than
guessing what it meant.

Three deliberate leniencies, all needed by real data: ``modified`` may be missing
(the Debian changelog and Alpine sets have none; the schema requires it), an
optional field given as JSON ``null`` counts as absent, and so does a timestamp at
year 1 (Debian's converter writes Go's zero time, ``0001-01-01T00:00:00Z``, for
"no date", also as ``withdrawn``).

Identity (schema 1.7+): ``aliases`` and ``upstream`` name the same vulnerability
(``DEBIAN-CVE-2024-1234`` has the CVE in ``upstream``; a DSA lists its CVEs there);
``related`` ids are only related (an ALSA lists the CVEs its update fixes there) and
never make two advisories one.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hullscan.vulndb.names import normalize_name

#: a single record larger than this is not an advisory, it is an attack or an accident
MAX_RECORD_BYTES = 8 * 1024 * 1024
MAX_ID_LENGTH = 255

EVENT_KINDS = ("introduced", "fixed", "last_affected", "limit")
RANGE_TYPES = ("ECOSYSTEM", "SEMVER", "GIT")

# OSV ids are "<PREFIX>-<rest>"; real ones use letters, digits and . _ : + -
# (RHSA-2023:1234, openSUSE-SU-2024:10000-1). Nothing that could be a path or markup.
_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:+-]*")
_TS_RE = re.compile(
    r"(\d{1,4})-(\d{2})-(\d{2})"
    r"(?:[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?)?"
    r"([Zz]|[+-]\d{2}:?\d{2})?"
)
_EPOCH = datetime.min.replace(tzinfo=UTC)


class MalformedAdvisory(ValueError):
    """A record that is not a usable OSV advisory; ``advisory_id`` if it had one."""

    def __init__(self, reason: str, advisory_id: str | None = None) -> None:
        super().__init__(f"{advisory_id}: {reason}" if advisory_id else reason)
        self.reason = reason
        self.advisory_id = advisory_id


@dataclass(frozen=True, slots=True)
class Event:
    """One range event: ``kind`` is introduced, fixed, last_affected or limit."""

    kind: str
    value: str


@dataclass(frozen=True)
class Range:
    type: str
    events: tuple[Event, ...]
    #: the repository URL of a GIT range, else ""
    repo: str = ""
    database_specific: dict[str, Any] = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class Affected:
    """One ``affected[]`` entry; ``ecosystem``/``name`` are "" if it names no package."""

    ecosystem: str
    name: str
    purl: str = ""
    ranges: tuple[Range, ...] = ()
    versions: tuple[str, ...] = ()
    ecosystem_specific: dict[str, Any] = field(default_factory=dict, hash=False)
    database_specific: dict[str, Any] = field(default_factory=dict, hash=False)

    @property
    def name_key(self) -> str:
        return normalize_name(self.ecosystem, self.name)


@dataclass(frozen=True)
class Advisory:
    id: str
    modified: str | None = None
    published: str | None = None
    withdrawn: str | None = None
    aliases: tuple[str, ...] = ()
    #: ids of the vulnerability this record derives from (schema 1.7): same identity
    upstream: tuple[str, ...] = ()
    related: tuple[str, ...] = ()
    summary: str = ""
    details: str = ""
    #: (type, score) pairs, e.g. ("CVSS_V3", "CVSS:3.1/AV:N/...")
    severity: tuple[tuple[str, str], ...] = ()
    #: reference URLs, in the record's order
    references: tuple[str, ...] = ()
    database_specific: dict[str, Any] = field(default_factory=dict, hash=False)
    affected: tuple[Affected, ...] = ()

    @property
    def same_as(self) -> tuple[str, ...]:
        """Every other id of this vulnerability: ``aliases`` then ``upstream``."""
        return tuple(dict.fromkeys(i for i in (*self.aliases, *self.upstream) if i != self.id))

    @property
    def not_affected(self) -> tuple[tuple[str, str], ...]:
        """``(ecosystem, name)`` pairs from ``database_specific.not_affected``."""
        return not_affected_entries(self.database_specific)


def not_affected_entries(database_specific: Any) -> tuple[tuple[str, str], ...]:
    """The vulndata convention: ``database_specific.not_affected`` is a list of
    ``{ecosystem, name}`` objects. Entries that do not fit are ignored rather than
    rejecting the whole advisory: losing a "not affected" only costs a suppression."""
    if not isinstance(database_specific, Mapping):
        return ()
    entries = database_specific.get("not_affected")
    if not isinstance(entries, list):
        return ()
    out: list[tuple[str, str]] = []
    for e in entries:
        if isinstance(e, Mapping):
            eco, name = e.get("ecosystem"), e.get("name")
            if isinstance(eco, str) and isinstance(name, str) and eco and name:
                out.append((eco, name))
    return tuple(out)


def parse_timestamp(value: str) -> datetime:
    """An RFC 3339 timestamp (any number of fraction digits; a bare date is accepted)
    as an aware datetime; ``ValueError`` if it is not one."""
    m = _TS_RE.fullmatch(value)
    if not m:
        raise ValueError(f"not an RFC 3339 timestamp: {value[:40]!r}")
    year, month, day, hh, mm, ss, frac, tz = m.groups()
    micro = int((frac or "0")[:6].ljust(6, "0"))
    tzinfo: timezone = UTC
    if tz and tz not in "Zz":
        sign = -1 if tz[0] == "-" else 1
        digits = tz[1:].replace(":", "")
        tzinfo = timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))
    dt = datetime(
        int(year),
        int(month),
        int(day),
        int(hh or 0),
        int(mm or 0),
        int(ss or 0) if ss != "60" else 59,
        micro,
        tzinfo=tzinfo,
    )
    return dt.astimezone(UTC) if dt.year > 1 else dt.replace(tzinfo=UTC)


def real_timestamp(value: Any) -> str | None:
    """``value`` if it is a timestamp after year 1 (Go's zero time means "none"), else
    None; unparsable text is returned as is for the validator to reject."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return None if parse_timestamp(value).year <= 1 else value
    except (ValueError, OverflowError):
        return value


def timestamp_key(value: str | None) -> datetime:
    """Order of ``modified`` values; a missing one sorts first (oldest)."""
    if not value:
        return _EPOCH
    try:
        return parse_timestamp(value)
    except (ValueError, OverflowError):
        return _EPOCH


def loads_record(data: bytes | str) -> dict[str, Any]:
    """Decode one record's JSON text (size-bounded) into a dict, or raise."""
    if len(data) > MAX_RECORD_BYTES:
        raise MalformedAdvisory(f"record larger than {MAX_RECORD_BYTES} bytes")
    try:
        obj = json.loads(data, parse_constant=_reject_constant)
    except RecursionError:
        raise MalformedAdvisory("JSON nested too deeply") from None
    except (ValueError, UnicodeDecodeError) as e:  # JSONDecodeError is a ValueError
        raise MalformedAdvisory(f"not valid JSON: {e}") from None
    if not isinstance(obj, dict):
        raise MalformedAdvisory("not a JSON object")
    return obj


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_advisory(data: bytes | str | Mapping[str, Any]) -> Advisory:
    """Parse and validate one OSV record (JSON text or an already decoded object)."""
    raw = loads_record(data) if isinstance(data, bytes | str) else data
    return _Parser(raw).advisory()


class _Parser:
    """Validation with the advisory id in every error message."""

    def __init__(self, raw: Mapping[str, Any]) -> None:
        self.raw = raw
        self.id: str | None = None

    def fail(self, reason: str) -> MalformedAdvisory:
        return MalformedAdvisory(reason, self.id)

    def advisory(self) -> Advisory:
        raw = self.raw
        if not isinstance(raw, Mapping):
            raise self.fail("not a JSON object")
        adv_id = raw.get("id")
        if not isinstance(adv_id, str) or not adv_id:
            raise self.fail("missing id")
        if len(adv_id) > MAX_ID_LENGTH or not _ID_RE.fullmatch(adv_id):
            raise self.fail(f"invalid id {adv_id[:60]!r}")
        self.id = adv_id
        return Advisory(
            id=adv_id,
            modified=self.timestamp(raw, "modified"),
            published=self.timestamp(raw, "published"),
            withdrawn=self.timestamp(raw, "withdrawn"),
            aliases=self.ids(raw, "aliases"),
            upstream=self.ids(raw, "upstream"),
            related=self.ids(raw, "related"),
            summary=self.string(raw, "summary"),
            details=self.string(raw, "details"),
            severity=self.severity(raw.get("severity")),
            references=self.references(raw.get("references")),
            database_specific=self.obj(raw, "database_specific"),
            affected=tuple(self.affected(a) for a in self.array(raw, "affected")),
        )

    # -- typed field access -------------------------------------------------------------

    def string(self, obj: Mapping[str, Any], key: str, where: str = "") -> str:
        v = obj.get(key)
        if v is None:
            return ""
        if not isinstance(v, str):
            raise self.fail(f"{where}{key}: expected a string, got {type(v).__name__}")
        return v

    def array(self, obj: Mapping[str, Any], key: str, where: str = "") -> list[Any]:
        v = obj.get(key)
        if v is None:
            return []
        if not isinstance(v, list):
            raise self.fail(f"{where}{key}: expected an array, got {type(v).__name__}")
        return v

    def obj(self, obj: Mapping[str, Any], key: str, where: str = "") -> dict[str, Any]:
        v = obj.get(key)
        if v is None:
            return {}
        if not isinstance(v, dict):
            raise self.fail(f"{where}{key}: expected an object, got {type(v).__name__}")
        return v

    def strings(self, obj: Mapping[str, Any], key: str, where: str = "") -> tuple[str, ...]:
        items = self.array(obj, key, where)
        if not all(isinstance(s, str) for s in items):
            raise self.fail(f"{where}{key}: expected an array of strings")
        return tuple(items)

    def ids(self, obj: Mapping[str, Any], key: str) -> tuple[str, ...]:
        items = self.strings(obj, key)
        if any(not s or len(s) > MAX_ID_LENGTH for s in items):
            raise self.fail(f"{key}: empty or overlong id")
        return items

    def timestamp(self, obj: Mapping[str, Any], key: str) -> str | None:
        v = self.string(obj, key)
        if not v:
            return None
        try:
            parse_timestamp(v)
        except (ValueError, OverflowError):
            raise self.fail(f"{key}: not an RFC 3339 timestamp: {v[:40]!r}") from None
        return real_timestamp(v)

    # -- nested structures --------------------------------------------------------------

    def severity(self, value: Any) -> tuple[tuple[str, str], ...]:
        if value is None:
            return ()
        if not isinstance(value, list):
            raise self.fail("severity: expected an array")
        out = []
        for s in value:
            if not (
                isinstance(s, dict)
                and isinstance(s.get("type"), str)
                and isinstance(s.get("score"), str)
            ):
                raise self.fail("severity: expected {type, score} strings")
            out.append((s["type"], s["score"]))
        return tuple(out)

    def references(self, value: Any) -> tuple[str, ...]:
        if value is None:
            return ()
        if not isinstance(value, list):
            raise self.fail("references: expected an array")
        out = []
        for r in value:
            if not (isinstance(r, dict) and isinstance(r.get("url"), str)):
                raise self.fail("references: expected objects with a url string")
            out.append(r["url"])
        return tuple(out)

    def affected(self, a: Any) -> Affected:
        if not isinstance(a, dict):
            raise self.fail("affected: expected objects")
        pkg = a.get("package")
        eco = name = purl = ""
        if pkg is not None:
            if not isinstance(pkg, dict):
                raise self.fail("affected.package: expected an object")
            eco = self.string(pkg, "ecosystem", "affected.package.")
            name = self.string(pkg, "name", "affected.package.")
            purl = self.string(pkg, "purl", "affected.package.")
            if not eco or not name:
                raise self.fail("affected.package: ecosystem and name are required")
        return Affected(
            ecosystem=eco,
            name=name,
            purl=purl,
            ranges=tuple(self.range(r) for r in self.array(a, "ranges", "affected.")),
            versions=self.strings(a, "versions", "affected."),
            ecosystem_specific=self.obj(a, "ecosystem_specific", "affected."),
            database_specific=self.obj(a, "database_specific", "affected."),
        )

    def range(self, r: Any) -> Range:
        if not isinstance(r, dict):
            raise self.fail("affected.ranges: expected objects")
        rtype = r.get("type")
        if rtype not in RANGE_TYPES:
            raise self.fail(f"affected.ranges.type: unknown range type {str(rtype)[:40]!r}")
        repo = self.string(r, "repo", "affected.ranges.")
        if rtype == "GIT" and not repo:
            raise self.fail("affected.ranges: a GIT range needs a repo")
        events = []
        for e in self.array(r, "events", "affected.ranges."):
            if not isinstance(e, dict) or len(e) != 1:
                raise self.fail("affected.ranges.events: each event has exactly one key")
            ((kind, value),) = e.items()
            if kind not in EVENT_KINDS:
                raise self.fail(f"affected.ranges.events: unknown event kind {kind[:40]!r}")
            if not isinstance(value, str) or not value:
                raise self.fail(f"affected.ranges.events: {kind} needs a version string")
            events.append(Event(kind, value))
        if not events:
            raise self.fail("affected.ranges: a range needs events")
        return Range(
            rtype, tuple(events), repo, self.obj(r, "database_specific", "affected.ranges.")
        )
