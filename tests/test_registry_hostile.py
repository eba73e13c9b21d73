"""The registry client against a lying, broken or hostile registry.

A tiny threaded HTTP server on 127.0.0.1 serves a small image built in code and, per test,
lies about it. Every failure goes through the CLI: exit code 2, one line on stderr, and
the cache holds nothing but complete blobs whose content hashes to their name.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from hullscan.cli import main
from hullscan.sources import registry_client

from imagebuilder import BuiltImage, build, debian_base, python_dist, sha256
from localregistry import count_sha256

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
SCHEMA1 = "application/vnd.docker.distribution.manifest.v1+prettyjws"
LIMIT = 16 * 1024**2  # Limits().max_json_bytes

Behaviour = Callable[["Handler"], bool]  # True: it answered the request itself


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.server.owner.handle(self)

    def do_HEAD(self) -> None:
        self.server.owner.handle(self)

    def reply(
        self,
        status: int,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
        length: int | None = None,
    ) -> None:
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def chunked_forever(self, stop: threading.Event, content_type: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        chunk = b"[" * 65536
        frame = b"%x\r\n" % len(chunk) + chunk + b"\r\n"
        try:
            while not stop.is_set():
                self.wfile.write(frame)
        except OSError:
            pass
        self.close_connection = True


class Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: HostileRegistry

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client hanging up on a hostile answer is expected, and stderr is checked


class HostileRegistry:
    """Serves ``image`` as ``x/y:1``; ``behaviour`` may answer a request first."""

    def __init__(self, image: BuiltImage) -> None:
        self.image = image
        self.blobs = {sha256(b): b for b in [image.config, *image.blobs]}
        self.behaviour: Behaviour | None = None
        self.requests: list[str] = []
        self.stop = threading.Event()
        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.httpd.owner = self
        self.host = f"127.0.0.1:{self.httpd.server_port}"
        self.ref = f"registry:{self.host}/x/y:1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def count(self, fragment: str) -> int:
        return sum(fragment in p for p in self.requests)

    def handle(self, h: Handler) -> None:
        self.requests.append(h.path)
        if self.behaviour is not None and self.behaviour(h):
            return
        self.serve(h)

    def serve(self, h: Handler) -> None:
        path = h.path
        if path == "/v2/" or path == "/v2":
            h.reply(200, b"{}", {"Content-Type": "application/json"})
        elif path in ("/v2/x/y/manifests/1", f"/v2/x/y/manifests/{self.image.manifest_digest}"):
            h.reply(
                200,
                self.image.manifest,
                {"Content-Type": OCI_MANIFEST, "Docker-Content-Digest": self.image.manifest_digest},
            )
        elif path.startswith("/v2/x/y/blobs/") and path.rsplit("/", 1)[1] in self.blobs:
            h.reply(
                200,
                self.blobs[path.rsplit("/", 1)[1]],
                {"Content-Type": "application/octet-stream"},
            )
        else:
            h.reply(404, b'{"errors":[{"code":"NOT_FOUND"}]}', {"Content-Type": "application/json"})

    def close(self) -> None:
        self.stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def image() -> BuiltImage:
    return build([debian_base(), [python_dist("requests", "2.31.0")]])


@pytest.fixture
def server(image: BuiltImage) -> Iterator[HostileRegistry]:
    srv = HostileRegistry(image)
    try:
        yield srv
    finally:
        srv.close()


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Sequence[float]:
    """Backoff delays, recorded instead of slept: by this process and by the worker
    processes it forks (which download the layers they analyse)."""
    recorded = _Recorded(tmp_path / "sleeps")
    monkeypatch.setattr(registry_client, "_sleep", recorded.append)
    return recorded


class _Recorded(Sequence[float]):
    """Numbers appended to a file, one line each (O_APPEND: whole lines from any process)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        path.touch()

    def append(self, value: float) -> None:
        fd = os.open(self._path, os.O_WRONLY | os.O_APPEND)
        try:
            os.write(fd, f"{value!r}\n".encode())
        finally:
            os.close(fd)

    def _values(self) -> list[float]:
        return [float(line) for line in self._path.read_text().splitlines()]

    def __getitem__(self, i: Any) -> Any:
        return self._values()[i]

    def __len__(self) -> int:
        return len(self._values())

    def __eq__(self, other: object) -> bool:
        return self._values() == other

    __hash__ = None  # type: ignore[assignment]


