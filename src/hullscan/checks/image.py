"""Image checks (``--scanners config``): what a built image's config, history and final
filesystem say about how it was built, in the spirit of Dockle and the CIS Docker
Benchmark section 4.

Everything is read from one ``AnalyzedImage``: the config (User, Healthcheck, Volumes,
ExposedPorts, Labels), the history ``created_by`` lines, every layer's file index (modes,
sizes, whiteouts) and the inventory. The account files are judged by the
``AccountsAnalyzer`` during the layer walk; its findings are collected here.

Secrets in Env and history are not checked here: the secret scanner reports them.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import replace
from typing import Any

from hullscan.checks.accounts import ACCOUNT_CHECKS
from hullscan.checks.catalogue import Catalogue, Check, CheckSettings
from hullscan.checks.eol import eol_table, release_for
from hullscan.checks.ports import PORT_RANGE_ADVICE, SSH_ADVICE, port_problem
from hullscan.errors import ImageError
from hullscan.inventory import OS_PACKAGE_TYPES
from hullscan.model import FileInfo, FileType, Finding, Severity
from hullscan.pipeline import AnalyzedImage
from hullscan.references import (
    LOCAL_TRANSPORTS,
    Reference,
    canonical_name,
    is_local,
    parse_name,
    split_path_and_tag,
)
from hullscan.secrets import redact

MiB = 1024 * 1024
_MULTI_STAGE = "Use a multi-stage build and copy only the runtime artifacts into the final stage."

RUNS_AS_ROOT = Check(
    "HS-IMG-001",
    Severity.HIGH,
    "Image runs as root",
    "Create an unprivileged user and switch to it (USER 10001:10001) in the final stage.",
    ("CIS-Docker-4.1", "CIS-DI-0001", "DL3002", "DS002"),
    description="A process running as root in the container is root on the host's kernel; "
    "one escape or one writable host mount away from the host.",
)
NO_HEALTHCHECK = Check(
    "HS-IMG-002",
    Severity.LOW,
    "No HEALTHCHECK",
    "Add a HEALTHCHECK instruction (or rely on the orchestrator's probes and ignore this).",
    ("CIS-Docker-4.6", "CIS-DI-0006", "DS026"),
)
UPDATE_ALONE = Check(
    "HS-IMG-003",
    Severity.MEDIUM,
    "Package index updated in a layer of its own",
    "Update and install in the same RUN (apt-get update && apt-get install -y … && rm -rf "
    "/var/lib/apt/lists/*), so a cached update layer never serves stale indexes.",
    ("CIS-Docker-4.7", "CIS-DI-0007", "DS017", "DL3009"),
)
ADD_USED = Check(
    "HS-IMG-004",
    Severity.LOW,
    "ADD used instead of COPY",
    "Use COPY for local files; download with curl/wget and verify a checksum (or ADD "
    "--checksum=) instead of ADD <url>.",
    ("CIS-Docker-4.9", "CIS-DI-0009", "DL3020", "DS005"),
)
SUDO = Check(
    "HS-IMG-005",
    Severity.MEDIUM,
    "sudo installed",
    "Remove sudo; run as the needed user (USER) and use gosu/su-exec in entrypoints.",
    ("DKL-DI-0001", "DL3004"),
)
SENSITIVE_VOLUME = Check(
    "HS-IMG-006",
    Severity.HIGH,
    "Volume on a sensitive directory",
    "Remove the VOLUME; never declare system directories or the Docker socket as volumes.",
    ("DKL-DI-0002", "CIS-Docker-5.5", "CIS-Docker-5.31"),
)
CACHE_LEFT = Check(
    "HS-IMG-007",
    Severity.LOW,
    "Package manager cache left in the image",
    "Clean in the same RUN that fills it (apt-get clean && rm -rf /var/lib/apt/lists/*, "
    "apk add --no-cache, dnf clean all, pip --no-cache-dir, npm cache clean --force) or use a "
    "cache mount (RUN --mount=type=cache).",
    ("DKL-DI-0005", "DL3009", "DL3019", "DL3042"),
)
SSH_PORT = Check("HS-IMG-008", Severity.HIGH, "SSH port 22 exposed", SSH_ADVICE, ("DS004",))
BAD_PORT = Check(
    "HS-IMG-009",
    Severity.MEDIUM,
    "Exposed port out of range",
    PORT_RANGE_ADVICE,
    ("DL3011", "DS008"),
)
SETUID_FOREIGN = Check(
    "HS-IMG-010",
    Severity.HIGH,
    "setuid/setgid file not from an OS package",
    "Remove the file or its setuid/setgid bit (chmod u-s,g-s); a privileged helper the "
    "distribution does not maintain gets no security updates.",
    ("CIS-Docker-4.8", "CIS-DI-0008"),
)
SETUID_OS = Check(
    "HS-IMG-011",
    Severity.LOW,
    "setuid/setgid files from OS packages",
    "If the application does not need them, strip the bits in the final stage: "
    "find / -xdev -perm /6000 -type f -exec chmod a-s {} +",
    ("CIS-Docker-4.8", "CIS-DI-0008"),
)
UNNECESSARY_FILES = Check(
    "HS-IMG-012",
    Severity.LOW,
    "Unnecessary files in the image",
    "Exclude them with .dockerignore, or copy only the build output into the final stage.",
    ("DKL-LI-0003",),
)
LATEST_TAG = Check(
    "HS-IMG-013",
    Severity.MEDIUM,
    "Image referenced by the latest tag (or no tag)",
    "Reference a versioned tag, better a digest (name:tag@sha256:…).",
    ("DKL-DI-0006", "DL3007", "DS001"),
)
NOT_PINNED = Check(
    "HS-IMG-014",
    Severity.LOW,
    "Image not pinned by digest",
    "Reference images by digest (name:tag@sha256:…) so the same bytes are always used.",
    ("CIS-Docker-4.2",),
)
UNTRUSTED_REGISTRY = Check(
    "HS-IMG-015",
    Severity.MEDIUM,
    "Image from a registry not in trusted_registries",
    "Pull from a registry listed in checks.trusted_registries, or add it to the list.",
    ("CIS-Docker-4.2", "CIS-DI-0002"),
)
SHELL_PRESENT = Check(
    "HS-IMG-016",
    Severity.LOW,
    "Shell in the final image",
    f"{_MULTI_STAGE} A distroless or scratch final stage has no shell for an attacker to use.",
    ("CIS-Docker-4.3", "CIS-DI-0003"),
)
PACKAGE_MANAGER = Check(
    "HS-IMG-017",
    Severity.LOW,
    "Package manager in the final image",
    f"{_MULTI_STAGE} Without a package manager nobody can install tools into a running container.",
    ("CIS-Docker-4.3", "CIS-DI-0003"),
)
BUILD_TOOLS = Check(
    "HS-IMG-018",
    Severity.MEDIUM,
    "Compilers or build tools in the final image",
    f"{_MULTI_STAGE} Build in a builder stage; compilers help an attacker build exploits "
    "in place and add vulnerabilities to patch.",
    ("CIS-Docker-4.3", "CIS-DI-0003"),
)
EOL = Check(
    "HS-IMG-019",
    Severity.HIGH,
    "Distribution release past its end of life",
    "Rebuild on a supported release of the distribution; no security fixes are published "
    "for this one any more.",
    ("CIS-Docker-4.4", "CIS-DI-0004"),
)
EXTENDED_SUPPORT = Check(
    "HS-IMG-020",
    Severity.LOW,
    "Distribution release past regular support",
    "Plan the move to the current release: only long-term (LTS) or maintenance updates "
    "still come for this one.",
    ("CIS-Docker-4.4", "CIS-DI-0004"),
)
WASTED_SPACE = Check(
    "HS-IMG-021",
    Severity.MEDIUM,
    "Data overwritten or deleted by later layers",
    "Delete files in the same RUN that creates them, squash, or use a multi-stage build: "
    "bytes removed by a later layer still ship in the earlier layer, and so does any secret "
    "in them.",
    (),
)

IMAGE_CHECKS = Catalogue()
IMAGE_CHECKS.add(
    RUNS_AS_ROOT,
    NO_HEALTHCHECK,
    UPDATE_ALONE,
    ADD_USED,
    SUDO,
    SENSITIVE_VOLUME,
    CACHE_LEFT,
    SSH_PORT,
    BAD_PORT,
    SETUID_FOREIGN,
    SETUID_OS,
    UNNECESSARY_FILES,
    LATEST_TAG,
    NOT_PINNED,
    UNTRUSTED_REGISTRY,
    SHELL_PRESENT,
    PACKAGE_MANAGER,
    BUILD_TOOLS,
    EOL,
    EXTENDED_SUPPORT,
    WASTED_SPACE,
    *ACCOUNT_CHECKS,
)

#: at most this many paths in a finding's details
MAX_LISTED = 50


def _size(n: int) -> str:
    for unit, div in (("GiB", 1024**3), ("MiB", MiB), ("KiB", 1024)):
        if n >= div:
            return f"{n / div:.1f} {unit}"
    return f"{n} B"


def _some(paths: list[str], n: int = 5) -> str:
    more = f" and {len(paths) - n} more" if len(paths) > n else ""
    return ", ".join(f"/{p}" for p in paths[:n]) + more


class _Scan:
    """One image's facts, computed once and shared by the checks."""

    def __init__(self, analyzed: AnalyzedImage, today: dt.date) -> None:
        self.analyzed = analyzed
        self.fs = analyzed.fs
        self.today = today
        self.config = analyzed.image.image_config
        self.os_packages = [p for p in analyzed.inventory.packages if p.type in OS_PACKAGE_TYPES]

    def layer_id(self, index: int | None) -> str | None:
        if index is None or index >= len(self.analyzed.analyses):
            return None
        return self.analyzed.analyses[index].diff_id

    def is_owned(self, path: str) -> bool:
        return bool(self.fs.owner_of(path))

    def exists(self, path: str) -> str | None:
        """The real path if ``path`` (symlinks followed) is a file in the final image."""
        real = self.fs.resolve(path)
        entry = self.fs.final.get(real) if real else None
        return real if entry is not None and entry[1].type is not FileType.DIR else None

    def present(self, candidates: Iterable[str]) -> list[str]:
        """The candidates present, one name per real file."""
        seen: set[str] = set()
        out = []
        for c in candidates:
            real = self.exists(c)
            if real is not None and real not in seen:
                seen.add(real)
                out.append(c)
        return out

    def history(self) -> Iterator[tuple[int, str, int | None]]:
        """(history index, created_by, layer index or None for empty layers)."""
        layer = 0
        for i, h in enumerate(self.config.history):
            if h is None:
                continue
            yield i, h.created_by, None if h.empty_layer else layer
            if not h.empty_layer:
                layer += 1

    def final_files(self) -> Iterator[tuple[str, int, FileInfo]]:
        for path, (layer, info) in self.fs.final.items():
            yield path, layer, info


