"""The typed data that flows through hullscan: images, layers, files, packages.

Everything here is a frozen dataclass that converts to and from plain JSON-able
dicts (``to_dict`` / ``from_dict``), because per-layer analysis results are cached
as JSON and the reporters read the same shapes.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from hullscan.errors import HullscanError


class FileType(enum.StrEnum):
    REG = "file"
    DIR = "dir"
    SYMLINK = "symlink"
    HARDLINK = "hardlink"
    CHAR = "char"
    BLOCK = "block"
    FIFO = "fifo"
    OTHER = "other"


_FILE_TYPE_BY_VALUE = {t.value: t for t in FileType}


@dataclass(frozen=True, slots=True)
class FileInfo:
    """One entry of a layer (or of a root filesystem), by its normalized path.

    ``path`` is relative to the image root, without a leading ``/``, never with
    ``..`` components; ``linkname`` keeps the raw link target of symlinks and the
    normalized target of hard links.
    """

    path: str
    type: FileType
    size: int = 0
    mode: int = 0
    uid: int = 0
    gid: int = 0
    linkname: str = ""
    mtime: int = 0

    @property
    def is_regular(self) -> bool:
        return self.type is FileType.REG

    @property
    def is_executable(self) -> bool:
        return self.type is FileType.REG and bool(self.mode & 0o111)

    def to_row(self) -> list[Any]:
        return [
            self.path,
            self.type.value,
            self.size,
            self.mode,
            self.uid,
            self.gid,
            self.linkname,
            self.mtime,
        ]

    def __reduce__(self) -> tuple[Any, ...]:
        # every file of a layer crosses from its worker process in a pickle: the
        # constructor's arguments pickle in a third of the time of dataclass state
        # (0.04 s against 0.13 s for the 22,000 files of the largest corpus image)
        return FileInfo, (
            self.path,
            self.type,
            self.size,
            self.mode,
            self.uid,
            self.gid,
            self.linkname,
            self.mtime,
        )

    @classmethod
    def from_row(cls, row: list[Any]) -> FileInfo:
        path, ftype, size, mode, uid, gid, linkname, mtime = row
        try:  # a dict lookup: FileType(value) was half the cost of reading a cached layer
            kind = _FILE_TYPE_BY_VALUE[ftype]
        except (KeyError, TypeError):
            raise ValueError(f"{ftype!r} is not a file type") from None
        return cls(path, kind, size, mode, uid, gid, linkname, mtime)


@dataclass(frozen=True, slots=True)
class Location:
    """Where a package was found: a path in the image and the layer (diff-id) holding it."""

    path: str
    layer: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "layer": self.layer}


@dataclass(frozen=True)
class License:
    """A package's licence as an SPDX expression, and where it was declared.

    ``expression`` is always a valid SPDX expression: text that names no SPDX licence is
    kept as ``LicenseRef-…`` with ``value`` holding the string as it was written.
    ``source`` says what declared it (``dpkg-copyright``, ``python:License-Expression``,
    ``npm:license``, ``text`` for a classified licence text, ...), ``path`` the file.
    """

    expression: str
    value: str = ""
    source: str = ""
    path: str = ""

    def to_dict(self) -> dict[str, Any]:
        d = {
            "expression": self.expression,
            "value": self.value or self.expression,
            "source": self.source,
        }
        if self.path:
            d["path"] = self.path
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> License:
        return cls(d["expression"], d.get("value", ""), d.get("source", ""), d.get("path", ""))


@dataclass(frozen=True)
class OSInfo:
    """The distribution of an image, from os-release and friends."""

    id: str
    version_id: str = ""
    name: str = ""
    pretty_name: str = ""
    codename: str = ""
    #: a more precise release from a distribution file, e.g. debian_version "12.5"
    release: str = ""
    distroless: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "version_id": self.version_id,
            "name": self.name,
            "pretty_name": self.pretty_name,
            "codename": self.codename,
            "release": self.release,
            "distroless": self.distroless,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> OSInfo:
        return cls(**d)


@dataclass(frozen=True)
class Package:
    """An installed package: an OS package, a language package, or a component of a binary.

    ``type`` is the purl type (``deb``, ``apk``, ``rpm``, ``pypi``, ``npm``, ``golang``,
    ``maven``, ``cargo``, ``gem``, ``composer``, ``nuget``, ``generic``).
    ``owner`` names the OS package whose file list contains this package's files,
    so that vulnerability matching does not count it twice.
    """

    name: str
    version: str
    type: str
    purl: str
    source_name: str = ""
    source_version: str = ""
    arch: str = ""
    licenses: tuple[License, ...] = ()
    locations: tuple[Location, ...] = ()
    owner: str = ""
    #: the analyzer that found it, e.g. "dpkg" or "python-dist"
    found_by: str = ""
    metadata: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "name": self.name,
            "version": self.version,
            "type": self.type,
            "purl": self.purl,
        }
        if self.source_name:
            d["source_name"] = self.source_name
        if self.source_name or self.source_version:
            d["source_version"] = self.source_version
        if self.arch:
            d["arch"] = self.arch
        if self.licenses:
            d["licenses"] = [lic.to_dict() for lic in self.licenses]
        if self.owner:
            d["owner"] = self.owner
        d["found_by"] = self.found_by
        d["locations"] = [loc.to_dict() for loc in self.locations]
        if self.metadata:
            d["metadata"] = self.metadata
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Package:
        return cls(
            name=d["name"],
            version=d["version"],
            type=d["type"],
            purl=d["purl"],
            source_name=d.get("source_name", ""),
            source_version=d.get("source_version", ""),
            arch=d.get("arch", ""),
            licenses=tuple(License.from_dict(x) for x in d.get("licenses", ())),
            locations=tuple(Location(x["path"], x.get("layer")) for x in d.get("locations", ())),
            owner=d.get("owner", ""),
            found_by=d.get("found_by", ""),
            metadata=d.get("metadata", {}),
        )


@dataclass(frozen=True)
class LayerInfo:
    """A layer as the image describes it."""

    index: int
    diff_id: str
    digest: str | None
    media_type: str
    size: int
    created_by: str = ""
    empty_history: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "digest": self.digest,
            "diff_id": self.diff_id,
            "size": self.size,
            "media_type": self.media_type,
            "created_by": self.created_by,
        }


@dataclass(frozen=True)
class HistoryEntry:
    """One line of the image's history: the build step and whether it made a layer."""

    created_by: str = ""
    empty_layer: bool = False
    created: str = ""
    comment: str = ""