@pytest.fixture(autouse=True)
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """hullscan.yaml with short timeouts; no Docker config of the machine's."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "no-docker-config"))
    monkeypatch.delenv("HULLSCAN_PASSWORD", raising=False)
    monkeypatch.delenv("HULLSCAN_USERNAME", raising=False)
    set_registries(work, retries=2, timeout=2)
    return work


def set_registries(work: Path, **section: Any) -> None:
    (work / "hullscan.yaml").write_text(json.dumps({"registries": section}))


def run(ref: str, cache: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["sbom", ref, "--cache-dir", str(cache), "-q"])
    return code, capsys.readouterr().err


def cached_blobs(cache: Path) -> set[str]:
    """Every file in the cache: only complete blobs whose content matches their name."""
    found: set[str] = set()
    for p in cache.rglob("*"):
        if not p.is_file():
            continue
        assert not p.name.endswith(".partial"), p
        rel = p.relative_to(cache).parts
        if rel[:3] == ("registry", "blobs", "sha256"):
            assert hashlib.sha256(p.read_bytes()).hexdigest() == p.name, p
            found.add(f"sha256:{p.name}")
    return found


def fails(ref: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], pattern: str) -> set[str]:
    cache = tmp_path / "cache"
    code, err = run(ref, cache, capsys)
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("hullscan: error: "), err
    assert re.search(pattern, lines[0]), lines[0]
    return cached_blobs(cache)


def path_is(fragment: str) -> Callable[[Handler], bool]:
    return lambda h: fragment in h.path


# -- lies about content --------------------------------------------------------------------


def test_manifest_not_matching_the_requested_digest(
    server: HostileRegistry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = build([[python_dist("other", "1.0")]])
    wanted = server.image.manifest_digest

    def lie(h: Handler) -> bool:
        if h.path == f"/v2/x/y/manifests/{wanted}":
            # the right header, the wrong content
            h.reply(
                200, other.manifest, {"Content-Type": OCI_MANIFEST, "Docker-Content-Digest": wanted}
            )
            return True
        return False

    server.behaviour = lie
    cached = fails(f"registry:{server.host}/x/y@{wanted}", tmp_path, capsys, "digest mismatch")
    assert cached == set()
    assert server.count("/blobs/") == 0


def test_docker_content_digest_header_mismatch(
    server: HostileRegistry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def lie(h: Handler) -> bool:
        if "/manifests/" in h.path:
            h.reply(
                200,
                server.image.manifest,
                {"Content-Type": OCI_MANIFEST, "Docker-Content-Digest": "sha256:" + "1" * 64},
            )
            return True
        return False

    server.behaviour = lie
    cached = fails(
        server.ref, tmp_path, capsys, r"manifest digest mismatch: the registry says sha256:1{64}"
    )
    assert cached == set()


def test_blob_with_the_wrong_digest(
    server: HostileRegistry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    layer = sha256(server.image.blobs[0])

    def lie(h: Handler) -> bool:
        if h.path.endswith(layer):
            data = bytearray(server.image.blobs[0])
            data[-1] ^= 1  # same size, wrong bytes
            h.reply(200, bytes(data))
            return True
        return False

    server.behaviour = lie
    # piped to its worker (the default), the layer is checked as it inflates: gzip's own
    # check fails first; kept, the download's digest check does
    cached = fails(
        server.ref,
        tmp_path,
        capsys,
        rf"layer 0: corrupt gzip stream|blob {layer}: digest mismatch: expected {layer}",
    )
    # blobs download in parallel: the good ones may be kept, the lying one never
    assert server.image.manifest_digest in cached and layer not in cached


def test_blob_longer_than_its_descriptor(
    server: HostileRegistry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    layer = sha256(server.image.blobs[1])
    size = len(server.image.blobs[1])

    def lie(h: Handler) -> bool:
        if h.path.endswith(layer):
            h.reply(200, server.image.blobs[1] + b"\0" * 4096)
            return True
        return False

    server.behaviour = lie
    cached = fails(
        server.ref, tmp_path, capsys, rf"blob {layer}: more than the {size} bytes expected"
    )
    assert layer not in cached and server.image.config_digest in cached


def test_schema1_manifest(
    server: HostileRegistry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = json.dumps(
        {
            "schemaVersion": 1,
            "name": "x/y",
            "tag": "1",
            "fsLayers": [],
            "history": [],
            "signatures": [],
        }
    ).encode()

    def lie(h: Handler) -> bool:
        if "/manifests/" in h.path:
            h.reply(200, doc, {"Content-Type": SCHEMA1})
            return True
        return False

    server.behaviour = lie
    assert fails(server.ref, tmp_path, capsys, "schema 1 manifest") == set()


# -- endless, huge, slow -------------------------------------------------------------------


def test_redirect_loop(
    server: HostileRegistry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def loop(h: Handler) -> bool:
        if "/manifests/" in h.path:
            h.reply(302, headers={"Location": h.path + "x"})
            return True
        return False

    server.behaviour = loop
    assert fails(server.ref, tmp_path, capsys, "more than 5 redirects") == set()
    assert server.count("/manifests/") == 6  # the request and 5 redirects, never retried


def test_endless_chunked_manifest(
    server: HostileRegistry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def endless(h: Handler) -> bool:
        if "/manifests/" in h.path:
            h.chunked_forever(server.stop, OCI_MANIFEST)
            return True
        return False

    server.behaviour = endless
    assert fails(server.ref, tmp_path, capsys, rf"manifest: larger than {LIMIT} bytes") == set()


def test_endless_chunked_blob(
    server: HostileRegistry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    layer = sha256(server.image.blobs[0])

    def endless(h: Handler) -> bool:
        if h.path.endswith(layer):
            h.chunked_forever(server.stop, "application/octet-stream")
            return True
        return False

    server.behaviour = endless
    cached = fails(
        server.ref,
        tmp_path,
        capsys,
        rf"blob {layer}: more than the {len(server.image.blobs[0])} bytes",
    )
    assert layer not in cached


def test_huge_manifest(
    server: HostileRegistry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def huge(h: Handler) -> bool:
        if "/manifests/" in h.path:
            # announces more than the limit; never sends it
            h.reply(200, b"{", {"Content-Type": OCI_MANIFEST}, length=LIMIT + 1)
            h.close_connection = True
            return True
        return False

    server.behaviour = huge
    assert fails(server.ref, tmp_path, capsys, rf"manifest: larger than {LIMIT} bytes") == set()


def test_slow_drip_manifest_ends_at_the_timeout(
    server: HostileRegistry, tmp_path: Path, capsys: pytest.CaptureFixture[str], workdir: Path
) -> None:
    set_registries(workdir, retries=0, timeout=1)

    def drip(h: Handler) -> bool:
        if "/manifests/" in h.path:
            h.send_response(200)
            h.send_header("Content-Type", OCI_MANIFEST)
            h.send_header("Content-Length", "100000")
            h.end_headers()
            try:
                while not server.stop.is_set():
                    h.wfile.write(b" ")
                    h.wfile.flush()
                    time.sleep(0.1)  # always under the read timeout
            except OSError:
                pass
            h.close_connection = True
            return True
        return False

    server.behaviour = drip
    start = time.monotonic()
    assert fails(server.ref, tmp_path, capsys, "manifest: not complete within the timeout") == set()
    assert time.monotonic() - start < 5


def test_slow_drip_blob_is_given_up(
    server: HostileRegistry, tmp_path: Path, capsys: pytest.CaptureFixture[str], workdir: Path
) -> None:
    set_registries(workdir, retries=0, timeout=1)
    layer = sha256(server.image.blobs[0])
    data = server.image.blobs[0]

    def drip(h: Handler) -> bool:
        if h.path.endswith(layer):
            h.send_response(200)
            h.send_header("Content-Length", str(len(data)))
            h.end_headers()
            try:
                for i in range(len(data)):
                    if server.stop.is_set():
                        break
                    h.wfile.write(data[i : i + 1])
                    h.wfile.flush()
                    time.sleep(0.02)  # 50 bytes/s, each under the read timeout
            except OSError:
                pass
            h.close_connection = True
            return True
        return False

    server.behaviour = drip
    start = time.monotonic()
    cached = fails(
        server.ref, tmp_path, capsys, rf"blob {layer}: slower than 1024 bytes/s for 1 s, giving up"
    )
    assert layer not in cached
    assert time.monotonic() - start < 5


# -- retries -------------------------------------------------------------------------------


def test_500s_then_success_is_retried(
    server: HostileRegistry,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    sleeps: Sequence[float],
) -> None:
    failures = {"manifests": 2, "blobs": 2}

    def flaky(h: Handler) -> bool:
        kind = "manifests" if "/manifests/" in h.path else "blobs"
        if "/x/y/" in h.path and failures[kind]:
            failures[kind] -= 1
            h.reply(500 if kind == "manifests" else 502, b"oops")
            return True
        return False

    server.behaviour = flaky
    cache = tmp_path / "cache"
    code, err = run(server.ref, cache, capsys)
    assert code == 0, err
    assert server.count("/manifests/1") == 3
    assert server.count("/blobs/") == 3 + 2  # config, 2 layers; 2 failures
    assert sleeps[:2] == [0.5, 1.0]  # exponential, per request: the manifest
    # the blobs download in parallel: one blob failing twice, or two failing once each
    assert sorted(sleeps[2:]) in ([0.5, 1.0], [0.5, 0.5])
    # the layers went to their analysis, not into the cache (registries.keep_layers)
    assert cached_blobs(cache) == {server.image.manifest_digest, server.image.config_digest}


def test_429_with_retry_after(
    server: HostileRegistry,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    sleeps: Sequence[float],
) -> None:
    hints = ["7", "3600"]  # the second is capped

    def limited(h: Handler) -> bool:
        if "/manifests/" in h.path and hints:
            h.reply(429, b"slow down", {"Retry-After": hints.pop(0)})
            return True
        return False

    server.behaviour = limited
    code, err = run(server.ref, tmp_path / "cache", capsys)
    assert code == 0, err
    assert sleeps == [7.0, 30.0]


def test_503_forever_gives_up(
    server: HostileRegistry,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    sleeps: Sequence[float],
) -> None:
    def down(h: Handler) -> bool:
        h.reply(503, b"down")
        return True

    server.behaviour = down
    assert (
        fails(server.ref, tmp_path, capsys, r"x/y: HTTP 503 fetching 1 \(gave up after 2 retries\)")
        == set()
    )
    assert server.count("/manifests/1") == 3
    assert len(sleeps) == 2


def test_real_backoff_timing(
    server: HostileRegistry,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    workdir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The real sleep, with a small base: 3 retries wait base * (1 + 2 + 4)."""
    monkeypatch.setattr(registry_client, "BACKOFF_BASE", 0.05)
    set_registries(workdir, retries=3, timeout=2)
    server.behaviour = lambda h: (h.reply(503), True)[1]
    start = time.monotonic()
    fails(server.ref, tmp_path, capsys, "HTTP 503")
    elapsed = time.monotonic() - start
    assert 0.35 <= elapsed < 3, elapsed
    assert server.count("/manifests/1") == 4