# -- config ------------------------------------------------------------------------------


def _user(s: _Scan) -> list[Finding]:
    user = s.config.user.strip()
    name = user.partition(":")[0]
    if name not in ("", "0", "root"):
        return []
    evidence = (
        "User is not set: the container runs as root"
        if not user
        else f"User is {user!r}: the container runs as root"
    )
    return [RUNS_AS_ROOT.finding(evidence, details={"user": user})]


def _healthcheck(s: _Scan) -> list[Finding]:
    test = s.config.healthcheck
    if test and test[0] != "NONE":
        return []
    why = "disabled (HEALTHCHECK NONE)" if test else "not set"
    return [NO_HEALTHCHECK.finding(f"Healthcheck is {why} in the image config")]


_SENSITIVE_DIRS = {
    "/",
    "/etc",
    "/proc",
    "/sys",
    "/dev",
    "/boot",
    "/usr",
    "/lib",
    "/lib64",
    "/bin",
    "/sbin",
    "/root",
    "/var/run",
    "/run",
}


def _volumes(s: _Scan) -> list[Finding]:
    out = []
    for v in s.config.volumes:
        norm = "/" + v.strip("/")
        if (
            norm in _SENSITIVE_DIRS
            or "docker.sock" in norm
            or norm.startswith(("/proc/", "/sys/", "/dev/", "/boot/"))
        ):
            out.append(
                SENSITIVE_VOLUME.finding(
                    f"Volumes declares {v!r}", path=norm.lstrip("/"), details={"volume": v}
                )
            )
    return out


