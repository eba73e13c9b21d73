"""Registry credentials: explicit settings, else Docker's ``config.json``.

Lookup order for a registry host:

1. ``RegistrySettings.username``/``password`` (``--username`` + ``--password-stdin`` or
   ``HULLSCAN_PASSWORD``) — for every registry;
2. ``credHelpers[host]`` in ``config.json`` → ``docker-credential-<helper> get``;
3. ``auths[host]`` (``auth`` = base64 ``user:pass``, or ``username``/``password``, or an
   ``identitytoken`` used as an OAuth2 refresh token);
4. ``credsStore`` → ``docker-credential-<store> get``;
5. anonymous.

``config.json`` is read from ``RegistrySettings.docker_config``, else ``$DOCKER_CONFIG``,
else ``~/.docker``. A missing helper program or "credentials not found" means anonymous;
any other helper failure is a ``HullscanError``. No secret ever appears in a message or a
``repr``.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hullscan.errors import HullscanError, shown
from hullscan.sources.registry_settings import RegistrySettings

DOCKER_HUB_HOSTS = ("registry-1.docker.io", "docker.io", "index.docker.io")
DOCKER_HUB_SERVER = "https://index.docker.io/v1/"
HELPER_TIMEOUT = 10.0
MAX_CONFIG_BYTES = 4 * 1024 * 1024
MAX_HELPER_OUTPUT = 1024 * 1024
IDENTITY_TOKEN_USER = "<token>"


@dataclass(frozen=True)
class Credentials:
    """Who we are to one registry. ``identity_token`` is an OAuth2 refresh token (from
    ``docker login`` against a token service); ``source`` says where this came from."""

    username: str | None
    password: str | None = field(default=None, repr=False)
    identity_token: str | None = field(default=None, repr=False)
    source: str = "settings"

    @property
    def basic(self) -> tuple[str, str] | None:
        if self.username is None or self.password is None:
            return None
        return self.username, self.password


def _is_hub(host: str) -> bool:
    return host in DOCKER_HUB_HOSTS


def normalize_server(key: str) -> str:
    """``https://host/v1/``, ``http://host/v2/``, ``host`` → ``host`` (with its port);
    Docker Hub's names → ``docker.io``."""
    text = key.strip()
    for scheme in ("https://", "http://"):
        if text.lower().startswith(scheme):
            text = text[len(scheme) :]
            break
    text = text.split("/", 1)[0].lower()
    return "docker.io" if _is_hub(text) else text


def config_dir(settings: RegistrySettings) -> Path:
    if settings.docker_config is not None:
        return settings.docker_config
    env = os.environ.get("DOCKER_CONFIG")
    if env:
        return Path(env)
    return Path.home() / ".docker"


def load_docker_config(settings: RegistrySettings) -> dict[str, Any]:
    path = config_dir(settings) / "config.json"
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_CONFIG_BYTES + 1)
    except FileNotFoundError:
        return {}
    except OSError as e:
        raise HullscanError(f"{path}: cannot read Docker config: {e.strerror}") from None
    if len(data) > MAX_CONFIG_BYTES:
        raise HullscanError(f"{path}: larger than {MAX_CONFIG_BYTES} bytes")
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        # the parser's message may quote the file, secrets included
        raise HullscanError(f"{path}: not valid JSON") from None
    if not isinstance(doc, dict):
        raise HullscanError(f"{path}: expected a JSON object")
    return doc


def _lookup_key(mapping: Any, host: str) -> Any:
    """The value of ``mapping`` whose key names ``host`` (exact key first)."""
    if not isinstance(mapping, dict):
        return None
    if host in mapping:
        return mapping[host]
    wanted = normalize_server(host)
    for key, value in mapping.items():
        if isinstance(key, str) and normalize_server(key) == wanted:
            return value
    return None


def server_url(host: str) -> str:
    """What Docker passes to a credential helper for ``host``."""
    return DOCKER_HUB_SERVER if _is_hub(host) else host


