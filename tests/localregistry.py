"""A real OCI Distribution registry (Debian's ``docker-registry``) on 127.0.0.1 for tests,
and skopeo to push images into it. Tests using it skip without them
(``bash scripts/registry.sh`` installs the registry)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

if TYPE_CHECKING:
    from imagebuilder import BuiltImage

REGISTRY = shutil.which("docker-registry") or "/usr/bin/docker-registry"
SKOPEO = shutil.which("skopeo")
REF_NAME = "org.opencontainers.image.ref.name"
USER, PASSWORD = "scanner", "s3cret-pa55"

needs_registry = pytest.mark.skipif(
    not os.access(REGISTRY, os.X_OK) or SKOPEO is None,
    reason="needs /usr/bin/docker-registry (bash scripts/registry.sh) and skopeo",
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Registry:
    host: str
    proc: subprocess.Popen[bytes]
    log: Path


@dataclass(frozen=True)
class LocalCA:
    """A CA made for one test run, and a server certificate it signed for 127.0.0.1."""

    ca: Path  # PEM certificate of the CA
    cert: Path  # PEM server certificate (SAN: IP 127.0.0.1, DNS localhost)
    key: Path  # PEM server key


def make_ca(root: Path) -> LocalCA:
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    root.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hullscan test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    out = LocalCA(root / "ca.pem", root / "server.pem", root / "server-key.pem")
    out.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    out.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    out.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return out


def start_registry(
    root: Path, auth: dict[str, Any] | None = None, tls: LocalCA | None = None
) -> Registry:
    """``auth``: the registry's ``auth:`` section; ``tls``: serve https with its
    certificate (the registry is then reachable over https only)."""
    port = free_port()
    storage = root / "storage"
    storage.mkdir(parents=True)
    config: dict[str, Any] = {
        "version": 0.1,
        "log": {"level": "warn"},
        "storage": {"filesystem": {"rootdirectory": str(storage)}},
        "http": {"addr": f"127.0.0.1:{port}"},
    }
    if auth:
        config["auth"] = auth
    if tls:
        config["http"]["tls"] = {"certificate": str(tls.cert), "key": str(tls.key)}
    cfg = root / "config.yml"
    cfg.write_text(json.dumps(config))  # JSON is YAML
    log = root / "registry.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([REGISTRY, "serve", str(cfg)], stdout=out, stderr=subprocess.STDOUT)
    host = f"127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"docker-registry exited: {log.read_text()[-2000:]}")
        try:
            url = f"{'https' if tls else 'http'}://{host}/v2/"
            verify: Any = ssl.create_default_context(cafile=str(tls.ca)) if tls else True
            if httpx.get(url, timeout=1, verify=verify).status_code in (200, 401):
                return Registry(host, proc, log)
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"docker-registry did not start: {log.read_text()[-2000:]}")


def stop_registry(reg: Registry) -> None:
    reg.proc.terminate()
    try:
        reg.proc.wait(10)
    except subprocess.TimeoutExpired:
        reg.proc.kill()
        reg.proc.wait()


def push(layout: Path, tag: str, dest: str, creds: str | None = None) -> None:
    """Copy the OCI layout's image ``tag`` to ``dest`` (``HOST/REPO:TAG``)."""
    skopeo_copy(f"oci:{layout}:{tag}", dest, creds)


def skopeo_copy(source: str, dest: str, creds: str | None = None, timeout: float = 120) -> None:
    """Copy the image skopeo names ``source`` (``oci:…``, ``docker-archive:…``) to the
    plain-http registry reference ``dest`` (skopeo compresses its layers on the way)."""
    assert SKOPEO is not None
    cmd = [
        SKOPEO,
        "--insecure-policy",
        "copy",
        "--quiet",
        "--dest-tls-verify=false",
        *(["--dest-creds", creds] if creds else []),
        source,
        f"docker://{dest}",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr


def mock_registry(
    image: BuiltImage, blob: Callable[[str, bytes], httpx.Response] | None = None
) -> httpx.MockTransport:
    """A registry in process serving ``image`` (one manifest, any tag) to an httpx client;
    ``blob(digest, data)`` answers each blob request (default: the bytes as they are)."""
    blobs = {"sha256:" + hashlib.sha256(b).hexdigest(): b for b in [*image.blobs, image.config]}

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v2/":
            return httpx.Response(200)
        if "/manifests/" in request.url.path:
            return httpx.Response(
                200,
                content=image.manifest,
                headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"},
            )
        digest = request.url.path.rsplit("/", 1)[1]
        data = blobs[digest]
        return blob(digest, data) if blob is not None else httpx.Response(200, content=data)

    return httpx.MockTransport(handler)


def pull_packages(
    transport: httpx.MockTransport,
    cache: Path,
    workers: int,
    keep_layers: bool = False,
    verify_diff_ids: bool = True,
) -> set[tuple[str, str]]:
    """Pull ``registry:example.test/a/b:1`` through ``transport`` into ``cache`` as a scan
    does (layers analyzed by ``workers`` processes as they arrive, their blobs kept in
    the cache with ``keep_layers``); (name, version) found."""
    from hullscan.inventory import default_analyzers
    from hullscan.pipeline import ScanOptions, analyze_layers, build_inventory
    from hullscan.sources.registry import open_registry
    from hullscan.sources.registry_settings import RegistrySettings
    from hullscan.streams import Limits

    settings = RegistrySettings(keep_layers=keep_layers, verify_diff_ids=verify_diff_ids)
    img = open_registry(
        "registry:example.test/a/b:1",
        None,
        Limits(),
        cache / "registry",
        settings,
        transport=transport,
        defer_layers=True,
    )
    try:
        analyses = analyze_layers(
            img,
            default_analyzers(),
            ScanOptions(cache_dir=cache, workers=workers, registry=settings),
        )
    finally:
        img.close()
    return {(p.name, p.version) for p in build_inventory(img, analyses).packages}


def count_sha256(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Bytes fed to every SHA-256 object ``hashlib.new`` makes in this process from now on
    (downloads, layer reads), one entry per ``update``; from any thread."""
    fed: list[int] = []
    lock = threading.Lock()
    real = hashlib.new

    class Counting:
        def __init__(self, inner: Any) -> None:
            self._inner = inner

        def update(self, data: Any) -> None:
            with lock:
                fed.append(len(data))
            self._inner.update(data)

        def __getattr__(self, name: str) -> Any:
            return getattr(self._inner, name)

    def new(name: str, *args: Any, **kw: Any) -> Any:
        h = real(name, *args, **kw)
        return Counting(h) if name == "sha256" else h

    monkeypatch.setattr(hashlib, "new", new)
    return fed
