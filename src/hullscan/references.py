"""Image references, in one place: how hullscan reads what a user names.

- Registry references: ``registry:HOST[:PORT]/REPO[:TAG|@DIGEST]``, ``docker://…`` and bare
  names (``debian:12`` is ``<default registry>/debian:12``; on Docker Hub, the default,
  ``library/debian``), parsed strictly by ``parse_reference``.
- Canonical names (``canonical_name``): ``HOST/REPO`` with Docker Hub spelled one way,
  ``docker.io/library/debian``, as trust policies, pins and image checks compare them.
- Local references: ``TRANSPORT:PATH[:TAG]``. ``split_path_and_tag`` holds the one rule for
  splitting ``PATH:TAG``: the whole text when it names an existing file or directory, else
  the longest prefix before a colon that does (paths and tags may both contain colons).
- Images of a local engine: ``docker:NAME[:TAG]`` (or skopeo's ``docker-daemon:``); a
  ``docker://`` reference stays a registry one.
- Where an image is written (``parse_output``): ``oci:DIR[:TAG]``, ``oci-archive:PATH[:TAG]``,
  ``docker-archive:PATH[:TAG]`` split like the local references above, except that a
  path that does not exist yet ends at the first colon whose left side could be created.
- Registry hosts as settings spell them, their mirrors, and loopback hosts.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass

from hullscan.errors import HullscanError, ImageError, shown
from hullscan.streams import parse_digest

#: the host Docker Hub's API is served from; bare names go there by default
DOCKER_HUB = "registry-1.docker.io"
#: every spelling of Docker Hub's registry in image names and settings
DOCKER_HUB_HOSTS = ("docker.io", "index.docker.io", DOCKER_HUB)
#: transports of images read from files (``TRANSPORT:PATH[:TAG]``)
LOCAL_TRANSPORTS = ("docker-archive", "oci", "oci-archive", "dir")
#: transports of images exported from a local Docker or Podman engine
ENGINE_TRANSPORTS = ("docker", "docker-daemon")
#: where an image can be written (``hullscan squash``)
OUTPUT_TRANSPORTS = ("oci", "oci-archive", "docker-archive")
_REPO_RE = re.compile(
    r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
    r"(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$"
)
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

    @property
    def registry(self) -> str:
        """The registry as names spell it: ``docker.io`` for Docker Hub."""
        return "docker.io" if self.host == DOCKER_HUB else self.host

    @property
    def canonical(self) -> str:
        """``HOST/REPO`` as policies compare it (``docker.io/library/debian``)."""
        return canonical_name(self.name)

    def __str__(self) -> str:
        if self.digest:
            return f"{self.name}@{self.digest}"
        return f"{self.name}:{self.tag}"


def registry_host(text: str, what: str) -> str:
    """A host from settings (``docker.io``, ``mirror:5000``, ``https://m.example/``)."""
    host = text.strip()
    for scheme in ("https://", "http://"):
        if host.lower().startswith(scheme):
            host = host[len(scheme) :]
            break
    host = host.rstrip("/")
    if not _HOST_RE.match(host):
        raise HullscanError(f"{what}: invalid registry host {shown(text)!r}")
    return DOCKER_HUB if host in ("docker.io", "index.docker.io") else host


def parse_reference(
    ref: str, default_registry: str = "docker.io", *, default_tag: str | None = "latest"
) -> Reference:
    """``registry:HOST[:PORT]/REPO[:TAG|@DIGEST]``, ``docker://…`` or a bare name
    (``debian:12`` → ``<default_registry>/debian:12``; on Docker Hub, the default,
    ``registry-1.docker.io/library/debian:12``). A name without tag or digest gets
    ``default_tag`` (``None`` keeps it untagged, for checks that judge how it was written).
    Invalid names are an ``ImageError``."""
    text = ref
    for prefix in ("registry:", "docker://"):
        if text.startswith(prefix):
            text = text[len(prefix) :]
            break
    text = text.removeprefix("//")
    name, at, digest = text.partition("@")
    if at:
        parse_digest(digest)
    tag: str | None = None
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        name, tag = name[:colon], name[colon + 1 :]
        if not _TAG_RE.match(tag):
            raise ImageError(f"{shown(ref)}: invalid tag {shown(tag)!r}")
    first, sep, rest = name.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost" or first.startswith("[")):
        host, repo = first, rest
    else:
        host, repo = registry_host(default_registry, "default registry"), name
    if host in DOCKER_HUB_HOSTS:
        host = DOCKER_HUB
        if "/" not in repo:
            repo = f"library/{repo}"
    if not repo or not _REPO_RE.match(repo):
        raise ImageError(f"{shown(ref)}: invalid repository name {shown(repo)!r}")
    if not at and tag is None:
        tag = default_tag
    return Reference(host, repo, tag, digest if at else None)


def parse_name(text: str) -> Reference | None:
    """A name an image carries (a tag, a label), untagged if written so; ``None`` when it
    is not a valid reference (nothing a check can judge)."""
    try:
        return parse_reference(text, default_tag=None)
    except ImageError:
        return None


def canonical_name(name: str, repository: bool = True) -> str:
    """``HOST/REPO`` with Docker Hub spelled one way (``docker.io/library/debian``);
    ``repository=False`` for a scope, where ``docker.io/library`` is a prefix."""
    name = name.strip().rstrip("/")
    first, sep, rest = name.partition("/")
    if first in DOCKER_HUB_HOSTS:
        if repository and sep and "/" not in rest:
            rest = f"library/{rest}"
        return "docker.io" + (f"/{rest}" if sep else "")
    return name


def is_local(ref: str) -> bool:
    """Whether ``ref`` names an image on this machine (a file, a transport prefix, an
    existing path, a local engine's image) rather than in a registry."""
    scheme, sep, _ = ref.partition(":")
    return (
        (bool(sep) and scheme in LOCAL_TRANSPORTS)
        or os.path.exists(ref)
        or ref.startswith(("/", "./", "../"))
        or engine_name(ref) is not None
    )


def engine_name(ref: str) -> str | None:
    """The image name of ``docker:NAME`` (a local engine's image); None for anything
    else, ``docker://`` (a registry) and existing paths included."""
    scheme, sep, rest = ref.partition(":")
    if (
        sep
        and scheme in ENGINE_TRANSPORTS
        and not rest.startswith("//")
        and not os.path.exists(ref)
    ):
        return rest
    return None


def split_path_and_tag(spec: str) -> tuple[str, str | None]:
    """``/a/b.tar:repo/name:tag`` → (``/a/b.tar``, ``repo/name:tag``): the whole ``spec``
    when it exists, else the longest existing path before a colon (paths and tags may
    both contain colons). A ``spec`` with no existing path is an ``ImageError``."""
    if os.path.exists(spec):
        return spec, None
    for i in range(len(spec) - 1, 0, -1):
        if spec[i] == ":" and os.path.exists(spec[:i]):
            return spec[:i], spec[i + 1 :] or None
    raise ImageError(f"{shown(spec)}: no such file or directory")


@dataclass(frozen=True)
class OutputRef:
    """Where to write an image: ``oci:DIR[:TAG]``, ``oci-archive:PATH[:TAG]``,
    ``docker-archive:PATH[:TAG]``; a bare path is a docker archive if it ends in ``.tar``,
    else an OCI layout directory."""

    transport: str
    path: str
    tag: str | None

    def __str__(self) -> str:
        return f"{self.transport}:{self.path}" + (f":{self.tag}" if self.tag else "")


def parse_output(ref: str) -> OutputRef:
    """Where to write an image (see the module docstring); a bare path is a docker archive
    if it ends in ``.tar``, else an OCI layout directory."""
    scheme, sep, rest = ref.partition(":")
    if sep and scheme in OUTPUT_TRANSPORTS:
        if not rest:
            raise ImageError(f"{shown(ref)}: no path after {scheme}:")
        try:
            path, tag = split_path_and_tag(rest)
        except ImageError:
            path, tag = rest, None
            for i, ch in enumerate(rest):
                if ch == ":" and i and os.path.isdir(os.path.dirname(rest[:i]) or "."):
                    path, tag = rest[:i], rest[i + 1 :] or None
                    break
        return OutputRef(scheme, path, tag)
    if (
        sep
        and scheme in (*LOCAL_TRANSPORTS, *ENGINE_TRANSPORTS, "registry")
        and not os.path.exists(ref)
    ):
        raise ImageError(
            f"{shown(ref)}: images can be written to {', '.join(OUTPUT_TRANSPORTS)} "
            f"references, not to {scheme}:"
        )
    return OutputRef("docker-archive" if ref.endswith(".tar") else "oci", ref, None)


def mirrors_for(host: str, mirrors: Mapping[str, tuple[str, ...]]) -> list[str]:
    """The mirrors configured for ``host`` (Docker Hub under any of its names)."""
    names = {host}
    if host == DOCKER_HUB:
        names |= set(DOCKER_HUB_HOSTS)
    found: list[str] = []
    for key, configured in mirrors.items():
        if registry_host(key, "registries.mirrors") in names or key in names:
            for m in configured:
                mirror = registry_host(m, f"registries.mirrors.{key}")
                if mirror != host and mirror not in found:
                    found.append(mirror)
    return found


def _hostname(host: str) -> str:
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
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


__all__ = [
    "DOCKER_HUB",
    "DOCKER_HUB_HOSTS",
    "ENGINE_TRANSPORTS",
    "LOCAL_TRANSPORTS",
    "OUTPUT_TRANSPORTS",
    "OutputRef",
    "Reference",
    "canonical_name",
    "engine_name",
    "is_local",
    "is_loopback",
    "mirrors_for",
    "parse_name",
    "parse_output",
    "parse_reference",
    "registry_host",
    "split_path_and_tag",
]
