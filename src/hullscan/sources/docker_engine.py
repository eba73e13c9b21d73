"""Images of a local Docker (or Podman) engine, ``docker:NAME[:TAG]``, through its API.

The engine is asked for the image's id (``GET /images/{name}/json``), then for a
``docker save`` export of it (``GET /images/{name}/get``), streamed to
``<cache>/docker/<id>.tar.partial``. Only an export whose config is the image the engine
named and whose every layer matches its diff-id is renamed into place; from there the
docker-archive reader opens it like any archive, and every layer is verified again
when it is read. An image already exported under the same id is not exported again.

Where: ``$DOCKER_HOST`` (``unix:///path`` or ``tcp://host:port``; TLS when
``$DOCKER_TLS_VERIFY`` or ``$DOCKER_TLS`` is set, with ``$DOCKER_CERT_PATH``'s
``ca.pem``, ``cert.pem`` and ``key.pem``, always verified), else
``/var/run/docker.sock``, else Podman's sockets (rootless, then rootful), which speak
the same API.
"""

from __future__ import annotations

import dataclasses
import json
import os
import ssl
import tempfile
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

from hullscan.errors import ImageError, shown
from hullscan.layers import TarLayerSource
from hullscan.sources.docker_archive import open_docker_archive
from hullscan.sources.interface import Image, load_json
from hullscan.sources.store import TarStore
from hullscan.streams import CHUNK, Limits, open_layer_stream

if TYPE_CHECKING:
    import httpx

DOCKER_SOCKET = "/var/run/docker.sock"
PODMAN_ROOTFUL = "/run/podman/podman.sock"
#: seconds to wait for the engine to answer (an export of a large image streams longer)
TIMEOUT = 30.0


@dataclass(frozen=True)
class Endpoint:
    """How to reach the engine: a Unix socket path, or a TCP base URL."""

    socket: str | None = None
    url: str | None = None
    tls: ssl.SSLContext | None = None

    def __str__(self) -> str:
        return f"unix://{self.socket}" if self.socket else str(self.url)


def endpoint(env: dict[str, str] | None = None) -> Endpoint:
    """The engine the environment names, as the docker CLI reads it."""
    env = dict(os.environ) if env is None else env
    host = env.get("DOCKER_HOST", "").strip()
    if not host:
        candidates = [DOCKER_SOCKET]
        if runtime := env.get("XDG_RUNTIME_DIR"):
            candidates.append(os.path.join(runtime, "podman", "podman.sock"))
        candidates.append(PODMAN_ROOTFUL)
        found = next((c for c in candidates if os.path.exists(c)), DOCKER_SOCKET)
        return Endpoint(socket=found)
    if host.startswith("unix://"):
        return Endpoint(socket=host[len("unix://") :] or DOCKER_SOCKET)
    if host.startswith("tcp://"):
        address = host[len("tcp://") :].rstrip("/")
        tls = bool(env.get("DOCKER_TLS_VERIFY") or env.get("DOCKER_TLS"))
        context = _tls_context(env) if tls else None
        return Endpoint(url=f"{'https' if tls else 'http'}://{address}", tls=context)
    raise ImageError(f"DOCKER_HOST={shown(host)!r}: only unix:// and tcp:// engines are supported")


def _tls_context(env: dict[str, str]) -> ssl.SSLContext:
    certs = Path(env.get("DOCKER_CERT_PATH") or Path.home() / ".docker")
    ca = certs / "ca.pem"
    context = ssl.create_default_context(cafile=str(ca) if ca.is_file() else None)
    cert, key = certs / "cert.pem", certs / "key.pem"
    if cert.is_file() and key.is_file():
        try:
            context.load_cert_chain(str(cert), str(key))
        except (OSError, ssl.SSLError) as e:
            raise ImageError(f"{cert}: cannot load the Docker client certificate ({e})") from None
    return context