def _ports(s: _Scan) -> list[Finding]:
    out = []
    for spec in s.config.exposed_ports:
        problem = port_problem(spec)
        if problem == "range":
            out.append(BAD_PORT.finding(f"ExposedPorts lists {spec!r}", details={"port": spec}))
        elif problem == "ssh":
            out.append(
                SSH_PORT.finding(f"ExposedPorts lists {spec!r} (SSH)", details={"port": spec})
            )
    return out


# -- history -----------------------------------------------------------------------------

_APT_UPDATE = re.compile(r"\b(?:apt-get|apt|aptitude)\s+(?:-\S+\s+)*update\b")
_APT_INSTALL = re.compile(
    r"\b(?:apt-get|apt|aptitude)\s+(?:-\S+\s+)*(?:install|upgrade|dist-upgrade|full-upgrade)\b"
)
_APK_UPDATE = re.compile(r"\bapk\s+(?:-\S+\s+)*update\b")
_APK_INSTALL = re.compile(r"\bapk\s+(?:-\S+\s+)*(?:add|upgrade)\b")
_RPM_UPDATE = re.compile(r"\b(?:yum|dnf|microdnf)\s+(?:-\S+\s+)*makecache\b")
_RPM_INSTALL = re.compile(r"\b(?:yum|dnf|microdnf)\s+(?:-\S+\s+)*(?:install|upgrade|update)\b")
_ADD = re.compile(r"(?:^|#\(nop\)\s+)ADD\s+(?P<args>.*)", re.S)
_URL = re.compile(r"\bhttps?://\S+")