def test_stalled_blob_is_retried(
    server: HostileRegistry,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    workdir: Path,
    sleeps: Sequence[float],
) -> None:
    set_registries(workdir, retries=2, timeout=0.5)
    layer = sha256(server.image.blobs[0])
    stalls = [1]

    def stall(h: Handler) -> bool:
        if h.path.endswith(layer) and stalls:
            stalls.pop()
            server.stop.wait(1.5)  # longer than the read timeout, before any header
            h.close_connection = True
            return True
        return False

    server.behaviour = stall
    code, err = run(server.ref, tmp_path / "cache", capsys)
    assert code == 0, err
    assert server.count(layer) == 2
    assert len(sleeps) == 1


def test_connection_dropped_mid_blob_is_retried(
    server: HostileRegistry,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    sleeps: Sequence[float],
) -> None:
    layer = sha256(server.image.blobs[0])
    data = server.image.blobs[0]
    drops = [1]

    def drop(h: Handler) -> bool:
        if h.path.endswith(layer) and drops:
            drops.pop()
            h.send_response(200)
            h.send_header("Content-Length", str(len(data)))
            h.end_headers()
            h.wfile.write(data[: len(data) // 2])
            h.close_connection = True
            return True
        return False

    server.behaviour = drop
    cache = tmp_path / "cache"
    code, err = run(server.ref, cache, capsys)
    assert code == 0, err
    assert server.count(layer) == 2
    assert layer in cached_blobs(cache)


def test_registry_down(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], sleeps: Sequence[float]
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert (
        fails(
            f"registry:127.0.0.1:{port}/x/y:1",
            tmp_path,
            capsys,
            r"x/y: cannot connect fetching manifests/1",
        )
        == set()
    )
    assert len(sleeps) == 2


# -- bearer tokens that expire -------------------------------------------------------------


class TokenIssuer:
    """``/token`` on the same server; each token works for ``uses`` requests."""

    def __init__(self, server: HostileRegistry, uses: list[int]) -> None:
        self.server = server
        self.uses = uses  # per token issued, in order; the last repeats
        self.left: dict[str, int] = {}
        self.issued = 0

    def __call__(self, h: Handler) -> bool:
        if h.path.startswith("/token"):
            self.issued += 1
            token = f"tok{self.issued}"
            self.left[token] = self.uses[min(self.issued, len(self.uses)) - 1]
            h.reply(
                200, json.dumps({"token": token}).encode(), {"Content-Type": "application/json"}
            )
            return True
        if not h.path.startswith("/v2/x/y/"):
            return False
        auth = h.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ")
        if not auth.startswith("Bearer ") or self.left.get(token, 0) <= 0:
            h.reply(
                401,
                b'{"errors":[{"code":"UNAUTHORIZED"}]}',
                {
                    "WWW-Authenticate": f'Bearer realm="http://{self.server.host}/token",'
                    'service="hostile",scope="repository:x/y:pull"'
                },
            )
            return True
        self.left[token] -= 1
        return False


@pytest.mark.parametrize("keep", [True, False])
def test_expired_token_is_refreshed_once(
    server: HostileRegistry,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    workdir: Path,
    keep: bool,
) -> None:
    set_registries(workdir, retries=2, timeout=2, keep_layers=keep)
    issuer = TokenIssuer(server, [2, 100])  # the manifest and the config use up the first
    server.behaviour = issuer
    code, err = run(server.ref, tmp_path / "cache", capsys)
    assert code == 0, err
    layers = len(server.image.blobs)
    # kept, every blob downloads here, and one refresh serves them all; not kept, each
    # layer's blob is fetched by the worker analysing it, which starts from the token
    # the pull was granted and refreshes it once for itself
    assert issuer.issued == (2 if keep else 1 + layers)


def test_token_expiring_again_fails(
    server: HostileRegistry, tmp_path: Path, capsys: pytest.CaptureFixture[str], workdir: Path
) -> None:
    set_registries(workdir, retries=2, timeout=2, keep_layers=True)
    issuer = TokenIssuer(server, [1])  # every token works once
    server.behaviour = issuer
    cached = fails(
        server.ref, tmp_path, capsys, r"x/y: authentication required or refused \(HTTP 401\)"
    )
    assert issuer.issued == 2  # the first token and exactly one refresh, for all downloads
    assert server.image.manifest_digest in cached


def test_a_worker_refused_its_layer_gives_up_after_one_new_token(
    server: HostileRegistry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A layer fetched by its worker (not kept) that the registry refuses whatever the
    token: the worker asks for one new token, then the scan fails with the refusal."""
    issuer = TokenIssuer(server, [100])
    layers = {sha256(b) for b in server.image.blobs}

    def refusing(h: Handler) -> bool:
        if any(h.path.endswith(d) for d in layers):
            h.reply(
                401,
                b'{"errors":[{"code":"DENIED"}]}',
                {
                    "WWW-Authenticate": f'Bearer realm="http://{server.host}/token",'
                    'service="hostile",scope="repository:x/y:pull"'
                },
            )
            return True
        return issuer(h)

    server.behaviour = refusing
    cached = fails(
        server.ref, tmp_path, capsys, r"x/y: authentication required or refused \(HTTP 401\)"
    )
    assert issuer.issued == 1 + len(layers)
    assert not layers & cached


def test_backoff_delays() -> None:
    from email.utils import formatdate

    assert [registry_client.backoff_delay(n) for n in range(4)] == [0.5, 1.0, 2.0, 4.0]
    assert registry_client.backoff_delay(10) == 30.0  # capped
    assert registry_client.backoff_delay(0, "2") == 2.0
    assert registry_client.backoff_delay(0, "86400") == 30.0
    soon = registry_client.backoff_delay(0, formatdate(time.time() + 10, usegmt=True))
    assert 8 <= soon <= 10
    assert registry_client.backoff_delay(1, "garbage") == 1.0


# -- layers fetched by their readers -------------------------------------------------------


def test_a_layer_its_reader_fetches_is_hashed_once_and_never_stored(
    server: HostileRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not kept, each layer's blob is fetched by its reader on a connection of its own
    (here this process: one worker), hashed once (the inflated bytes, against the
    diff-id), and written nowhere; only the manifest and config are cached."""
    from hullscan.inventory import default_analyzers
    from hullscan.pipeline import ScanOptions, analyze_layers, build_inventory
    from hullscan.sources.registry import open_registry
    from hullscan.sources.registry_settings import RegistrySettings
    from hullscan.streams import Limits

    fed = count_sha256(monkeypatch)
    settings = RegistrySettings()
    cache = tmp_path / "cache"
    img = open_registry(server.ref, None, Limits(), cache / "registry", settings, defer_layers=True)
    try:
        analyses = analyze_layers(
            img, default_analyzers(), ScanOptions(cache_dir=cache, workers=1, registry=settings)
        )
    finally:
        img.close()
    found = {(p.name, p.version) for p in build_inventory(img, analyses).packages}
    assert ("requests", "2.31.0") in found
    image = server.image
    assert image.compression == "gzip"
    assert sum(fed) == sum(map(len, image.layers)) + len(image.config) + len(image.manifest)
    assert all(server.count(sha256(b)) == 1 for b in image.blobs)
    assert cached_blobs(cache) == {image.manifest_digest, image.config_digest}
    assert not list((cache / "registry").rglob("pipes-*"))


def test_a_plain_http_pull_loads_no_cas_and_no_httpcore(
    server: HostileRegistry, tmp_path: Path
) -> None:
    """A loopback registry speaking plain http (no token asked): the TLS probe loads no
    CAs, the client loads them only once TLS is spoken, and httpx's own transport (and
    httpcore with it) is made only for a request http.client does not send."""
    import subprocess
    import sys

    script = f"""
import sys
from pathlib import Path
from hullscan.sources import registry_client
from hullscan.sources.registry import open_registry
from hullscan.streams import Limits
img = open_registry({server.ref!r}, None, Limits(), Path({str(tmp_path)!r}), defer_layers=True)
img.layer_ready(0)
img.close()
print(registry_client._shared_context.cache_info().currsize, "httpcore" in sys.modules)
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.split() == ["0", "False"], done.stderr
    assert server.count("/blobs/") == 2  # the config and layer 0: it did pull