def _strings(value: Any) -> tuple[str, ...]:
    if isinstance(value, list):
        return tuple(str(x) for x in value)
    return (value,) if isinstance(value, str) else ()


@dataclass(frozen=True)
class ImageConfig:
    """The runtime settings and history of an image config, typed once from a document
    that came from a stranger: a field of the wrong type reads as unset."""

    user: str = ""
    env: tuple[str, ...] = ()
    labels: dict[str, str] = field(default_factory=dict, hash=False)
    #: as written: a list (exec form), or one string (shell form); () when unset
    cmd: tuple[str, ...] = ()
    entrypoint: tuple[str, ...] = ()
    #: ``PORT[/PROTO]`` keys, sorted
    exposed_ports: tuple[str, ...] = ()
    #: paths, sorted
    volumes: tuple[str, ...] = ()
    #: the HEALTHCHECK ``Test`` (``("NONE",)``: disabled); None when none is set
    healthcheck: tuple[str, ...] | None = None
    working_dir: str = ""
    #: every history entry in order; None where an entry is not a mapping (kept, so
    #: ``history[i]`` in messages means the document's entry i)
    history: tuple[HistoryEntry | None, ...] = ()

    @classmethod
    def from_document(cls, doc: Any) -> ImageConfig:
        """From an image config document (``{"config": {...}, "history": [...]}``)."""
        doc = doc if isinstance(doc, dict) else {}
        raw = doc.get("config")
        cfg: dict[str, Any] = raw if isinstance(raw, dict) else {}
        labels, ports, vols = cfg.get("Labels"), cfg.get("ExposedPorts"), cfg.get("Volumes")
        hc = cfg.get("Healthcheck")
        test = hc.get("Test") if isinstance(hc, dict) else None
        history = doc.get("history")
        return cls(
            user=str(cfg.get("User") or ""),
            env=tuple(e for e in cfg.get("Env") or () if isinstance(e, str))
            if isinstance(cfg.get("Env"), list)
            else (),
            labels={str(k): str(v) for k, v in labels.items()} if isinstance(labels, dict) else {},
            cmd=_strings(cfg.get("Cmd")),
            entrypoint=_strings(cfg.get("Entrypoint")),
            exposed_ports=tuple(sorted(str(p) for p in ports)) if isinstance(ports, dict) else (),
            volumes=tuple(sorted(str(v) for v in vols)) if isinstance(vols, dict) else (),
            healthcheck=tuple(str(t) for t in test) if isinstance(test, list) else None,
            working_dir=str(cfg.get("WorkingDir") or ""),
            history=tuple(
                HistoryEntry(
                    created_by=str(h.get("created_by") or ""),
                    empty_layer=bool(h.get("empty_layer")),
                    created=str(h.get("created") or ""),
                    comment=str(h.get("comment") or ""),
                )
                if isinstance(h, dict)
                else None
                for h in (history if isinstance(history, list) else ())
            ),
        )