def _history(s: _Scan) -> list[Finding]:
    out = []
    for i, line, layer in s.history():
        shown = redact(line.strip())
        if any(
            u.search(line) and not inst.search(line)
            for u, inst in (
                (_APT_UPDATE, _APT_INSTALL),
                (_APK_UPDATE, _APK_INSTALL),
                (_RPM_UPDATE, _RPM_INSTALL),
            )
        ):
            out.append(
                UPDATE_ALONE.finding(
                    f"history[{i}]: {shown}",
                    layer=s.layer_id(layer),
                    details={"history_index": i, "layer_index": layer, "created_by": shown},
                )
            )
        m = _ADD.search(line.strip())
        if m is None:
            continue
        url = _URL.search(m["args"])
        # the base image's own "ADD file:… in /" is how every base image starts
        if url is None and (layer is None or layer == 0):
            continue
        what = f"ADD of a URL ({redact(url.group())})" if url else "ADD after the base layer"
        out.append(
            ADD_USED.finding(
                f"history[{i}]: {what}: {shown}",
                layer=s.layer_id(layer),
                details={
                    "history_index": i,
                    "layer_index": layer,
                    "created_by": shown,
                    "url": bool(url),
                },
            )
        )
    return out


# -- filesystem --------------------------------------------------------------------------


def _sudo(s: _Scan) -> list[Finding]:
    pkgs = [p for p in s.os_packages if p.name == "sudo"]
    path = s.exists("usr/bin/sudo") or s.exists("bin/sudo")
    if not pkgs and not path:
        return []
    evidence = f"package sudo {pkgs[0].version} installed" if pkgs else f"/{path} present"
    return [SUDO.finding(evidence, path=path, details={"package": bool(pkgs)})]


def _cache_location(path: str) -> str | None:
    """The cache directory a file belongs to, or None."""
    if path.startswith("var/cache/apt/archives/") and path.endswith(".deb"):
        return "var/cache/apt/archives"
    if path.startswith("var/cache/apt/") and path.endswith(".bin"):
        return "var/cache/apt"
    if path.startswith("var/lib/apt/lists/"):
        rest = path[len("var/lib/apt/lists/") :]
        return None if rest == "lock" or rest.startswith("partial/") else "var/lib/apt/lists"
    for d in ("var/cache/apk", "var/cache/yum", "var/cache/dnf"):
        if path.startswith(d + "/"):
            return d
    for marker in ("/.cache/pip/", "/.npm/_cacache/"):
        at = ("/" + path).find(marker)
        if at >= 0:
            return path[: at + len(marker) - 2]
    return None


def _caches(s: _Scan) -> list[Finding]:
    groups: dict[str, list[tuple[str, int, int]]] = {}
    for path, layer, info in s.final_files():
        if info.is_regular and info.size > 0:
            loc = _cache_location(path)
            if loc is not None:
                groups.setdefault(loc, []).append((path, info.size, layer))
    out = []
    for loc, files in sorted(groups.items()):
        total = sum(size for _, size, _ in files)
        biggest = max(files, key=lambda f: f[1])
        out.append(
            CACHE_LEFT.finding(
                f"/{loc}: {len(files)} files, {_size(total)}",
                path=loc,
                layer=s.layer_id(biggest[2]),
                details={
                    "files": len(files),
                    "bytes": total,
                    "layers": sorted({layer for _, _, layer in files}),
                },
            )
        )
    return out


def unowned_setuid(path: str, info: FileInfo, layer: int, layer_id: str | None) -> Finding:
    """HS-IMG-010 for one setuid/setgid file that no OS package lists: one evidence text
    for the config and binary scanners alike."""
    bits = "+".join(b for b, m in (("setuid", 0o4000), ("setgid", 0o2000)) if info.mode & m)
    return SETUID_FOREIGN.finding(
        f"/{path} ({bits}, mode {info.mode & 0o7777:04o}, uid {info.uid}): not listed by any "
        "OS package database",
        path=path,
        layer=layer_id,
        details={
            "mode": f"{info.mode & 0o7777:04o}",
            "uid": info.uid,
            "gid": info.gid,
            "layer_index": layer,
        },
    )


