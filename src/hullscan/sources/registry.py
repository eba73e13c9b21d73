"""Pull from an OCI Distribution registry (``registry:HOST[:PORT]/REPO[:TAG|@DIGEST]``).

Every blob is downloaded into a digest-keyed cache (``<cache>/blobs/sha256/<hex>``):
hashed while it streams to a ``.partial`` file, bounded by its descriptor's size, and
renamed into place only when the digest matches. The cache is then an ordinary
``DirStore``, so the OCI code builds the ``Image`` and every layer is verified again
when it is streamed. Blobs already in the cache are never downloaded again.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from hullscan.blob import BlobRef
from hullscan.model import HullscanError, ImageError
from hullscan.sources.interface import (
    INDEX_TYPES,
    MANIFEST_TYPES,
    Image,
    Platform,
    check_digest,
    load_json,
    shown,
)
from hullscan.sources.oci import blob_name, image_from_manifest, select_manifest
from hullscan.sources.registry_settings import RegistrySettings
from hullscan.sources.store import DirStore, Store
from hullscan.streams import Limits, parse_digest

DOCKER_HUB = "registry-1.docker.io"
SCHEMA1_TYPES = ("application/vnd.docker.distribution.manifest.v1+json",
                 "application/vnd.docker.distribution.manifest.v1+prettyjws")
ACCEPT = ", ".join((*MANIFEST_TYPES, *INDEX_TYPES))
MAX_REDIRECTS = 5
MAX_TOKEN_BYTES = 1024 * 1024
TIMEOUT = httpx.Timeout(60.0, connect=15.0)
CHUNK = 1024 * 1024
_REPO_RE = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
                      r"(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$")
_TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_CHALLENGE_RE = re.compile(r'(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))')


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


def parse_reference(ref: str) -> Reference:
    """``registry:HOST[:PORT]/REPO[:TAG|@DIGEST]``, ``docker://…`` or a bare name
    (``debian:12`` → ``registry-1.docker.io/library/debian:12``)."""
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
        host, repo = "docker.io", name
    if host in ("docker.io", "index.docker.io"):
        host = DOCKER_HUB
        if "/" not in repo:
            repo = f"library/{repo}"
    if not repo or not _REPO_RE.match(repo):
        raise ImageError(f"{shown(ref)}: invalid repository name {shown(repo)!r}")
    if not at and tag is None:
        tag = "latest"
    return Reference(host, repo, tag, digest if at else None)


def _hostname(host: str) -> str:
    if host.startswith("["):
        return host[1:host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def is_loopback(host: str) -> bool:
    name = _hostname(host)
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    scheme, _, params = header.strip().partition(" ")
    found = {m.group(1).lower(): (m.group(2) if m.group(2) is not None else m.group(3) or "")
             for m in _CHALLENGE_RE.finditer(params)}
    return scheme.lower(), {k: v.replace('\\"', '"') for k, v in found.items()}


class RegistryClient:
    """HTTP API v2 for one repository: anonymous, Bearer-token or Basic auth."""

    def __init__(self, ref: Reference, settings: RegistrySettings | None = None, *,
                 transport: httpx.BaseTransport | None = None,
                 event_hooks: dict[str, list[Any]] | None = None) -> None:
        settings = settings or RegistrySettings()
        self.ref = ref
        self.settings = settings
        self._plain_ok = ({ref.host, _hostname(ref.host)} & set(settings.insecure)
                          or is_loopback(ref.host))
        scheme = "http" if self._plain_ok else "https"
        self.base = f"{scheme}://{ref.host}/v2/{ref.repository}"
        self._basic = ((settings.username, settings.password or "")
                       if settings.username is not None else None)
        self._auth_header: str | None = None
        self._answered: set[str] = set()  # challenges already answered (scheme + scope)
        hooks: dict[str, list[Any]] = {"request": [self._check_scheme], "response": []}
        for key, extra in (event_hooks or {}).items():
            hooks.setdefault(key, []).extend(extra)
        self.client = httpx.Client(timeout=TIMEOUT, follow_redirects=True,
                                   max_redirects=MAX_REDIRECTS, verify=True,
                                   transport=transport, event_hooks=hooks,
                                   headers={"User-Agent": "hullscan"})

    def close(self) -> None:
        self.client.close()

    def _check_scheme(self, request: httpx.Request) -> None:
        """Plain http only to the insecure/loopback registry itself (redirects included)."""
        if request.url.scheme == "https":
            return
        host = request.url.host
        if request.url.scheme == "http" and self._plain_ok and (
                is_loopback(host) or host == _hostname(self.ref.host)):
            return
        raise HullscanError(f"{self.ref.name}: refusing a plain-{request.url.scheme} request "
                            f"to {shown(host)} (not in --insecure-registry)")

    @contextmanager
    def get(self, path: str, accept: str | None = None) -> Iterator[httpx.Response]:
        """GET ``/v2/<repo>/<path>`` (a 200, or an ``ImageError``); the body streams."""
        with self.request("GET", path, accept=accept) as resp:
            self._raise_for_status(resp, path)
            yield resp

    @contextmanager
    def request(self, method: str, path: str, *, accept: str | None = None,
                headers: dict[str, str] | None = None, content: bytes | None = None,
                url: str | None = None) -> Iterator[httpx.Response]:
        """Any API call: ``path`` is relative to ``/v2/<repo>/`` unless ``url`` (an upload
        location) is given. Answers a 401 challenge once per new scope (a push needs a
        token with more scope than a pull). The status is the caller's to check."""
        all_headers = {"Accept-Encoding": "identity", **(headers or {})}
        if accept:
            all_headers["Accept"] = accept
        target = url or f"{self.base}/{path}"
        try:
            resp = self._send(method, target, all_headers, content)
            if resp.status_code == 401 and self._authenticate(resp):
                resp.close()
                resp = self._send(method, target, all_headers, content)
            try:
                yield resp
            finally:
                resp.close()
        except httpx.TooManyRedirects:
            raise HullscanError(f"{self.ref.name}: more than {MAX_REDIRECTS} redirects "
                                f"fetching {shown(path)}") from None
        except httpx.HTTPError as e:
            raise HullscanError(f"{self.ref.name}: {type(e).__name__} fetching "
                                f"{shown(path)}: {shown(e)}") from None

    def _send(self, method: str, url: str, headers: dict[str, str],
              content: bytes | None = None) -> httpx.Response:
        if self._auth_header:
            headers = {**headers, "Authorization": self._auth_header}
        request = self.client.build_request(method, url, headers=headers, content=content)
        return self.client.send(request, stream=True)

    def _authenticate(self, resp: httpx.Response) -> bool:
        """Answer a 401 challenge; False when there is nothing (new) to try."""
        scheme, params = _parse_challenge(resp.headers.get("WWW-Authenticate", ""))
        key = f"{scheme} {params.get('scope', '')}"
        if key in self._answered:
            return False
        self._answered.add(key)
        if scheme == "basic":
            if self._basic is None:
                return False
            user, pw = self._basic
            self._auth_header = "Basic " + base64.b64encode(f"{user}:{pw}".encode()).decode()
            return True
        if scheme != "bearer" or not params.get("realm"):
            return False
        self._auth_header = f"Bearer {self._token(params)}"
        return True

    def _token(self, params: dict[str, str]) -> str:
        realm = httpx.URL(params["realm"])
        if realm.scheme not in ("https", "http"):
            raise HullscanError(f"{self.ref.name}: unsupported token realm scheme "
                                f"{shown(realm.scheme)!r}")
        query: dict[str, str] = {"scope": params.get("scope")
                                 or f"repository:{self.ref.repository}:pull"}
        if params.get("service"):
            query["service"] = params["service"]
        auth = httpx.BasicAuth(*self._basic) if self._basic is not None else None
        with self.client.stream("GET", realm, params=query, auth=auth) as resp:
            if resp.status_code in (401, 403):
                raise HullscanError(f"{self.ref.name}: the token service refused "
                                    f"{'the credentials' if auth else 'anonymous access'} "
                                    f"(HTTP {resp.status_code})")
            if resp.status_code != 200:
                raise HullscanError(f"{self.ref.name}: the token service answered HTTP "
                                    f"{resp.status_code}")
            body = _read_bounded(resp, MAX_TOKEN_BYTES, f"{self.ref.name} token response")
        doc = load_json(body, f"{self.ref.name} token response", Limits())
        token = doc.get("token") or doc.get("access_token")
        if not isinstance(token, str) or not token or not token.isprintable():
            raise HullscanError(f"{self.ref.name}: the token service returned no token")
        return token

    def _raise_for_status(self, resp: httpx.Response, path: str) -> None:
        code = resp.status_code
        if code == 200:
            return
        what = shown(path.split("/", 1)[-1])
        if code == 401:
            raise ImageError(f"{self.ref.name}: authentication required or refused (HTTP 401)"
                             + ("" if self._basic else "; pass credentials"))
        if code == 403:
            raise ImageError(f"{self.ref.name}: access denied (HTTP 403)")
        if code == 404:
            kind = "manifest" if path.startswith("manifests/") else "blob"
            raise ImageError(f"{self.ref.name}: {kind} {what} not found (HTTP 404)")
        if code == 429:
            raise ImageError(f"{self.ref.name}: rate limited by the registry (HTTP 429)")
        raise ImageError(f"{self.ref.name}: HTTP {code} fetching {what}")