@dataclass(frozen=True)
class ImageMeta:
    """What a report says about the scanned image itself."""

    ref: str
    transport: str
    digest: str | None
    config_digest: str | None
    repo_tags: tuple[str, ...] = ()
    platform: str = ""
    created: str = ""
    layers: tuple[LayerInfo, ...] = ()
    config: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    @property
    def name(self) -> str:
        """A human name: the first tag when it names the image (``app:1``), else the
        reference as given (an OCI layout's ``ref.name`` is often a bare tag like ``1``)."""
        tag = self.repo_tags[0] if self.repo_tags else ""
        return tag if ("/" in tag or ":" in tag) else self.ref


@dataclass(frozen=True)
class Inventory:
    """Everything hullscan found installed in an image's final filesystem."""

    image: ImageMeta
    os: OSInfo | None
    packages: tuple[Package, ...]
    #: things the user should know that did not stop the scan (e.g. a malformed database)
    warnings: tuple[str, ...] = ()


class Severity(enum.IntEnum):
    """Ordered severities; ``UNKNOWN`` sorts lowest so thresholds never hide it by accident
    unless asked (``--severity`` lists it explicitly)."""

    UNKNOWN = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4

    @classmethod
    def parse(cls, text: str) -> Severity:
        try:
            return cls[text.strip().upper()]
        except KeyError:
            names = ", ".join(s.name for s in cls)
            raise HullscanError(f"unknown severity {text!r} (one of {names})") from None


class FindingKind(enum.StrEnum):
    """What a finding is about; the JSON report's ``kind``."""

    VULNERABILITY = "vulnerability"
    SECRET = "secret"
    MISCONFIGURATION = "misconfiguration"
    BINARY = "binary"
    SUPPLYCHAIN = "supplychain"
    LICENSE = "license"


FINDING_KINDS = tuple(k.value for k in FindingKind)


class VulnStatus(enum.StrEnum):
    """Where a vulnerability stands for the installed version (the distribution's word)."""

    FIXED = "fixed"
    AFFECTED = "affected"
    WILL_NOT_FIX = "will_not_fix"
    NOT_AFFECTED = "not_affected"


@dataclass(frozen=True)
class Cvss:
    """The CVSS vector a vulnerability's severity was computed from."""

    version: str  # "4.0", "3.1", "3.0"
    vector: str
    score: float

    def to_dict(self) -> dict[str, Any]:
        return {"version": self.version, "vector": self.vector, "score": self.score}


@dataclass(frozen=True)
class Kev:
    """An entry of CISA's Known Exploited Vulnerabilities catalog."""

    date_added: str
    due_date: str = ""
    ransomware: str = "Unknown"  # "Known" when used in ransomware campaigns

    def to_dict(self) -> dict[str, Any]:
        return {
            "date_added": self.date_added,
            "due_date": self.due_date or None,
            "ransomware": self.ransomware,
        }


@dataclass(frozen=True)
class Epss:
    """FIRST's EPSS: the probability of exploitation in the next 30 days."""

    score: float
    percentile: float
    date: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"score": self.score, "percentile": self.percentile, "date": self.date or None}