def _setuid(s: _Scan) -> list[Finding]:
    foreign: list[Finding] = []
    os_owned: list[dict[str, Any]] = []
    for path, layer, info in sorted(s.final_files()):
        if not info.is_regular or not info.mode & 0o6000:
            continue
        if s.is_owned(path):
            os_owned.append({"path": path, "mode": f"{info.mode & 0o7777:04o}", "uid": info.uid})
        else:
            foreign.append(unowned_setuid(path, info, layer, s.layer_id(layer)))
    if os_owned:
        paths = [x["path"] for x in os_owned]
        foreign.append(
            SETUID_OS.finding(
                f"{len(paths)} setuid/setgid files from OS packages: {_some(paths)}",
                details={"files": os_owned},
            )
        )
    return foreign


_ENV_TEMPLATES = {".env.example", ".env.sample", ".env.template", ".env.dist"}
_SWAP = re.compile(r"^\..+\.sw[a-p]$")
_BUILD_CACHE_DIRS = (
    ("node_modules", ".cache"),
    (".pytest_cache",),
    (".gradle",),
    (".m2", "repository"),
    (".mypy_cache",),
    (".ruff_cache",),
)


def _unnecessary_kind(path: str, info: FileInfo) -> tuple[str, str] | None:
    """(category, the path to report) for a file that has no business in an image."""
    parts = path.split("/")
    if ".git" in parts[:-1] or (parts[-1] == ".git"):
        return "version control (.git)", "/".join(parts[: parts.index(".git") + 1])
    for seq in _BUILD_CACHE_DIRS:
        n = len(seq)
        for i in range(len(parts) - n + 1):
            if tuple(parts[i : i + n]) == seq:
                return "build caches", "/".join(parts[: i + n])
    if not info.is_regular:
        return None
    base = parts[-1]
    if base == ".env" or (base.startswith(".env.") and base not in _ENV_TEMPLATES):
        return "environment files (.env)", path
    if base == ".DS_Store":
        return "macOS metadata (.DS_Store)", path
    if _SWAP.match(base) or (base.endswith("~") and len(base) > 1):
        return "editor swap and backup files", path
    return None


def _unnecessary(s: _Scan) -> list[Finding]:
    groups: dict[str, dict[str, int]] = {}
    for path, layer, info in s.final_files():
        hit = _unnecessary_kind(path, info)
        if hit is not None and not s.is_owned(path):
            groups.setdefault(hit[0], {}).setdefault(hit[1], layer)
    out = []
    for kind, found in sorted(groups.items()):
        paths = sorted(found)
        out.append(
            UNNECESSARY_FILES.finding(
                f"{kind}: {_some(paths)}",
                path=paths[0],
                layer=s.layer_id(found[paths[0]]),
                details={"category": kind, "count": len(paths), "paths": paths[:MAX_LISTED]},
            )
        )
    return out


# -- reference ---------------------------------------------------------------------------


def _local_name(s: _Scan, ref: str) -> tuple[Reference | str | None, bool]:
    """The reference to judge and whether it came from the registry (``True``) or from an
    archive's tags; a bare tag when only that is known (an OCI layout's ``ref.name``);
    (None, False) when nothing names the image."""
    if not is_local(ref):
        return parse_name(ref), True
    scheme, sep, spec = ref.partition(":")
    chosen = None
    if sep and scheme in LOCAL_TRANSPORTS and not os.path.exists(ref):
        with contextlib.suppress(ImageError):
            chosen = split_path_and_tag(spec)[1]
    tags = [chosen] if chosen else list(s.analyzed.image.repo_tags)
    if not tags:
        return None, False
    tag = tags[0]
    if "/" not in tag and ":" not in tag and "@" not in tag:
        return tag, False
    return parse_name(tag), False


def _trusted(name: str, trusted: tuple[str, ...]) -> bool:
    for t in trusted:
        t = canonical_name(t, repository=False)
        if name == t or name.startswith(t + "/"):
            return True
    return False


def _ref_findings(
    r: Reference | str,
    what: str,
    pinned: bool | None,
    settings: CheckSettings,
    source_checks: bool = True,
) -> list[Finding]:
    """``pinned`` None: digest pinning does not apply (a local archive is its own bytes);
    ``r`` a bare tag when the image carries no name; ``source_checks=False`` leaves
    pinning and trusted registries to the supply chain scanner."""
    out = []
    if isinstance(r, str):
        if r == "latest":
            out.append(
                LATEST_TAG.finding(
                    f"{what} tagged {r!r} uses the latest tag",
                    details={"subject": what, "reference": f"tagged {r!r}"},
                )
            )
        return out
    shown = f"{r.canonical}{':' + r.tag if r.tag else ''}"
    if r.tag == "latest" or (r.tag is None and r.digest is None):
        how = "the latest tag" if r.tag else "no tag (latest is implied)"
        out.append(
            LATEST_TAG.finding(
                f"{what} {shown} uses {how}", details={"subject": what, "reference": shown}
            )
        )
    if not source_checks:
        return out
    if pinned is False:
        out.append(
            NOT_PINNED.finding(
                f"{what} {shown} is not pinned by a digest",
                details={"subject": what, "reference": shown},
            )
        )
    if settings.trusted_registries and not _trusted(r.canonical, settings.trusted_registries):
        out.append(
            UNTRUSTED_REGISTRY.finding(
                f"{what} {r.canonical} is not from a trusted registry "
                f"({', '.join(settings.trusted_registries)})",
                details={"subject": what, "registry": r.registry, "repository": r.repository},
            )
        )
    return out