def _read_bounded(resp: httpx.Response, limit: int, what: str) -> bytes:
    declared = resp.headers.get("Content-Length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise ImageError(f"{what}: larger than {limit} bytes")
    out = bytearray()
    for chunk in resp.iter_bytes():
        out += chunk
        if len(out) > limit:
            raise ImageError(f"{what}: larger than {limit} bytes")
    return bytes(out)


class BlobCache:
    """``<root>/blobs/<algo>/<hex>``: complete, verified blobs only."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.store = DirStore(str(root))

    def path(self, digest: str) -> Path:
        return self.root / blob_name(digest)

    def has(self, digest: str) -> bool:
        return self.store.exists(blob_name(digest))

    def put(self, digest: str, chunks: Iterator[bytes], limit: int, exact: int | None,
            what: str) -> None:
        """Write through a ``.partial`` file; renamed into place only if it verifies."""
        algo, hexpart = parse_digest(digest)
        target = self.path(digest)
        target.parent.mkdir(parents=True, exist_ok=True)
        hasher = hashlib.new(algo)
        fd, partial = tempfile.mkstemp(prefix=f"{hexpart}.", suffix=".partial",
                                       dir=target.parent)
        try:
            count = 0
            with os.fdopen(fd, "wb") as f:
                for chunk in chunks:
                    count += len(chunk)
                    if count > limit:
                        raise ImageError(f"{what}: more than the {limit} bytes expected")
                    hasher.update(chunk)
                    f.write(chunk)
            if exact is not None and count != exact:
                raise ImageError(f"{what}: {count} bytes, but the descriptor says {exact}")
            actual = f"{algo}:{hasher.hexdigest()}"
            if actual != digest:
                raise ImageError(f"{what}: digest mismatch: expected {digest}, got {actual} "
                                 "(corrupt or tampered)")
            os.replace(partial, target)
        except BaseException:
            with suppress(FileNotFoundError):
                os.unlink(partial)
            raise


class RegistryStore(Store):
    """The cache as a ``Store``, fetching missing members from the registry on demand
    (needed while ``select_manifest`` walks an index)."""

    def __init__(self, client: RegistryClient, cache: BlobCache, limits: Limits) -> None:
        self.client = client
        self.cache = cache
        self.limits = limits
        self.label = client.ref.name
        self.manifest_digests: set[str] = set()
        self.sizes: dict[str, int] = {}
        self.fetched = 0

    def note_index(self, index: dict[str, Any]) -> None:
        for d in index.get("manifests") or []:
            if isinstance(d, dict) and isinstance(d.get("digest"), str):
                self.manifest_digests.add(d["digest"])

    def note_descriptor(self, desc: dict[str, Any]) -> None:
        digest, size = desc.get("digest"), desc.get("size")
        if isinstance(digest, str) and isinstance(size, int) and not isinstance(size, bool):
            self.sizes[digest] = size

    def ensure(self, digest: str) -> None:
        parse_digest(digest)
        if self.cache.has(digest):
            return
        size = self.sizes.get(digest)
        is_manifest = digest in self.manifest_digests
        if size is None and not is_manifest:
            raise ImageError(f"{self.label}: blob {digest} has no size in its descriptor")
        if is_manifest:
            limit = min(size, self.limits.max_json_bytes) if size is not None \
                else self.limits.max_json_bytes
            path, accept = f"manifests/{digest}", ACCEPT
        else:
            assert size is not None
            if size < 0:
                raise ImageError(f"{self.label}: blob {digest} has a negative size")
            limit, path, accept = size, f"blobs/{digest}", None
        with self.client.get(path, accept) as resp:
            self.cache.put(digest, resp.iter_bytes(CHUNK), limit, size,
                           f"{self.label} {'manifest' if is_manifest else 'blob'} {digest}")
        self.fetched += 1

    def exists(self, name: str) -> bool:
        return self.cache.store.exists(name)

    def blob(self, name: str) -> BlobRef:
        parts = name.split("/")
        if len(parts) == 3 and parts[0] == "blobs":
            self.ensure(f"{parts[1]}:{parts[2]}")
        return self.cache.store.blob(name)

    def read(self, name: str, limit: int) -> bytes:
        data = super().read(name, limit)
        parts = name.split("/")
        if len(parts) == 3 and f"{parts[1]}:{parts[2]}" in self.manifest_digests:
            try:
                doc = load_json(data, f"{self.label} manifest", self.limits)
            except ImageError:
                return data
            if isinstance(doc.get("manifests"), list):
                self.note_index(doc)
        return data


def _check_manifest_type(media: str | None, doc: dict[str, Any], what: str) -> None:
    if media in SCHEMA1_TYPES or doc.get("schemaVersion") == 1:
        raise ImageError(f"{what}: a Docker schema 1 manifest (deprecated, unverifiable); "
                         "hullscan needs schema 2 or OCI (re-push the image with a current "
                         "client)")


def open_registry(ref: str, platform: Platform | None, limits: Limits, cache_dir: Path,
                  settings: RegistrySettings | None = None, *,
                  transport: httpx.BaseTransport | None = None,
                  event_hooks: dict[str, list[Any]] | None = None) -> Image:
    """Pull ``ref`` into ``cache_dir`` and open it like an OCI layout."""
    parsed = parse_reference(ref)
    client = RegistryClient(parsed, settings, transport=transport, event_hooks=event_hooks)
    try:
        cache = BlobCache(Path(cache_dir))
        store = RegistryStore(client, cache, limits)
        reference = parsed.digest or parsed.tag
        assert reference is not None
        what = f"{parsed}"
        with client.get(f"manifests/{reference}", ACCEPT) as resp:
            media = resp.headers.get("Content-Type", "").split(";")[0].strip() or None
            if media in SCHEMA1_TYPES:
                raise ImageError(f"{what}: a Docker schema 1 manifest (deprecated, "
                                 "unverifiable); hullscan needs schema 2 or OCI")
            data = _read_bounded(resp, limits.max_json_bytes, f"{what} manifest")
            header_digest = resp.headers.get("Docker-Content-Digest")
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        if parsed.digest:
            check_digest(data, parsed.digest, f"{what} manifest")
            digest = parsed.digest
        if header_digest and header_digest.startswith("sha256:") and header_digest != digest:
            raise ImageError(f"{what}: manifest digest mismatch: the registry says "
                             f"{shown(header_digest)}, the content is {digest}")
        doc = load_json(data, f"{what} manifest", limits)
        _check_manifest_type(media, doc, what)
        media = doc.get("mediaType") or media
        if not cache.has(digest):
            cache.put(digest, iter([data]), len(data), len(data), f"{what} manifest")
        desc: dict[str, Any] = {"mediaType": media, "digest": digest, "size": len(data)}
        if media in INDEX_TYPES or (media not in MANIFEST_TYPES and "manifests" in doc):
            store.note_index(doc)
            desc, manifest = select_manifest(store, doc, None, platform, limits)
        elif media in MANIFEST_TYPES or "layers" in doc:
            manifest = doc
        else:
            raise ImageError(f"{what}: unsupported manifest media type {shown(media)!r}")
        cfg = manifest.get("config")
        layers = manifest.get("layers")
        if not isinstance(cfg, dict) or not isinstance(layers, list):
            raise ImageError(f"{what}: manifest without a config or layers list")
        for d in [cfg, *layers]:
            if not isinstance(d, dict) or not isinstance(d.get("digest"), str):
                raise ImageError(f"{what}: manifest has a descriptor without a digest")
            store.note_descriptor(d)
            store.ensure(d["digest"])
        tags = (f"{parsed.name}:{parsed.tag}",) if parsed.tag else ()
        return image_from_manifest(cache.store, ref, "registry", desc, manifest, limits, tags)
    finally:
        client.close()


__all__ = ["Reference", "RegistryClient", "RegistrySettings", "open_registry", "parse_reference"]
