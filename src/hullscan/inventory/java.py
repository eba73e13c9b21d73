"""Java archives (jar, war, ear, Jenkins plugins, ...): Maven coordinates.

Modelled on syft's java archive cataloger, simplified: every
``META-INF/maven/**/pom.properties`` in an archive is a package; an archive with
none gets one package from ``META-INF/MANIFEST.MF`` and its file name. Archives
nested inside (``WEB-INF/lib/*.jar``, ``BOOT-INF/lib/*.jar``, ...) are scanned the
same way, to a bounded depth and size; their packages carry
``metadata["archive_path"]``, the member path inside the scanned file (deeper
levels joined with ``:``, as syft does).
"""

from __future__ import annotations

import lzma
import posixpath
import re
import struct
import zipfile
import zlib
from dataclasses import dataclass, field
from typing import IO, Any
from xml.etree import ElementTree

from hullscan.analyzer import Analyzer, AnalyzerInputError, AnalyzerResult, MiB
from hullscan.inventory.purl import make_purl
from hullscan.licenses import declared_all
from hullscan.model import FileInfo, License, Package
from hullscan.tempfiles import spool

ARCHIVE_EXTENSIONS = (".jar", ".war", ".ear", ".jpi", ".hpi", ".par", ".sar", ".nar", ".kar")

#: nested archives are followed this many levels below the scanned file
MAX_DEPTH = 4
#: entries in one archive's central directory (zipfile holds them all in memory)
MAX_ENTRIES = 200_000
#: uncompressed size of one nested archive, and of all nested archives of one file
MAX_NESTED_SIZE = 256 * MiB
MAX_NESTED_TOTAL = 1024 * MiB
MAX_NESTED_COUNT = 5_000
#: MANIFEST.MF and pom.properties larger than this are not metadata
MAX_META_SIZE = 1 * MiB
MAX_POM_PROPERTIES = 5_000

# Everything zipfile and its decompressors raise on corrupt, truncated, encrypted
# or unsupported input (encryption is a RuntimeError, unknown methods NotImplementedError).
_ZIP_ERRORS: tuple[type[Exception], ...] = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    zlib.error,
    lzma.LZMAError,
    NotImplementedError,
    RuntimeError,
    EOFError,
    OSError,
    ValueError,
    struct.error,
)

_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")
_RC_VERSION = re.compile(r"rc?\d+", re.ASCII | re.IGNORECASE)
_JAVA_IDENTIFIER_START = re.compile(r"^[^\W\d]")

_GROUP_PREFIXES = ("com.", "org.", "net.", "io.", "be.")
# syft's cpegenerate PrimaryJavaManifestGroupIDFields (minus the explicit ones tried first)
_GROUP_FIELDS = (
    "Bundle-SymbolicName",
    "Extension-Name",
    "Specification-Vendor",
    "Implementation-Vendor",
    "Implementation-Title",
    "Bundle-Activator",
)
# Main-Class is left out: a class name is never a group id
_SECONDARY_GROUP_FIELDS = ("Automatic-Module-Name", "Package")
_VERSION_FIELDS = (
    "Implementation-Version",
    "Specification-Version",
    "Plugin-Version",
    "Bundle-Version",
)
_NAME_FIELDS = ("Name", "Bundle-Name", "Short-Name", "Extension-Name", "Implementation-Title")
_LICENSE_FIELDS = ("Bundle-License", "Plugin-License-Name")
_LICENSE_TEXTS = frozenset({"META-INF/LICENSE", "META-INF/LICENSE.TXT", "META-INF/LICENSE.MD"})


def is_java_archive(path: str) -> bool:
    return path.lower().endswith(ARCHIVE_EXTENSIONS)


def _is_version(s: str) -> bool:
    """Starts like a version: a digit, ``build<N>``, or is ``r<N>``/``rc<N>``."""
    return (
        (s[:1].isdigit() and s[:1].isascii())
        or (s[:5].lower() == "build" and s[5:6].isdigit() and s[5:6].isascii())
        or _RC_VERSION.fullmatch(s) is not None
    )