def _reference(
    s: _Scan, settings: CheckSettings, ref: str, source_checks: bool
) -> tuple[list[Finding], dict[str, Any]]:
    out: list[Finding] = []
    summary: dict[str, Any] = {}
    r, remote = _local_name(s, ref)
    if isinstance(r, Reference):
        out += _ref_findings(
            r, "image", (r.digest is not None) if remote else None, settings, source_checks
        )
        summary["image"] = {
            "registry": r.registry,
            "repository": r.repository,
            "tag": r.tag,
            "digest": r.digest,
        }
    elif r is not None:
        out += _ref_findings(r, "image", None, settings)
        summary["image"] = {"registry": "", "repository": "", "tag": r, "digest": None}
    labels = s.config.labels
    base = labels.get("org.opencontainers.image.base.name")
    b = parse_name(base.strip()) if base and base.strip() else None
    if b is not None:
        pinned = b.digest is not None or bool(labels.get("org.opencontainers.image.base.digest"))
        out += _ref_findings(b, "base image", pinned, settings)
        summary["base_image"] = {
            "name": base,
            "digest": labels.get("org.opencontainers.image.base.digest"),
        }
    return out, summary


# -- minimality --------------------------------------------------------------------------

_SHELLS = [
    f"{d}/{n}"
    for n in ("sh", "bash", "ash", "dash", "zsh", "ksh", "mksh", "csh", "tcsh", "fish", "busybox")
    for d in ("bin", "usr/bin", "usr/local/bin")
]
_PACKAGE_MANAGERS = [
    f"{d}/{n}"
    for n in (
        "apt",
        "apt-get",
        "dpkg",
        "apk",
        "yum",
        "dnf",
        "microdnf",
        "rpm",
        "zypper",
        "pip",
        "pip3",
        "npm",
        "yarn",
        "gem",
    )
    for d in ("usr/bin", "bin", "sbin", "usr/sbin", "usr/local/bin")
]
_COMPILER = re.compile(
    r"^(?:[a-z0-9_]+-linux-gnu[a-z]*-)?(?:gcc|g\+\+|cc|c\+\+|clang|clang\+\+|"
    r"make|gmake|go|javac|rustc|cargo|gfortran)(?:-\d+(?:\.\d+)*)?$"
)
_BIN_DIRS = (
    "bin",
    "sbin",
    "usr/bin",
    "usr/sbin",
    "usr/local/bin",
    "usr/local/go/bin",
    "usr/local/cargo/bin",
)
_DEV_PACKAGE = re.compile(
    r"^(?:build-essential|build-base|gcc|g\+\+|cpp|make|golang|rustc|cargo"
    r"|clang)(?:-[\d.]+)?$|-(?:dev|devel)$|^openjdk-\d+-jdk|^default-jdk|"
    r"^java-[\d.]+-openjdk-devel"
)


#: OS package counts up to which an image is a minimal base (Debian minbase: ~90 packages;
#: a slim variant without documentation may carry a few more)
BASE_PACKAGES, SLIM_PACKAGES = 100, 150