def open_docker_engine(
    ref: str, name: str, limits: Limits, cache_dir: Path, where: Endpoint | None = None
) -> Image:
    """Export ``name`` from the engine (or reuse its earlier export) and open it."""
    import httpx  # the HTTP stack is loaded only for engine and registry images

    if not name:
        raise ImageError(f"{ref}: no image name after docker:")
    where = where or endpoint()
    transport = (
        httpx.HTTPTransport(uds=where.socket)
        if where.socket
        else httpx.HTTPTransport(verify=where.tls or True)
    )
    base = "http://docker" if where.socket else str(where.url)
    path = quote(name, safe="/:@")
    with httpx.Client(transport=transport, base_url=base, timeout=TIMEOUT) as client:
        try:
            image_id = _image_id(client, path, name, where, limits)
            target = cache_dir / "docker" / f"{image_id.removeprefix('sha256:')}.tar"
            if not target.is_file():
                _export(client, path, name, where, image_id, target, limits)
        except httpx.TransportError as e:
            if where.socket and not os.path.exists(where.socket):
                raise ImageError(
                    f"{ref}: no Docker engine: {where.socket} does not exist "
                    "(is Docker or Podman running? DOCKER_HOST names "
                    "another)"
                ) from None
            raise ImageError(
                f"{ref}: the Docker engine at {where} did not answer ({type(e).__name__}: {e})"
            ) from None
    image = open_docker_archive(TarStore(str(target), limits.max_entries), ref, None, limits)
    return dataclasses.replace(image, transport="docker")


def _image_id(client: httpx.Client, path: str, name: str, where: Endpoint, limits: Limits) -> str:
    resp = client.get(f"/images/{path}/json")
    _check(resp.status_code, resp.content, name, where)
    doc = load_json(resp.content, "the engine's image description", limits)
    image_id = doc.get("Id")
    if not isinstance(image_id, str) or not image_id:
        raise ImageError(f"docker:{shown(name)}: the engine gave no image id")
    return image_id if ":" in image_id else f"sha256:{image_id}"


def _check(status: int, body: bytes, name: str, where: Endpoint) -> None:
    if status == 200:
        return
    if status == 404:
        raise ImageError(f"docker:{shown(name)}: no such image in the Docker engine at {where}")
    message = ""
    with suppress(ValueError, UnicodeDecodeError, AttributeError):
        message = str(json.loads(body[:4096]).get("message", ""))
    raise ImageError(
        f"docker:{shown(name)}: the Docker engine at {where} answered HTTP "
        f"{status}" + (f": {shown(message)}" if message else "")
    )


def _export(
    client: httpx.Client,
    path: str,
    name: str,
    where: Endpoint,
    image_id: str,
    target: Path,
    limits: Limits,
) -> None:
    """Stream the export to a partial file; keep it only if it is that image, intact."""
    import httpx

    target.parent.mkdir(parents=True, exist_ok=True)
    fd, partial = tempfile.mkstemp(prefix=f"{target.stem}.", suffix=".partial", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as out, client.stream("GET", f"/images/{path}/get") as resp:
            if resp.status_code != 200:
                _check(resp.status_code, resp.read(), name, where)
            written = 0
            try:
                for chunk in resp.iter_raw(CHUNK):
                    written += len(chunk)
                    if written > limits.max_layer_bytes:
                        raise ImageError(
                            f"docker:{shown(name)}: the export is larger than "
                            f"{limits.max_layer_bytes} bytes (limit reached)"
                        )
                    out.write(chunk)
            except httpx.HTTPError as e:
                raise ImageError(
                    f"docker:{shown(name)}: the engine's export broke off after "
                    f"{written} bytes ({e})"
                ) from None
        _verify_export(partial, name, image_id, limits)
        os.replace(partial, target)
    except BaseException:
        with suppress(OSError):
            os.unlink(partial)
        raise


def _verify_export(path: str, name: str, image_id: str, limits: Limits) -> None:
    image = open_docker_archive(TarStore(path, limits.max_entries), f"docker:{name}", None, limits)
    if image.config_digest != image_id:
        raise ImageError(
            f"docker:{shown(name)}: the engine exported "
            f"{image.config_digest or 'an image without a content id'}, "
            f"not image {image_id}"
        )
    for source in image.layer_sources:
        assert isinstance(source, TarLayerSource)
        with source.blob.open() as raw:
            open_layer_stream(
                raw,  # type: ignore[arg-type]
                f"docker:{shown(name)} {source.label}",
                source.digest,
                source.size,
                source.diff_id,
                limits,
            ).verify()
