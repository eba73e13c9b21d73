"""The server's settings: flags plus the ``server:`` section of hullscan.yaml."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hullscan.errors import HullscanError
from hullscan.settings import Settings

#: bodies larger than this are refused (413) before they are read in full
DEFAULT_MAX_BODY = 1 << 20
_HASH = re.compile(r"sha256:[0-9a-f]{64}")


def hash_key(key: str) -> str:
    """How an API key is stored: ``sha256:<hex>`` (keys are long random tokens, so a
    plain digest is enough; a slow hash would only slow every request)."""
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class ServerSettings:
    cache_dir: Path
    db_path: Path
    store_url: str
    #: "embedded", or a Celery broker URL (redis://…, amqp://…)
    queue_url: str = "embedded"
    #: Celery queue name (several deployments can share a broker)
    queue_name: str = "hullscan"
    workers: int = 1
    host: str = "127.0.0.1"
    port: int = 8080
    tls_cert: Path | None = None
    tls_key: Path | None = None
    #: admission requests must come with a client certificate this CA signed (the API
    #: server's), and, if any are given, one of these common names
    admission_client_ca: Path | None = None
    admission_client_names: tuple[str, ...] = ()
    api_key_hashes: frozenset[str] = frozenset()
    max_body: int = DEFAULT_MAX_BODY
    #: seconds Harbor waits before polling a report again (Harbor reads an int8)
    refresh_after: int = 5
    #: check the database this often and rematch every stored inventory when it changed
    rematch_every: float | None = None
    #: the rest of hullscan.yaml (registries, secrets, checks, trust) for the scans
    settings: Settings = field(default_factory=Settings)

    def key_valid(self, key: str) -> bool:
        digest = hash_key(key)
        return any(hmac.compare_digest(digest, h) for h in self.api_key_hashes)

    def check_listen(self) -> None:
        """Without API keys only loopback may be served: anyone who reaches the port
        could otherwise read every report."""
        if self.api_key_hashes:
            return
        try:
            loopback = ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            loopback = self.host == "localhost"
        if not loopback:
            raise HullscanError(
                f"--listen {self.host}: no API key is configured "
                "(server.api_keys in hullscan.yaml), so only loopback "
                "addresses may be served"
            )


@dataclass(frozen=True)
class ServerSection:
    api_key_hashes: frozenset[str] = frozenset()
    max_body: int = DEFAULT_MAX_BODY
    refresh_after: int = 5


def _int(section: dict[str, Any], key: str, default: int, low: int, high: int) -> int:
    value = section.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise HullscanError(f"hullscan.yaml: server.{key} must be an integer from {low} to {high}")
    return value


def server_section(config: dict[str, Any], base: Path) -> ServerSection:
    """The ``server:`` section of hullscan.yaml: ``api_keys`` (hashes),
    ``api_keys_file`` (one hash a line, relative to the settings file), ``max_body``
    (bytes), ``refresh_after`` (seconds)."""
    section = config.get("server") or {}
    if not isinstance(section, dict):
        raise HullscanError("hullscan.yaml: server must be a mapping")
    unknown = set(section) - {"api_keys", "api_keys_file", "max_body", "refresh_after"}
    if unknown:
        raise HullscanError(
            f"hullscan.yaml: server: unknown setting(s) {', '.join(sorted(unknown))}"
        )
    hashes = list(section.get("api_keys") or [])
    if file := section.get("api_keys_file"):
        path = base / str(file)
        try:
            hashes += [
                line.strip()
                for line in path.read_text().splitlines()
                if line.strip() and not line.lstrip().startswith("#")
            ]
        except OSError as e:
            raise HullscanError(f"{path}: cannot read ({e.strerror})") from None
    for h in hashes:
        if not isinstance(h, str) or not _HASH.fullmatch(h):
            raise HullscanError(
                "hullscan.yaml: server.api_keys holds hashes "
                "('sha256:' and 64 hex digits: `hullscan server --hash-key`), "
                "never the keys themselves"
            )
    return ServerSection(
        frozenset(hashes),
        _int(section, "max_body", DEFAULT_MAX_BODY, 1024, 1 << 30),
        _int(section, "refresh_after", 5, 1, 127),
    )