def _profile(s: _Scan) -> dict[str, Any]:
    """Classify the image: scratch, distroless, minimal (Alpine, BusyBox, slim) or full."""
    shells = s.present(_SHELLS)
    managers = s.present(_PACKAGE_MANAGERS)
    compilers = sorted(
        p
        for p, _, info in s.final_files()
        if p.rpartition("/")[0] in _BIN_DIRS
        and info.type in (FileType.REG, FileType.SYMLINK, FileType.HARDLINK)
        and _COMPILER.match(p.rpartition("/")[2])
    )
    dev_packages = sorted({p.name for p in s.os_packages if _DEV_PACKAGE.search(p.name)})
    os_info = s.analyzed.inventory.os
    docs = [
        p
        for p in s.fs.final
        if p.startswith(("usr/share/doc/", "usr/share/man/"))
        and s.fs.final[p][1].is_regular
        and not p.endswith("/copyright")
    ]
    count = len(s.os_packages)
    if not shells and not managers:
        kind, why = (
            ("scratch", "no shell, no package manager and no distribution")
            if os_info is None and not count
            else ("distroless", "no shell and no package manager")
        )
    elif os_info is not None and os_info.id == "alpine":
        kind, why = "minimal", "Alpine"
    elif not count and any(p.endswith("busybox") for p in shells):
        kind, why = "minimal", "BusyBox without a package database"
    elif not compilers and not docs and count <= SLIM_PACKAGES:
        kind, why = "minimal", f"slim: {count} OS packages, documentation removed"
    elif not compilers and count <= BASE_PACKAGES:
        kind, why = "minimal", f"a base system: {count} OS packages"
    else:
        kind, why = "full", f"{count} OS packages, {len(docs)} documentation files"
    return {
        "classification": kind,
        "reason": why,
        "os_packages": count,
        "shells": shells,
        "package_managers": managers,
        "compilers": compilers[:MAX_LISTED],
        "dev_packages": dev_packages[:MAX_LISTED],
    }


def _minimality(profile: dict[str, Any]) -> list[Finding]:
    out = []
    base = {"classification": profile["classification"], "reason": profile["reason"]}
    note = " (expected in a full distribution image)" if profile["classification"] == "full" else ""
    if profile["shells"]:
        out.append(
            SHELL_PRESENT.finding(
                f"shells: {_some(profile['shells'])}{note}",
                path=profile["shells"][0],
                details={**base, "shells": profile["shells"]},
            )
        )
    if profile["package_managers"]:
        out.append(
            PACKAGE_MANAGER.finding(
                f"package managers: {_some(profile['package_managers'])}{note}",
                path=profile["package_managers"][0],
                details={**base, "package_managers": profile["package_managers"]},
            )
        )
    if profile["compilers"] or profile["dev_packages"]:
        bits = []
        if profile["compilers"]:
            bits.append(f"tools {_some(profile['compilers'])}")
        if profile["dev_packages"]:
            bits.append(
                f"packages {', '.join(profile['dev_packages'][:8])}"
                + (" …" if len(profile["dev_packages"]) > 8 else "")
            )
        out.append(
            BUILD_TOOLS.finding(
                "; ".join(bits),
                path=profile["compilers"][0] if profile["compilers"] else None,
                details={
                    **base,
                    "compilers": profile["compilers"],
                    "dev_packages": profile["dev_packages"],
                },
            )
        )
    return out


# -- end of life -------------------------------------------------------------------------


def _eol(s: _Scan) -> tuple[list[Finding], dict[str, Any] | None]:
    os_info = s.analyzed.inventory.os
    rel = release_for(os_info)
    if os_info is None or rel is None:
        return [], None
    table = eol_table()
    label = f"{rel.distro} {rel.version}{f' ({rel.name})' if rel.name else ''}"
    info: dict[str, Any] = {
        "release": label,
        "eol": rel.eol.isoformat(),
        "regular": rel.regular.isoformat() if rel.regular else None,
        "extended": rel.extended.isoformat() if rel.extended else None,
        "table_written": table.written.isoformat(),
        "source": table.source,
        # a year-old table misses newer releases and moved dates
        "table_stale": (s.today - table.written).days > 365,
    }
    ext = f"; paid extended support until {rel.extended.isoformat()}" if rel.extended else ""
    cite = f" (EOL table of {table.written.isoformat()})"
    if s.today > rel.eol:
        return [
            EOL.finding(
                f"{label}: free security updates ended {rel.eol.isoformat()}{ext}{cite}",
                details=info,
            )
        ], {**info, "status": "eol"}
    if rel.regular and s.today > rel.regular:
        return [
            EXTENDED_SUPPORT.finding(
                f"{label}: regular support ended {rel.regular.isoformat()}; LTS/maintenance "
                f"updates until {rel.eol.isoformat()}{cite}",
                details=info,
            )
        ], {**info, "status": "lts"}
    return [], {**info, "status": "supported"}


# -- layers ------------------------------------------------------------------------------