def parse_archive_filename(path: str) -> tuple[str, str]:
    """(name, version) from an archive's file name, e.g. ``commons-text-1.10.0.jar``.

    syft's archive_filename.go nameAndVersionPattern, without a regex (that one
    backtracks exponentially on names like ``a.a.a.a...!``): the name is dash-separated
    words that start with a letter; the shortest such name followed by ``-`` and
    something version-like (see ``_is_version``) ends there. Failing that, a
    ``_<version>`` or ``.<version>`` suffix of the name is the version.
    """
    stem = posixpath.splitext(posixpath.basename(path))[0]
    if not stem or not (stem[0].isascii() and stem[0].isalpha()):
        return "", ""
    name, version = "", ""
    for i in range(1, len(stem) + 1):
        c = stem[i - 1]
        if c not in _NAME_CHARS or (
            i >= 2 and stem[i - 2] == "-" and not (c.isascii() and c.isalpha())
        ):
            return "", ""
        if i == len(stem):
            name = stem
        elif stem[i] == "-" and _is_version(stem[i + 1 :]):
            name, version = stem[:i], stem[i + 1 :]
        else:
            continue
        break
    if not version:
        for i, c in enumerate(name):
            if c in "._-" and _is_version(name[i + 1 :]):
                return name[:i], name[i + 1 :]
    return name, version


@dataclass
class Manifest:
    """A parsed MANIFEST.MF: the main section and the per-entry sections."""

    main: dict[str, str] = field(default_factory=dict)
    sections: list[dict[str, str]] = field(default_factory=list)

    def get(self, key: str) -> str:
        """The value of ``key`` in the main section, else in the first section having it."""
        for section in (self.main, *self.sections):
            if value := section.get(key, ""):
                return value
        return ""


def parse_manifest(text: str) -> Manifest:
    """Parse MANIFEST.MF: ``Key: value`` lines, continuation lines start with one space,
    blank lines separate sections (the first one is the main section)."""
    sections: list[dict[str, str]] = []
    current: dict[str, str] | None = None
    last_key = ""
    for line in text.splitlines():
        if not line.strip():
            current, last_key = None, ""
            continue
        if line[0] == " ":
            if current is not None and last_key:
                current[last_key] += line[1:]
            continue
        key, sep, value = line.partition(":")
        key = key.strip()
        if not sep or not key:
            continue
        if current is None:
            current = {}
            sections.append(current)
        if key in current:
            # a repeated key is ignored, continuations included
            last_key = ""
            continue
        # no rstrip: a line may be wrapped right after a space
        current[key] = value.lstrip()
        last_key = key
    sections = [{k: v.strip() for k, v in s.items()} for s in sections]
    if not sections:
        return Manifest()
    return Manifest(main=sections[0], sections=sections[1:])


def parse_pom_properties(text: str) -> dict[str, str]:
    """``key=value`` / ``key: value`` lines; ``#`` and ``!`` comments."""
    props: dict[str, str] = {}
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped[0] in "#!":
            continue
        m = re.search(r"[=:]", stripped)
        if m:
            props[stripped[: m.start()].strip()] = stripped[m.end() :].strip()
    return props


def _classified(zf: zipfile.ZipFile, member: zipfile.ZipInfo, where: str) -> tuple[License, ...]:
    from hullscan.licenses.text import MAX_TEXT, classify

    if member.file_size > MAX_TEXT:
        return ()
    ids = classify(_read_member(zf, member, MAX_TEXT).decode("utf-8", "replace"))
    return tuple(License(i, i, "java:license-file", where) for i in ids)


def pom_xml_licenses(data: bytes, where: str) -> tuple[License, ...]:
    """The ``<licenses>`` of a POM: each licence's name (else its URL). A POM with a
    DOCTYPE is not parsed (no entity expansion from a stranger's file)."""
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        return ()
    try:
        root = ElementTree.fromstring(data)
    except ElementTree.ParseError:
        return ()
    ns = root.tag[: root.tag.index("}") + 1] if root.tag.startswith("{") else ""
    values = []
    for lic in root.findall(f"{ns}licenses/{ns}license"):
        value = (lic.findtext(f"{ns}name") or lic.findtext(f"{ns}url") or "").strip()
        if value:
            values.append(value)
    return declared_all(values, "maven:pom.xml", where)


def _clean_group(value: str) -> str:
    # "org.bar;uses:=org.foo" (OSGi directives) -> "org.bar"
    return value.split(";")[0].split("#")[0].strip()


def _bundle_symbolic_name(manifest: Manifest) -> str:
    """Bundle-SymbolicName, when the Maven Bundle Plugin made it "${groupId}.${artifactId}"."""
    symbolic = _clean_group(manifest.get("Bundle-SymbolicName"))
    if (
        "Apache Maven Bundle Plugin" in manifest.get("Created-By")
        and "." in symbolic
        and symbolic != manifest.get("Implementation-Vendor-Id")
    ):
        return symbolic
    return ""


def _manifest_group(manifest: Manifest) -> str:
    for key in ("Group-Id", "Implementation-Vendor-Id"):
        value = _clean_group(manifest.get(key))
        if value and " " not in value:
            return value
    if symbolic := _bundle_symbolic_name(manifest):
        return symbolic.rsplit(".", 1)[0]
    for fields in (_GROUP_FIELDS, _SECONDARY_GROUP_FIELDS):
        # syft sorts the candidates, which prefers the shorter of nested ids
        # (org.apache.commons over org.apache.commons.text)
        candidates = sorted(
            _clean_group(v) for f in fields if (v := manifest.get(f)).startswith(_GROUP_PREFIXES)
        )
        if candidates:
            return candidates[0]
    return ""


