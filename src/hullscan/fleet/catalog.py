"""What a registry holds: its repositories (under a prefix), their tags, and the digest
each tag names. Signature, attestation and referrer-fallback tags (``sha256-<hex>``,
``….sig``, ``….att``, ``….sbom``) are artifacts about images, not images."""

from __future__ import annotations

import re
from dataclasses import dataclass

from hullscan.errors import HullscanError
from hullscan.references import Reference, parse_reference, registry_host
from hullscan.sources.registry_client import RegistryClient
from hullscan.sources.registry_settings import RegistrySettings
from hullscan.streams import Limits

_ARTIFACT_TAG = re.compile(r"^sha256-[0-9a-f]{64}(?:\.(?:sig|att|sbom))?$")


@dataclass(frozen=True)
class FleetTarget:
    host: str
    prefix: str  # a repository prefix ("" for the whole registry)

    def __str__(self) -> str:
        return f"registry:{self.host}" + (f"/{self.prefix}" if self.prefix else "")

    def covers(self, repository: str) -> bool:
        return (
            not self.prefix or repository == self.prefix or repository.startswith(self.prefix + "/")
        )


def parse_target(text: str) -> FleetTarget:
    """``registry:HOST[/PREFIX]`` (or ``HOST[/PREFIX]``)."""
    spec = text.removeprefix("registry:").removeprefix("docker://").strip("/")
    host, _, prefix = spec.partition("/")
    if not host or "@" in spec or (":" in prefix):
        raise HullscanError(
            f"{text!r}: expected registry:HOST[/PREFIX] (a registry, and "
            "optionally a repository prefix; no tag or digest)"
        )
    host = registry_host(host, "fleet scan")
    if prefix:
        parse_reference(f"{host}/{prefix}")  # a valid repository name
    return FleetTarget(host, prefix)


def is_artifact_tag(tag: str) -> bool:
    return bool(_ARTIFACT_TAG.match(tag))


def _client(host: str, repository: str, settings: RegistrySettings) -> RegistryClient:
    return RegistryClient(Reference(host, repository, "latest", None), settings)


def repositories(target: FleetTarget, settings: RegistrySettings) -> list[str]:
    client = _client(target.host, target.prefix or "catalog", settings)
    try:
        return sorted(r for r in dict.fromkeys(client.catalog()) if target.covers(r))
    finally:
        client.close()


def image_tags(host: str, repository: str, settings: RegistrySettings) -> list[str]:
    client = _client(host, repository, settings)
    try:
        return [t for t in dict.fromkeys(client.tags()) if not is_artifact_tag(t)]
    finally:
        client.close()


def resolve(host: str, repository: str, tag: str, settings: RegistrySettings) -> str:
    """The digest ``repository:tag`` names (an index for a multi-platform image)."""
    from hullscan.supplychain.signatures import Target, resolve_digest

    ref = Reference(host, repository, tag, None)
    return resolve_digest(Target(str(ref), reference=ref), settings, Limits())


__all__ = [
    "FleetTarget",
    "image_tags",
    "is_artifact_tag",
    "parse_target",
    "repositories",
    "resolve",
]