def layer_stats(analyzed: AnalyzedImage) -> dict[str, Any]:
    """Layer count and sizes, bytes wasted on overwritten or deleted files, and dive's
    efficiency score (Σ smallest size per path ÷ Σ all sizes per path; a deletion counts
    as a version of size 0)."""
    fs = analyzed.fs
    total = minimal = wasted = removed = 0
    per_path: list[tuple[int, str, list[int], bool]] = []
    #: per layer, the bytes it wrote that a later layer overwrote or deleted
    layer_wasted = [0] * len(analyzed.analyses)
    for path, versions in fs.history.items():
        sizes = [v.info.size if v.info is not None and v.info.is_regular else 0 for v in versions]
        all_bytes = sum(sizes)
        if all_bytes == 0:
            continue
        total += all_bytes
        minimal += min(sizes)
        gone = versions[-1].info is None
        kept = 0 if gone else sizes[-1]
        if all_bytes - kept:
            wasted += all_bytes - kept
            shadowed = len(versions) if gone else len(versions) - 1
            for v, size in zip(versions[:shadowed], sizes[:shadowed], strict=True):
                layer_wasted[v.layer] += size
            if gone:
                removed += all_bytes
            per_path.append((all_bytes - kept, path, [v.layer for v in versions], gone))
    per_path.sort(key=lambda x: (-x[0], x[1]))
    layer_sizes = [sum(f.size for f in a.files if f.is_regular) for a in analyzed.analyses]
    return {
        "layers": len(analyzed.analyses),
        "layer_bytes": layer_sizes,
        "layer_wasted_bytes": layer_wasted,
        "total_bytes": total,
        "final_bytes": sum(i.size for _, i in fs.final.values() if i.is_regular),
        "wasted_bytes": wasted,
        "removed_bytes": removed,
        "wasted_ratio": round(wasted / total, 4) if total else 0.0,
        "efficiency": round(minimal / total, 4) if total else 1.0,
        "top_wasted": [
            {"path": p, "wasted_bytes": w, "layers": layers, "deleted": gone}
            for w, p, layers, gone in per_path[:10]
        ],
    }


#: waste that makes the finding MEDIUM (dive's CI defaults are in the same range)
WASTE_BYTES, WASTE_RATIO = 10 * MiB, 0.10
#: below this, overwritten files alone (a package database rewritten per layer) are noise
WASTE_MIN_BYTES = 1 * MiB


def _waste(stats: dict[str, Any]) -> list[Finding]:
    wasted, removed = stats["wasted_bytes"], stats["removed_bytes"]
    if not removed and wasted < WASTE_MIN_BYTES:
        return []
    big = wasted >= WASTE_BYTES or stats["wasted_ratio"] >= WASTE_RATIO
    top = stats["top_wasted"]
    evidence = (
        f"{stats['layers']} layers, {_size(stats['total_bytes'])}: {_size(wasted)} "
        f"({stats['wasted_ratio']:.1%}) in files overwritten or deleted by later layers "
        f"({_size(removed)} deleted; efficiency {stats['efficiency']:.1%}); largest: "
        f"{_some([t['path'] for t in top], 3)}"
    )
    return [
        WASTED_SPACE.finding(
            evidence,
            severity=None if big else Severity.LOW,
            path=top[0]["path"] if top else None,
            details={k: v for k, v in stats.items()},
        )
    ]


# -- entry points ------------------------------------------------------------------------


def _accounts(s: _Scan) -> list[Finding]:
    """The AccountsAnalyzer's findings on the account files the final image holds."""
    out = []
    for path, layer, name, result in s.fs.final_results():
        if name == "accounts":
            out += [replace(f, layer=s.layer_id(layer)) for f in result.findings if f.path == path]
    return out


def check_image(
    analyzed: AnalyzedImage,
    settings: CheckSettings,
    ref: str,
    today: dt.date | None = None,
    source_checks: bool = True,
) -> tuple[list[Finding], dict[str, Any]]:
    """Every image check's findings (after the settings) and a summary of the image:
    its classification, layer statistics, end-of-life status and reference.
    ``source_checks=False``: the supply chain scanner judges the image's own pinning and
    registry (the base image's are still checked here)."""
    s = _Scan(analyzed, today or dt.date.today())
    profile = _profile(s)
    stats = layer_stats(analyzed)
    eol_findings, eol_info = _eol(s)
    ref_findings, ref_info = _reference(s, settings, ref, source_checks)
    findings = [
        *_user(s),
        *_healthcheck(s),
        *_history(s),
        *_sudo(s),
        *_volumes(s),
        *_caches(s),
        *_ports(s),
        *_setuid(s),
        *_unnecessary(s),
        *ref_findings,
        *_minimality(profile),
        *eol_findings,
        *_waste(stats),
        *_accounts(s),
    ]
    findings = [
        f
        for f in findings
        if f.id not in IMAGE_CHECKS.checks or settings.active(IMAGE_CHECKS[f.id])
    ]
    summary = {
        "base": profile,
        "layers": {k: v for k, v in stats.items() if k != "top_wasted"},
        "eol": eol_info,
        "reference": ref_info,
        "user": s.config.user,
        "account_files": [p for p in ("etc/passwd", "etc/shadow", "etc/group") if s.exists(p)],
    }
    return settings.apply(findings), summary