def _manifest_name(manifest: Manifest, file_name: str) -> str:
    if symbolic := _bundle_symbolic_name(manifest):
        return symbolic.rsplit(".", 1)[-1]
    if file_name:
        # "org.example.foo" may be groupId.artifactId, except for Eclipse's dotted artifacts
        parts = file_name.split(".")
        if (
            len(parts) > 1
            and not file_name.startswith("org.eclipse.")
            and all(_JAVA_IDENTIFIER_START.match(p) for p in parts)
        ):
            return parts[-1]
        return file_name
    for key in _NAME_FIELDS:
        if value := manifest.get(key):
            return value
    return ""


@dataclass
class _Budget:
    """What is left for nested archives of one scanned file."""

    bytes: int
    count: int


def _central_directory_count(f: IO[bytes]) -> int:
    """The entry count from the end-of-central-directory record (zip64 too), read the
    way zipfile finds it, so that a huge directory is refused before it is loaded."""
    f.seek(0, 2)
    size = f.tell()
    tail_len = min(size, 22 + 0xFFFF + 20 + 56)
    f.seek(size - tail_len)
    tail = f.read(tail_len)
    if tail[-22:-18] == b"PK\x05\x06" and tail[-2:] == b"\0\0":
        pos = len(tail) - 22
    else:
        pos = tail.rfind(b"PK\x05\x06")
        if pos < 0 or pos + 22 > len(tail):
            raise zipfile.BadZipFile("not a zip archive")
    (count,) = struct.unpack_from("<H", tail, pos + 10)
    z64 = pos - 20 - 56
    if (
        count == 0xFFFF
        and z64 >= 0
        and tail[pos - 20 : pos - 16] == b"PK\x06\x07"
        and tail[z64 : z64 + 4] == b"PK\x06\x06"
    ):
        (count,) = struct.unpack_from("<Q", tail, z64 + 32)
    return int(count)


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int) -> bytes:
    if info.file_size > limit:
        raise ValueError(f"{info.filename} is larger than {limit} bytes")
    with zf.open(info) as f:
        return f.read(limit + 1)[:limit]


