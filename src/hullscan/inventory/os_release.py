"""The distribution: os-release, plus the more precise release files some distributions keep."""

from __future__ import annotations

import re
import shlex
from typing import IO

from hullscan.analyzer import Analyzer, AnalyzerInputError, AnalyzerResult
from hullscan.model import FileInfo, OSInfo

OS_RELEASE = ("etc/os-release", "usr/lib/os-release")
RELEASE_FILES = {
    "etc/debian_version": "debian",
    "etc/alpine-release": "alpine",
    "etc/redhat-release": "rhel",
    "etc/centos-release": "centos",
    "etc/fedora-release": "fedora",
    "etc/rocky-release": "rocky",
    "etc/almalinux-release": "almalinux",
}
_RH_RELEASE = re.compile(r"release\s+([0-9][0-9.]*)")


def parse_os_release(text: str) -> dict[str, str]:
    """KEY=value lines with shell quoting, as os-release(5) defines them."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, raw = line.partition("=")
        try:
            words = shlex.split(raw, posix=True)
        except ValueError:
            words = [raw.strip("\"'")]
        fields[key.strip()] = " ".join(words)
    return fields


class OSReleaseAnalyzer(Analyzer):
    name = "os-release"
    version = 1
    max_size = 64 * 1024

    def required(self, path: str, info: FileInfo) -> bool:
        return path in OS_RELEASE or path in RELEASE_FILES

    def analyze(self, path: str, info: FileInfo, stream: IO[bytes]) -> AnalyzerResult | None:
        text = stream.read(self.max_size).decode("utf-8", "replace")
        if path in OS_RELEASE:
            f = parse_os_release(text)
            if not f.get("ID"):
                raise AnalyzerInputError("no ID= line")
            pretty = f.get("PRETTY_NAME", "")
            return AnalyzerResult(
                os=OSInfo(
                    id=f["ID"].lower(),
                    version_id=f.get("VERSION_ID", ""),
                    name=f.get("NAME", ""),
                    pretty_name=pretty,
                    codename=f.get("VERSION_CODENAME", ""),
                    distroless="distroless" in (pretty + f.get("HOME_URL", "")).lower(),
                )
            )
        release = text.strip().splitlines()[0].strip() if text.strip() else ""
        if not release:
            return None
        distro = RELEASE_FILES[path]
        if distro in ("rhel", "centos", "fedora", "rocky", "almalinux"):
            m = _RH_RELEASE.search(release)
            release = m.group(1) if m else release
        return AnalyzerResult(os=OSInfo(id=distro, release=release))