def run_helper(helper: str, host: str, path: Path) -> Credentials | None:
    """``docker-credential-<helper> get``; None when it has nothing for ``host``."""
    if not helper or "/" in helper or not helper.replace("-", "").replace("_", "").isalnum():
        raise HullscanError(f"{path}: invalid credential helper name {shown(helper)!r}")
    program = f"docker-credential-{helper}"
    exe = shutil.which(program)
    if exe is None:
        return None  # like Docker without the helper installed: anonymous
    try:
        done = subprocess.run(
            [exe, "get"],
            input=server_url(host).encode(),
            capture_output=True,
            timeout=HELPER_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise HullscanError(
            f"{program}: no answer for {shown(host)} within {HELPER_TIMEOUT:.0f} s"
        ) from None
    except OSError as e:
        raise HullscanError(f"{program}: cannot run it: {e.strerror}") from None
    out = done.stdout[:MAX_HELPER_OUTPUT]
    if done.returncode != 0:
        text = (out or done.stderr).decode("utf-8", "replace").strip()
        if "credentials not found" in text.lower():
            return None
        first = text.splitlines()[0][:200] if text else ""
        raise HullscanError(
            f"{program} get {shown(host)} failed (exit {done.returncode})"
            + (f": {shown(first)}" if first else "")
        )
    try:
        doc = json.loads(out)
    except (ValueError, UnicodeDecodeError):
        raise HullscanError(f"{program} get {shown(host)}: answer is not JSON") from None
    if not isinstance(doc, dict):
        raise HullscanError(f"{program} get {shown(host)}: answer is not a JSON object")
    user, secret = doc.get("Username"), doc.get("Secret")
    if not isinstance(user, str) or not isinstance(secret, str):
        raise HullscanError(f"{program} get {shown(host)}: answer without Username and Secret")
    if not secret:
        return None
    source = f"credential helper {program}"
    if user == IDENTITY_TOKEN_USER:
        return Credentials(None, None, secret, source)
    return Credentials(user, secret, None, source)


def _from_auths(entry: Any, host: str, path: Path) -> Credentials | None:
    if not isinstance(entry, dict):
        return None
    source = f"{path} auths"
    token = entry.get("identitytoken")
    user, password = entry.get("username"), entry.get("password")
    encoded = entry.get("auth")
    if isinstance(encoded, str) and encoded:
        try:
            decoded = base64.b64decode(encoded, validate=True).decode("utf-8")
        except (binascii.Error, ValueError):
            raise HullscanError(
                f"{path}: auths entry for {shown(host)}: 'auth' is not base64 of user:password"
            ) from None
        user, sep, password = decoded.partition(":")
        if not sep:
            raise HullscanError(
                f"{path}: auths entry for {shown(host)}: 'auth' is not base64 of user:password"
            )
    if isinstance(token, str) and token:
        return Credentials(user if isinstance(user, str) and user else None, None, token, source)
    if isinstance(user, str) and user and isinstance(password, str):
        return Credentials(user, password, None, source)
    return None


def lookup(host: str, settings: RegistrySettings) -> Credentials | None:
    """Credentials for ``host`` (``name[:port]`` as in URLs), or None for anonymous."""
    if settings.username is not None:
        return Credentials(
            settings.username, settings.password or "", None, "--username/--password"
        )
    doc = load_docker_config(settings)
    if not doc:
        return None
    path = config_dir(settings) / "config.json"
    helper = _lookup_key(doc.get("credHelpers"), host)
    if isinstance(helper, str) and helper:
        return run_helper(helper, host, path)
    found = _from_auths(_lookup_key(doc.get("auths"), host), host, path)
    if found is not None:
        return found
    store = doc.get("credsStore")
    if isinstance(store, str) and store:
        return run_helper(store, host, path)
    return None


__all__ = ["Credentials", "lookup", "normalize_server"]