@dataclass(frozen=True)
class Finding:
    """Anything wrong with an image (docs/ARCHITECTURE.md: everything found is a Finding).

    Vulnerability findings fill ``package``, versions and ``status``; other kinds use
    ``path``/``line``/``evidence``. ``details`` carries kind-specific extras (CVSS
    vectors, matched ranges, the advisory's data source) that reporters may show.
    """

    kind: FindingKind
    id: str
    severity: Severity
    title: str
    aliases: tuple[str, ...] = ()
    package: Package | None = None
    installed_version: str = ""
    fixed_version: str = ""
    #: vulnerabilities only
    status: VulnStatus | None = None
    path: str | None = None
    layer: str | None = None
    line: int | None = None
    evidence: str = ""
    remediation: str = ""
    references: tuple[str, ...] = ()
    description: str = ""
    standards: tuple[str, ...] = ()
    details: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    #: vulnerabilities: where ``severity`` came from (``debian``, ``ubuntu``, ``redhat``,
    #: ``CVSS_V4``, ``CVSS_V3``, ``ghsa``, ...), the CVSS vector, KEV entry, EPSS score
    severity_source: str = ""
    cvss: Cvss | None = None
    kev: Kev | None = None
    epss: Epss | None = None

    def __post_init__(self) -> None:
        # plain strings (cached analyses, reports read back) become the enums
        object.__setattr__(self, "kind", FindingKind(self.kind))
        if self.status is not None:
            object.__setattr__(self, "status", VulnStatus(self.status))

    @property
    def all_ids(self) -> tuple[str, ...]:
        return (self.id, *self.aliases)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "kind": self.kind.value,
            "id": self.id,
            "aliases": list(self.aliases),
            "severity": self.severity.name,
            "title": self.title,
        }
        if self.package is not None:
            p = self.package
            d["package"] = {
                "name": p.name,
                "version": p.version,
                "type": p.type,
                "purl": p.purl,
                **({"source_name": p.source_name} if p.source_name else {}),
            }
            d["installed_version"] = self.installed_version
            d["fixed_version"] = self.fixed_version or None
            d["status"] = self.status.value if self.status else ""
        if self.kind == "vulnerability":
            d["severity_source"] = self.severity_source or None
            for key in ("cvss", "kev", "epss"):
                value = getattr(self, key)
                d[key] = value.to_dict() if value is not None else None
        for key in ("path", "layer", "line"):
            d[key] = getattr(self, key)
        if self.kind is FindingKind.SECRET:
            # the JSON report's secret shape: the masked match and whether it still ships
            d["match"] = self.evidence
            d["in_final_image"] = self.details.get("in_final_image")
        for key in ("evidence", "remediation", "description"):
            if getattr(self, key):
                d[key] = getattr(self, key)
        d["references"] = list(self.references)
        if self.standards:
            d["standards"] = list(self.standards)
        if self.details:
            d["details"] = self.details
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Finding:
        """The inverse of ``to_dict`` for findings without a package (cached per layer)."""
        return cls(
            kind=FindingKind(d["kind"]),
            id=d["id"],
            severity=Severity[d["severity"]],
            title=d["title"],
            aliases=tuple(d.get("aliases", ())),
            path=d.get("path"),
            layer=d.get("layer"),
            line=d.get("line"),
            evidence=d.get("evidence", ""),
            remediation=d.get("remediation", ""),
            references=tuple(d.get("references", ())),
            description=d.get("description", ""),
            standards=tuple(d.get("standards", ())),
            details=d.get("details", {}),
        )


@dataclass(frozen=True)
class Suppressed:
    """A finding the policy set aside, and why (an ignore rule, a VEX statement)."""

    finding: Finding
    reason: str
    source: str


@dataclass(frozen=True)
class ScanReport:
    """What ``hullscan scan`` produces: the inventory plus the findings after policy."""

    inventory: Inventory
    findings: tuple[Finding, ...] = ()
    suppressed: tuple[Suppressed, ...] = ()
    scanners: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    #: per-scanner facts beyond findings (base classification, layer waste, binaries)
    summaries: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """The ``hullscan.report/v1`` document (what ``--format json`` prints)."""
        from hullscan.report.json_report import report_dict

        return report_dict(self)

    def exceeds(self, threshold: Severity | None, *, kev: bool = False) -> bool:
        """Whether a reported finding is at or above ``threshold`` (``--fail-on``), or
        with ``kev`` (``--fail-on-kev``) is in CISA's Known Exploited Vulnerabilities."""
        if kev and any(f.kev is not None for f in self.findings):
            return True
        return threshold is not None and any(f.severity >= threshold for f in self.findings)
