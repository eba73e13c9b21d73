"""Image references for OCI Distribution registries: parsing
``registry:HOST[:PORT]/REPO[:TAG|@DIGEST]`` (``docker://…``, bare Docker Hub names),
normalising registry hosts, the mirrors configured for a host, and telling loopback hosts."""

from __future__ import annotations

import ipaddress
import re
from contextlib import suppress
from dataclasses import dataclass

from hullscan.errors import HullscanError, ImageError
from hullscan.sources.interface import shown
from hullscan.sources.registry_settings import RegistrySettings
from hullscan.streams import parse_digest

DOCKER_HUB = "registry-1.docker.io"
_REPO_RE = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
                      r"(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$")
_TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_HOST_RE = re.compile(r"^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)(?::[0-9]{1,5})?$")


@dataclass(frozen=True)
class Reference:
    host: str  # as used in URLs, with the port: ``127.0.0.1:5000``, ``[::1]:5000``
    repository: str
    tag: str | None
    digest: str | None

    @property
    def name(self) -> str:
        return f"{self.host}/{self.repository}"

    def __str__(self) -> str:
        if self.digest:
            return f"{self.name}@{self.digest}"
        return f"{self.name}:{self.tag}"


def registry_host(text: str, what: str) -> str:
    """A host from settings (``docker.io``, ``mirror:5000``, ``https://m.example/``)."""
    host = text.strip()
    for scheme in ("https://", "http://"):
        if host.lower().startswith(scheme):
            host = host[len(scheme):]
            break
    host = host.rstrip("/")
    if not _HOST_RE.match(host):
        raise HullscanError(f"{what}: invalid registry host {shown(text)!r}")
    return DOCKER_HUB if host in ("docker.io", "index.docker.io") else host


def parse_reference(ref: str, default_registry: str = "docker.io") -> Reference:
    """``registry:HOST[:PORT]/REPO[:TAG|@DIGEST]``, ``docker://…`` or a bare name
    (``debian:12`` → ``<default_registry>/debian:12``; on Docker Hub, the default,
    ``registry-1.docker.io/library/debian:12``)."""
    text = ref
    for prefix in ("registry:", "docker://"):
        if text.startswith(prefix):
            text = text[len(prefix):]
            break
    text = text.removeprefix("//")
    name, at, digest = text.partition("@")
    if at:
        parse_digest(digest)
    tag: str | None = None
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        name, tag = name[:colon], name[colon + 1:]
        if not _TAG_RE.match(tag):
            raise ImageError(f"{shown(ref)}: invalid tag {shown(tag)!r}")
    first, sep, rest = name.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost" or first.startswith("[")):
        host, repo = first, rest
    else:
        host, repo = registry_host(default_registry, "default registry"), name
    if host in ("docker.io", "index.docker.io", DOCKER_HUB):
        host = DOCKER_HUB
        if "/" not in repo:
            repo = f"library/{repo}"
    if not repo or not _REPO_RE.match(repo):
        raise ImageError(f"{shown(ref)}: invalid repository name {shown(repo)!r}")
    if not at and tag is None:
        tag = "latest"
    return Reference(host, repo, tag, digest if at else None)


def mirrors_for(host: str, settings: RegistrySettings) -> list[str]:
    """The mirrors configured for ``host`` (Docker Hub under any of its names)."""
    names = {host}
    if host == DOCKER_HUB:
        names |= {"docker.io", "index.docker.io"}
    found: list[str] = []
    for key, mirrors in settings.mirrors.items():
        if registry_host(key, "registries.mirrors") in names or key in names:
            for m in mirrors:
                mirror = registry_host(m, f"registries.mirrors.{key}")
                if mirror != host and mirror not in found:
                    found.append(mirror)
    return found


def _hostname(host: str) -> str:
    if host.startswith("["):
        return host[1:host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _port(host: str) -> int:
    tail = host.rsplit("]", 1)[-1] if host.startswith("[") else host
    if tail.count(":") == 1:
        with suppress(ValueError):
            return int(tail.rsplit(":", 1)[1])
    return 443


def is_loopback(host: str) -> bool:
    name = _hostname(host)
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


__all__ = ["DOCKER_HUB", "Reference", "is_loopback", "mirrors_for", "parse_reference",
           "registry_host"]
