"""How hullscan talks to registries: insecure hosts, CA bundle, credentials, mirrors.

One frozen value built by the CLI (flags + the ``registries:`` section of hullscan.yaml)
and passed down to every registry client, so pulling, signing and verifying all behave
the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class RegistrySettings:
    # hosts (``name`` or ``name:port``) reachable over plain http; loopback always is
    insecure: frozenset[str] = frozenset()
    # PEM bundle of extra CAs trusted for registry TLS (system CAs still apply)
    ca_bundle: Path | None = None
    # explicit credentials (``--username`` / ``--password-stdin``), for every registry
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    # registry that bare names (``debian:12``) resolve to
    default_registry: str = "docker.io"
    # registry host → mirrors tried first, in order (pull only)
    mirrors: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # directory holding config.json (None: $DOCKER_CONFIG, else ~/.docker)
    docker_config: Path | None = None
    # attempts on 429/5xx and connection errors, with exponential backoff
    retries: int = 3
    timeout: float = 60.0
    # keep the layer blobs a scan pulls in the cache (default: their bytes go straight to
    # the analysis, and only the analysis is kept, as disk and CPU are better spent so)
    keep_layers: bool = False
    # hash a pulled compressed layer's uncompressed bytes against the config's diff-id,
    # as container runtimes do on unpacking; false: check the blob digest instead (what
    # Trivy and Syft check) and key the layer cache on it
    verify_diff_ids: bool = True
