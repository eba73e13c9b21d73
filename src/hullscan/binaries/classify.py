"""Binary classifiers: component versions read from the banners that executables and
libraries carry (``OpenSSL 3.0.11 19 Sep 2023``, ``BusyBox v1.35.0 (...)``).

The classifiers are data (``classifiers.yaml``). Only files whose name matches a
classifier's ``files`` glob are read, and each is matched only against the classifiers
whose glob matched, so a binary that merely links libssl is never "OpenSSL". Files are
streamed in chunks; each chunk is searched together with the tail of the previous one,
so memory stays bounded whatever the file size.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fnmatch import translate
from functools import cache
from importlib import resources
from typing import IO, Any

from packageurl import PackageURL

from hullscan.analyzer import Analyzer, AnalyzerInputError, AnalyzerResult, MiB
from hullscan.inventory.purl import make_purl
from hullscan.model import FileInfo, Package
from hullscan.yamltext import parse_yaml

#: bytes kept from the previous chunk; a banner match is never longer than MAX_MATCH
OVERLAP = 512
MAX_MATCH = 256
CHUNK = 1 * MiB
MAX_EVIDENCE = 120


@dataclass(frozen=True)
class Classifier:
    id: str
    name: str
    files: tuple[str, ...]
    patterns: tuple[re.Pattern[bytes], ...]
    purl: str
    cpe: str
    version_format: str = ""
    path_version: re.Pattern[str] | None = None

    def version_of(self, m: re.Match[bytes]) -> str:
        groups = {
            k: v.decode("ascii", "replace") for k, v in m.groupdict().items() if v is not None
        }
        if self.version_format:
            return self.version_format.format(**groups)
        return groups.get("version", "")

    def render(self, template: str, version: str) -> str:
        return template.replace("{version}", version) if template else ""

    def package_url(self, version: str) -> str:
        """The purl template, canonically encoded (``+`` in a version → ``%2B``)."""
        base = PackageURL.from_string(self.purl.replace("@{version}", ""))
        return make_purl(base.type, base.name, version, base.namespace)


def _compile(spec: dict[str, Any], where: str) -> Classifier:
    raw = spec["regex"]
    regexes = [raw] if isinstance(raw, str) else list(raw)
    patterns = []
    for rx in regexes:
        try:
            # YAML single-quoted text: backslash escapes are the regex's own
            patterns.append(re.compile(str(rx).encode("latin-1")))
        except re.error as e:
            raise ValueError(f"classifiers.yaml {where}: bad regex {rx!r}: {e}") from None
    fmt = str(spec.get("version_format", ""))
    for p in patterns:
        if not fmt and "version" not in p.groupindex and spec.get("cpe"):
            raise ValueError(f"classifiers.yaml {where}: regex lacks a version group")
    pv = spec.get("path_version")
    return Classifier(
        id=str(spec.get("id") or spec["name"]),
        name=str(spec["name"]),
        files=tuple(str(f) for f in spec["files"]),
        patterns=tuple(patterns),
        purl=str(spec["purl"]),
        cpe=str(spec.get("cpe") or ""),
        version_format=fmt,
        path_version=re.compile(str(pv)) if pv else None,
    )


@dataclass(frozen=True)
class ClassifierSet:
    classifiers: tuple[Classifier, ...]
    #: per classifier: one compiled regex of its basename globs and one of its path globs
    base_res: tuple[re.Pattern[str] | None, ...]
    path_res: tuple[re.Pattern[str] | None, ...]
    #: any classifier's globs, for the cheap ``required`` test
    any_base: re.Pattern[str] | None
    any_path: re.Pattern[str] | None

    def matching(self, path: str) -> list[Classifier]:
        base = path.rpartition("/")[2]
        out = []
        for c, b, p in zip(self.classifiers, self.base_res, self.path_res, strict=True):
            if (b is not None and b.match(base)) or (p is not None and p.match(path)):
                out.append(c)
        return out

    def wants(self, path: str) -> bool:
        base = path.rpartition("/")[2]
        return bool(
            (self.any_base and self.any_base.match(base))
            or (self.any_path and self.any_path.match(path))
        )


def _globs_re(globs: list[str]) -> re.Pattern[str] | None:
    # fnmatch.translate gives an anchored pattern per glob; case-sensitive like paths
    return re.compile("|".join(f"(?:{translate(g)})" for g in globs)) if globs else None


def build(specs: list[dict[str, Any]]) -> ClassifierSet:
    classifiers = tuple(
        _compile(s, f"#{i} {s.get('id') or s.get('name')}") for i, s in enumerate(specs)
    )
    base_res, path_res = [], []
    all_base: list[str] = []
    all_path: list[str] = []
    for c in classifiers:
        bases = [g for g in c.files if "/" not in g]
        paths = [g.lstrip("/") for g in c.files if "/" in g]
        base_res.append(_globs_re(bases))
        path_res.append(_globs_re(paths))
        all_base += bases
        all_path += paths
    return ClassifierSet(
        classifiers,
        tuple(base_res),
        tuple(path_res),
        _globs_re(sorted(set(all_base))),
        _globs_re(sorted(set(all_path))),
    )


@cache
def default_classifiers() -> ClassifierSet:
    """The built-in table, parsed once per process."""
    text = resources.files("hullscan.binaries").joinpath("classifiers.yaml").read_text("utf-8")
    return build(parse_yaml(text)["classifiers"])


def _evidence(m: re.Match[bytes]) -> str:
    text = m.group(0).decode("ascii", "replace")
    text = "".join(ch if ch.isprintable() else " " for ch in text).strip()
    return " ".join(text.split())[:MAX_EVIDENCE]


def _accept(version: str, prefix: str | None) -> bool:
    if prefix is None:
        return True
    return version == prefix or version.startswith(prefix + ".")


def scan_stream(
    stream: IO[bytes], classifiers: list[Classifier], limit: int, path: str = ""
) -> dict[str, tuple[Classifier, str, str]]:
    """Classifier id -> (classifier, version, evidence) for the first match of each,
    reading at most ``limit`` bytes in chunks."""
    prefixes: dict[str, str | None] = {}
    for c in classifiers:
        pm = c.path_version.search(path) if c.path_version else None
        prefixes[c.id] = pm.group("version") if pm else None
    pending = list(classifiers)
    found: dict[str, tuple[Classifier, str, str]] = {}
    tail = b""
    remaining = limit
    while pending and remaining > 0:
        chunk = stream.read(min(CHUNK, remaining))
        eof = not chunk
        remaining -= len(chunk)
        buf = tail + chunk
        # a match ending in the last MAX_MATCH bytes may be cut short (e.g. "3.0.2" of
        # "3.0.22"): leave it for the next round, where it starts inside the kept tail
        cutoff = len(buf) if eof or remaining <= 0 else len(buf) - MAX_MATCH
        for c in list(pending):
            hit = _search(c, buf, cutoff, prefixes[c.id])
            if hit is not None:
                found[c.id] = (c, *hit)
                pending.remove(c)
        if eof:
            break
        tail = buf[-OVERLAP:]
    return found


def _search(c: Classifier, buf: bytes, cutoff: int, prefix: str | None) -> tuple[str, str] | None:
    best: tuple[int, str, str] | None = None
    for pat in c.patterns:
        for m in pat.finditer(buf):
            if m.end() > cutoff or (best is not None and m.start() >= best[0]):
                break
            version = c.version_of(m)
            if _accept(version, prefix):
                best = (m.start(), version, _evidence(m))
                break
    return (best[1], best[2]) if best else None


class BinaryClassifierAnalyzer(Analyzer):
    """Components recognised by their version banners (see ``classifiers.yaml``)."""

    name = "binary-classifier"
    version = 1
    max_size = 256 * MiB

    def __init__(self, classifiers: ClassifierSet | None = None) -> None:
        self._classifiers = classifiers

    @property
    def classifiers(self) -> ClassifierSet:
        """The table, parsed and compiled when the first file is looked at: a rescan from
        the cache looks at none, and the table's ~80 regexes are a tenth of its work."""
        if self._classifiers is None:
            self._classifiers = default_classifiers()
        return self._classifiers

    def required(self, path: str, info: FileInfo) -> bool:
        return info.is_regular and info.size > 0 and self.classifiers.wants(path)

    def analyze(self, path: str, info: FileInfo, stream: IO[bytes]) -> AnalyzerResult | None:
        candidates = self.classifiers.matching(path)
        if not candidates:
            return None
        try:
            found = scan_stream(stream, candidates, info.size, path)
        except OSError as e:
            raise AnalyzerInputError(f"cannot read {path}: {e}") from None
        packages = []
        seen: set[tuple[str, str]] = set()
        for c, version, evidence in found.values():
            if (c.name, version) in seen:  # e.g. two OpenJDK classifiers on one file
                continue
            seen.add((c.name, version))
            packages.append(
                Package(
                    name=c.name,
                    version=version,
                    type=c.purl.split(":", 1)[1].split("/", 1)[0],
                    purl=c.package_url(version),
                    found_by=self.name,
                    metadata={
                        "classifier": c.id,
                        "cpe": c.render(c.cpe, version) if version else "",
                        "evidence": evidence,
                    },
                )
            )
        return AnalyzerResult(packages=packages) if packages else None