class JavaArchiveAnalyzer(Analyzer):
    """Maven packages in Java archives, nested archives included."""

    name = "java-archive"
    version = 2
    max_size = 256 * MiB

    def required(self, path: str, info: FileInfo) -> bool:
        return info.is_regular and is_java_archive(path)

    def analyze(self, path: str, info: FileInfo, stream: IO[bytes]) -> AnalyzerResult | None:
        result = AnalyzerResult()
        with spool(stream, limit=info.size) as f:
            try:
                self._scan(f, path, (), result, _Budget(MAX_NESTED_TOTAL, MAX_NESTED_COUNT))
            except _ZIP_ERRORS as e:
                raise AnalyzerInputError(f"invalid java archive: {e}") from None
        return None if result.is_empty() else result

    def _scan(
        self,
        f: IO[bytes],
        file_name: str,
        chain: tuple[str, ...],
        result: AnalyzerResult,
        budget: _Budget,
    ) -> None:
        """Add the packages of the archive in ``f`` (reached through ``chain``) to ``result``."""
        count = _central_directory_count(f)
        if count > MAX_ENTRIES:
            raise zipfile.BadZipFile(f"too many entries ({count})")
        with zipfile.ZipFile(f) as zf:
            members = zf.infolist()
            if len(members) > MAX_ENTRIES:
                raise zipfile.BadZipFile(f"too many entries ({len(members)})")
            self._packages(zf, members, file_name, chain, result)
            # not ZipInfo.is_dir(): it raises IndexError on an empty name
            nested = [m for m in members if is_java_archive(m.filename)]
            if nested and len(chain) >= MAX_DEPTH:
                result.warnings.append(
                    f"{self._where(chain)}: archives nested deeper than "
                    f"{MAX_DEPTH} levels not scanned"
                )
                return
            for member in nested:
                self._scan_nested(zf, member, chain, result, budget)

    def _scan_nested(
        self,
        zf: zipfile.ZipFile,
        member: zipfile.ZipInfo,
        chain: tuple[str, ...],
        result: AnalyzerResult,
        budget: _Budget,
    ) -> None:
        inner = (*chain, member.filename)
        if budget.count <= 0 or member.file_size > min(MAX_NESTED_SIZE, budget.bytes):
            result.warnings.append(
                f"{self._where(inner)}: nested archive not scanned (size or count limit)"
            )
            return
        budget.count -= 1
        budget.bytes -= member.file_size
        try:
            with zf.open(member) as src, spool(src, limit=member.file_size) as f:
                self._scan(f, member.filename, inner, result, budget)
        except _ZIP_ERRORS as e:
            # one broken library must not hide the rest of the application
            result.warnings.append(f"{self._where(inner)}: invalid nested archive: {e}")

    @staticmethod
    def _where(chain: tuple[str, ...]) -> str:
        return ":".join(chain) or "archive"

    def _packages(
        self,
        zf: zipfile.ZipFile,
        members: list[zipfile.ZipInfo],
        file_name: str,
        chain: tuple[str, ...],
        result: AnalyzerResult,
    ) -> None:
        manifest: Manifest | None = None
        poms: list[zipfile.ZipInfo] = []
        for m in members:
            upper = m.filename.upper()
            if upper == "META-INF/MANIFEST.MF" and manifest is None:
                manifest = parse_manifest(
                    _read_member(zf, m, MAX_META_SIZE).decode("utf-8", "replace")
                )
            elif upper.startswith("META-INF/MAVEN/") and m.filename.endswith("/pom.properties"):
                poms.append(m)
        if len(poms) > MAX_POM_PROPERTIES:
            result.warnings.append(
                f"{self._where(chain)}: only the first {MAX_POM_PROPERTIES} pom.properties read"
            )
            poms = poms[:MAX_POM_PROPERTIES]
        # instrumentation jars (New Relic) name the library they weave into, not themselves
        if manifest is not None and manifest.get("Weave-Classes"):
            return
        base_meta: dict[str, Any] = {"archive_path": ":".join(chain)} if chain else {}
        fname, fversion = parse_archive_filename(file_name)
        licenses = declared_all(
            [v for k in _LICENSE_FIELDS if (v := (manifest or Manifest()).get(k))],
            "java:MANIFEST.MF",
            self._where((*chain, "META-INF/MANIFEST.MF")),
        )
        names = {m.filename for m in members}
        if not licenses and (
            text := next((m for m in members if m.filename.upper() in _LICENSE_TEXTS), None)
        ):
            # no declaration: the archive's own licence text, when it is one for certain
            licenses = _classified(zf, text, self._where((*chain, text.filename)))

        found: list[tuple[str, str, str, dict[str, Any], tuple[License, ...]]] = []
        seen: set[tuple[str, str, str]] = set()
        for m in poms:
            props = parse_pom_properties(
                _read_member(zf, m, MAX_META_SIZE).decode("utf-8", "replace")
            )
            artifact, version = props.get("artifactId", ""), props.get("version", "")
            group = _clean_group(props.get("groupId", ""))
            if not artifact or not version or (group, artifact, version) in seen:
                continue
            seen.add((group, artifact, version))
            pom = m.filename[: -len("pom.properties")] + "pom.xml"
            pom_licenses = (
                pom_xml_licenses(
                    _read_member(zf, zf.getinfo(pom), MAX_META_SIZE), self._where((*chain, pom))
                )
                if pom in names
                else ()
            )
            found.append(
                (
                    group or artifact,
                    artifact,
                    version,
                    {**base_meta, "pom_properties": m.filename},
                    pom_licenses,
                )
            )
        if found:
            # the manifest's licenses belong to the archive's own artifact only
            own = [i for i, (_, a, _, _, _) in enumerate(found) if a == fname] if fname else []
            own = own or ([0] if len(found) == 1 else [])
            for i, (group, artifact, version, meta, pom_licenses) in enumerate(found):
                self._add(
                    result,
                    group,
                    artifact,
                    version,
                    pom_licenses or (licenses if i in own else ()),
                    meta,
                )
        elif manifest is not None:
            name = _manifest_name(manifest, fname)
            if not name:
                return
            version = fversion or next((v for k in _VERSION_FIELDS if (v := manifest.get(k))), "")
            meta = dict(base_meta)
            if title := manifest.get("Implementation-Title") or manifest.get("Bundle-Name"):
                meta["manifest_name"] = title
            self._add(result, _manifest_group(manifest) or name, name, version, licenses, meta)

    def _add(
        self,
        result: AnalyzerResult,
        group: str,
        artifact: str,
        version: str,
        licenses: tuple[License, ...],
        meta: dict[str, Any],
    ) -> None:
        result.packages.append(
            Package(
                name=artifact,
                version=version,
                type="maven",
                purl=make_purl("maven", artifact, version, namespace=group),
                licenses=licenses,
                found_by=self.name,
                metadata={"group_id": group, **meta},
            )
        )
