"""Pulling from a real OCI Distribution registry (Debian's ``docker-registry``) on 127.0.0.1.

The image is built in code, pushed with skopeo, then pulled by hullscan. Skips without
``/usr/bin/docker-registry`` (``bash scripts/registry.sh`` installs it) or skopeo.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from hullscan.cli import main
from hullscan.cli.registry import RegistryFlags, registry_settings
from hullscan.errors import HullscanError, ImageError
from hullscan.pipeline import ScanOptions, inventory
from hullscan.references import mirrors_for, parse_reference
from hullscan.settings import Settings
from hullscan.sources import Image, Platform, registry_client
from hullscan.sources.registry import open_registry
from hullscan.sources.registry_client import ACCEPT
from hullscan.sources.registry_settings import RegistrySettings
from hullscan.streams import Limits

from conftest import corpus_image
from imagebuilder import (
    BuiltImage,
    build,
    debian_base,
    file,
    manifest_descriptor,
    python_dist,
    sha256,
    write_image_blobs,
    write_index_blob,
    write_oci,
    write_oci_index,
)
from localregistry import (
    PASSWORD,
    REF_NAME,
    REGISTRY,
    SKOPEO,
    USER,
    LocalCA,
    free_port,
    make_ca,
    needs_registry,
    push,
    start_registry,
    stop_registry,
)


@pytest.fixture(scope="module")
def image() -> BuiltImage:
    return build([debian_base(), [python_dist("requests", "2.31.0")]])


@pytest.fixture(scope="module")
def layout(tmp_path_factory: pytest.TempPathFactory, image: BuiltImage) -> Path:
    return write_oci(
        [(image, {"annotations": {REF_NAME: "1"}})], tmp_path_factory.mktemp("layout") / "oci"
    )


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory, layout: Path) -> Iterator[str]:
    if not os.access(REGISTRY, os.X_OK) or SKOPEO is None:
        pytest.skip("needs /usr/bin/docker-registry (bash scripts/registry.sh) and skopeo")
    reg = start_registry(tmp_path_factory.mktemp("registry"))
    try:
        push(layout, "1", f"{reg.host}/test/app:1")
        yield reg.host
    finally:
        stop_registry(reg)


class Counter:
    def __init__(self) -> None:
        self.paths: list[str] = []

    def hooks(self) -> dict[str, list[Any]]:
        return {"request": [lambda r: self.paths.append(r.url.path)]}

    @property
    def blobs(self) -> list[str]:
        return [p for p in self.paths if "/blobs/" in p]


def pull(
    ref: str,
    cache: Path,
    transport: httpx.BaseTransport | None = None,
    event_hooks: dict[str, list[Any]] | None = None,
    **settings: Any,
) -> Image:
    return open_registry(
        ref,
        None,
        Limits(),
        cache,
        RegistrySettings(**settings),
        transport=transport,
        event_hooks=event_hooks,
    )


def package_names(
    ref: str, tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> set[tuple[str, str]]:
    """Through the whole pipeline: registry references open through open_image."""
    del cache, monkeypatch  # the pipeline keeps registry blobs under its own cache dir
    inv = inventory(ref, ScanOptions(cache_dir=tmp_path / "scan-cache", workers=1))
    return {(p.name, p.version) for p in inv.packages}


# -- references (no registry needed) -------------------------------------------------------


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("debian:12", ("registry-1.docker.io", "library/debian", "12", None)),
        ("debian", ("registry-1.docker.io", "library/debian", "latest", None)),
        (
            "registry:docker.io/grafana/grafana",
            ("registry-1.docker.io", "grafana/grafana", "latest", None),
        ),
        ("registry:127.0.0.1:5000/test/app:1", ("127.0.0.1:5000", "test/app", "1", None)),
        (
            "registry:localhost/a/b@sha256:" + "a" * 64,
            ("localhost", "a/b", None, "sha256:" + "a" * 64),
        ),
        ("registry:ghcr.io/o/r:v1.2", ("ghcr.io", "o/r", "v1.2", None)),
    ],
)
def test_parse_reference(ref: str, expected: tuple[str, str, str | None, str | None]) -> None:
    r = parse_reference(ref)
    assert (r.host, r.repository, r.tag, r.digest) == expected


@pytest.mark.parametrize(
    "ref", ["registry:h.io/UPPER:1", "registry:h.io/a@sha256:zz", "registry:h.io/a:bad tag"]
)
def test_parse_reference_rejects(ref: str) -> None:
    with pytest.raises(ImageError):
        parse_reference(ref)


def test_plain_http_refused_for_remote_hosts(tmp_path: Path) -> None:
    """A non-loopback host not in ``insecure`` is spoken to over https only."""
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(404)

    with pytest.raises(ImageError, match="not found"):
        pull("registry:example.test/a/b:1", tmp_path, transport=httpx.MockTransport(handler))
    assert seen and all(u.startswith("https://") for u in seen)
    seen.clear()

    def plain_only(request: httpx.Request) -> httpx.Response:
        if request.url.scheme == "https":
            raise httpx.ConnectError("[SSL: WRONG_VERSION_NUMBER] wrong version number")
        return handler(request)

    with pytest.raises(ImageError):
        pull(
            "registry:example.test/a/b:1",
            tmp_path,
            insecure=frozenset({"example.test"}),
            transport=httpx.MockTransport(plain_only),
        )
    # an insecure registry is asked over https first, then spoken to over plain http
    assert seen and all(u.startswith("http://") for u in seen)
    seen.clear()
    with pytest.raises(ImageError):
        pull(
            "registry:example.test/a/b:1",
            tmp_path,
            insecure=frozenset({"example.test"}),
            transport=httpx.MockTransport(handler),
        )
    # ... unless it speaks TLS
    assert seen and all(u.startswith("https://") for u in seen)


def test_redirect_to_plain_http_refused(tmp_path: Path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(302, headers={"Location": "http://evil.test/x"})

    with pytest.raises(HullscanError, match="refusing a plain-http"):
        pull("registry:example.test/a/b:1", tmp_path, transport=httpx.MockTransport(handler))


def test_redirect_loop_stops(tmp_path: Path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(302, headers={"Location": str(request.url)})

    with pytest.raises(HullscanError, match="redirects"):
        pull("registry:example.test/a/b:1", tmp_path, transport=httpx.MockTransport(handler))


def test_bearer_token_flow_and_no_credentials_in_errors(tmp_path: Path) -> None:
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if request.url.host == "auth.test":
            assert request.url.params["scope"] == "repository:a/b:pull"
            assert request.url.params["service"] == "reg"
            assert request.headers["Authorization"].startswith("Basic ")
            return httpx.Response(200, json={"access_token": "tok123"})
        if request.headers.get("Authorization") != "Bearer tok123":
            return httpx.Response(
                401,
                headers={
                    "WWW-Authenticate": 'Bearer realm="https://auth.test/token",service="reg",'
                    'scope="repository:a/b:pull"'
                },
            )
        return httpx.Response(403)

    with pytest.raises(ImageError, match="access denied") as err:
        pull(
            "registry:example.test/a/b:1",
            tmp_path,
            username="u",
            password="hunter2",
            transport=httpx.MockTransport(handler),
        )
    assert "hunter2" not in str(err.value) and "tok123" not in str(err.value)
    assert "example.test/a/b" in str(err.value)
    assert [c.url.host for c in calls] == ["example.test", "auth.test", "example.test"]


def test_schema1_refused(tmp_path: Path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200,
            json={"schemaVersion": 1, "name": "a/b", "fsLayers": []},
            headers={"Content-Type": "application/vnd.docker.distribution.manifest.v1+prettyjws"},
        )

    with pytest.raises(ImageError, match="schema 1"):
        pull("registry:example.test/a/b:1", tmp_path, transport=httpx.MockTransport(handler))


def _serving(
    image: BuiltImage, hold: threading.Event | None = None, corrupt: frozenset[str] = frozenset()
) -> httpx.MockTransport:
    """A registry of one image; the last layer's blob waits for ``hold``, and the blobs
    named in ``corrupt`` arrive with their size but wrong bytes."""
    blobs = {sha256(b): b for b in [image.config, *image.blobs]}
    last = sha256(image.blobs[-1])

    def handler(request: httpx.Request) -> httpx.Response:
        if "/manifests/" in request.url.path:
            return httpx.Response(
                200,
                content=image.manifest,
                headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"},
            )
        digest = request.url.path.rsplit("/", 1)[1]
        data = blobs[digest]
        if digest == last and hold is not None:
            assert hold.wait(30)
        if digest in corrupt:
            data = data[:-1] + bytes([data[-1] ^ 1])
        return httpx.Response(200, content=data)

    return httpx.MockTransport(handler)


def test_corrupt_blob_not_cached(tmp_path: Path, image: BuiltImage) -> None:
    layers = frozenset(sha256(b) for b in image.blobs)
    with pytest.raises(ImageError, match="digest mismatch"):
        pull("registry:example.test/a/b:1", tmp_path, transport=_serving(image, corrupt=layers))
    cached = sorted(p.name for p in (tmp_path / "blobs" / "sha256").iterdir())
    # the manifest and the config verified; the corrupt layer left nothing behind
    assert cached == sorted([image.manifest_digest[7:], image.config_digest[7:]])


def test_deferred_pull_hands_out_layers_as_they_arrive(tmp_path: Path, image: BuiltImage) -> None:
    hold = threading.Event()
    img = open_registry(
        "registry:example.test/a/b:1",
        None,
        Limits(),
        tmp_path,
        transport=_serving(image, hold),
        defer_layers=True,
    )
    try:
        img.layer_ready(0)  # the first layer is here while the last one is held back
        assert (tmp_path / "blobs" / "sha256" / sha256(image.blobs[0])[7:]).exists()
        assert not (tmp_path / "blobs" / "sha256" / sha256(image.blobs[-1])[7:]).exists()
        hold.set()
        img.layer_ready(len(image.blobs) - 1)
    finally:
        img.close()
    # blobs hashed on their way in are marked so (not hashed again); their diff-ids still
    # are, unless the layer is uncompressed (its blob digest is then the diff-id)
    assert [getattr(s, "digest", "") for s in img.layer_sources] == [sha256(b) for b in image.blobs]
    assert [getattr(s, "verified", None) for s in img.layer_sources] == [True] * len(image.blobs)
    assert all(getattr(s, "diff_id", None) for s in img.layer_sources)
    again = open_registry(
        "registry:example.test/a/b:1",
        None,
        Limits(),
        tmp_path,
        transport=_serving(image),
        defer_layers=True,
    )
    again.close()
    # blobs that were already in the cache are verified again when read
    assert [getattr(s, "digest", "") for s in again.layer_sources] == [
        sha256(b) for b in image.blobs
    ]
    assert not any(getattr(s, "verified", True) for s in again.layer_sources)


def test_deferred_pull_of_a_corrupt_layer_fails_and_keeps_nothing(
    tmp_path: Path, image: BuiltImage
) -> None:
    img = open_registry(
        "registry:example.test/a/b:1",
        None,
        Limits(),
        tmp_path,
        transport=_serving(image, corrupt=frozenset({sha256(image.blobs[-1])})),
        defer_layers=True,
    )
    try:
        with pytest.raises(ImageError, match="digest mismatch"):
            img.layer_ready(len(image.blobs) - 1)
    finally:
        img.close()
    assert not (tmp_path / "blobs" / "sha256" / sha256(image.blobs[-1])[7:]).exists()
    assert not list((tmp_path / "blobs" / "sha256").glob("*.partial"))


# -- against a real registry ---------------------------------------------------------------


@needs_registry
def test_pull_by_tag_matches_layout(
    registry: str, layout: Path, image: BuiltImage, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    img = pull(f"registry:{registry}/test/app:1", cache)
    assert img.transport == "registry"
    assert img.config_digest == image.config_digest
    assert [x.diff_id for x in img.layers] == [sha256(t) for t in image.layers]
    assert img.repo_tags == (f"{registry}/test/app:1",)
    from_registry = package_names(f"registry:{registry}/test/app:1", tmp_path, cache, monkeypatch)
    from_layout = package_names(f"oci:{layout}:1", tmp_path, cache, monkeypatch)
    assert from_registry == from_layout
    assert ("requests", "2.31.0") in from_registry
    assert not list((cache / "blobs" / "sha256").glob("*.partial"))


@needs_registry
def test_pull_analyzed_by_worker_processes_as_blobs_arrive(registry: str, tmp_path: Path) -> None:
    """Workers are forked before the download threads start; each layer is analyzed once
    its blob is in; a rescan with every layer's analysis cached fetches no blob."""
    ref = f"registry:{registry}/test/app:1"
    one = inventory(ref, ScanOptions(cache_dir=tmp_path / "a", workers=1))
    two = inventory(ref, ScanOptions(cache_dir=tmp_path / "b", workers=2))
    assert [(p.name, p.version) for p in two.packages] == [
        (p.name, p.version) for p in one.packages
    ]
    blobs = tmp_path / "b" / "registry" / "blobs" / "sha256"
    for blob in blobs.iterdir():
        if blob.stat().st_size > 4096:  # the layers (not the manifest or config)
            blob.unlink()
    again = inventory(ref, ScanOptions(cache_dir=tmp_path / "b", workers=2))
    assert again.packages == two.packages
    assert not [b for b in blobs.iterdir() if b.stat().st_size > 4096]


@needs_registry
def test_pull_by_digest(registry: str, image: BuiltImage, tmp_path: Path) -> None:
    by_tag = pull(f"registry:{registry}/test/app:1", tmp_path / "a")
    assert by_tag.manifest_digest is not None
    img = pull(f"registry:{registry}/test/app@{by_tag.manifest_digest}", tmp_path / "b")
    assert img.manifest_digest == by_tag.manifest_digest
    assert img.config_digest == image.config_digest
    assert img.repo_tags == ()


@needs_registry
def test_repull_downloads_nothing(registry: str, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first = Counter()
    pull(f"registry:{registry}/test/app:1", cache, event_hooks=first.hooks())
    assert len(first.blobs) == 3  # config + 2 layers
    mtimes = {p: p.stat().st_mtime_ns for p in cache.rglob("*") if p.is_file()}
    again = Counter()
    img = pull(f"registry:{registry}/test/app:1", cache, event_hooks=again.hooks())
    assert again.blobs == []
    assert [p for p in again.paths if "/manifests/" in p] == ["/v2/test/app/manifests/1"]
    assert {p: p.stat().st_mtime_ns for p in cache.rglob("*") if p.is_file()} == mtimes
    assert len(img.layer_sources) == 2


@needs_registry
def test_wrong_digest_fails(registry: str, tmp_path: Path) -> None:
    wrong = "sha256:" + "0" * 64
    with pytest.raises(ImageError, match="not found"):
        pull(f"registry:{registry}/test/app@{wrong}", tmp_path)
    # a real manifest fetched under a digest it does not have: refused
    other = pull(f"registry:{registry}/test/app:1", tmp_path / "c").manifest_digest
    assert other is not None

    def handler(request: httpx.Request) -> httpx.Response:
        resp = httpx.get(
            f"http://{registry}{request.url.path.replace(wrong, other)}",
            headers=dict(request.headers),
        )
        return httpx.Response(
            resp.status_code,
            content=resp.content,
            headers={"Content-Type": resp.headers.get("Content-Type", "")},
        )

    with pytest.raises(ImageError, match="digest mismatch"):
        pull(
            f"registry:{registry}/test/app@{wrong}",
            tmp_path / "d",
            transport=httpx.MockTransport(handler),
        )


@needs_registry
def test_missing_tag_and_repo_404(registry: str, tmp_path: Path) -> None:
    with pytest.raises(ImageError, match=r"test/app: manifest nope not found \(HTTP 404\)"):
        pull(f"registry:{registry}/test/app:nope", tmp_path)
    with pytest.raises(ImageError, match=r"test/missing: manifest 1 not found"):
        pull(f"registry:{registry}/test/missing:1", tmp_path)


@needs_registry
def test_pull_index_picks_the_platform(registry: str, tmp_path: Path) -> None:
    """A multi-platform index (nested one level) resolves like an OCI layout's."""
    imgs = {
        arch: build([[file(f"etc/{arch}-marker", arch)]], arch=arch) for arch in ("amd64", "arm64")
    }
    root = tmp_path / "multi"
    for img in imgs.values():
        write_image_blobs(root, img)
    index = write_index_blob(
        root,
        [
            manifest_descriptor(img, platform={"os": "linux", "architecture": arch})
            for arch, img in imgs.items()
        ],
        annotations={REF_NAME: "multi"},
    )
    write_oci_index(root, [index])
    assert SKOPEO is not None
    done = subprocess.run(
        [
            SKOPEO,
            "--insecure-policy",
            "copy",
            "--quiet",
            "--multi-arch",
            "all",
            "--dest-tls-verify=false",
            f"oci:{root}:multi",
            f"docker://{registry}/test/multi:2",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    cache = tmp_path / "cache"
    for arch, img in imgs.items():
        got = open_registry(
            f"registry:{registry}/test/multi:2", Platform("linux", arch), Limits(), cache
        )
        assert got.manifest_digest == img.manifest_digest
        assert got.config_digest == img.config_digest
    with pytest.raises(ImageError, match="no image for platform linux/s390x"):
        open_registry(
            f"registry:{registry}/test/multi:2", Platform("linux", "s390x"), Limits(), cache
        )


@needs_registry
def test_htpasswd_basic_auth(
    tmp_path_factory: pytest.TempPathFactory, layout: Path, tmp_path: Path
) -> None:
    crypt = pytest.importorskip("crypt")  # bcrypt via the C library (libxcrypt)
    hashed = crypt.crypt(PASSWORD, crypt.mksalt(crypt.METHOD_BLOWFISH))
    if not hashed or not hashed.startswith("$2"):
        pytest.skip("the C library's crypt() has no bcrypt")
    root = tmp_path_factory.mktemp("authreg")
    (root / "htpasswd").write_text(f"{USER}:{hashed}\n")
    reg = start_registry(
        root, {"htpasswd": {"realm": "hullscan-test", "path": str(root / "htpasswd")}}
    )
    try:
        push(layout, "1", f"{reg.host}/test/app:1", creds=f"{USER}:{PASSWORD}")
        with pytest.raises(ImageError, match="HTTP 401"):
            pull(f"registry:{reg.host}/test/app:1", tmp_path / "anon")
        with pytest.raises(ImageError, match="HTTP 401") as err:
            pull(
                f"registry:{reg.host}/test/app:1",
                tmp_path / "bad",
                username=USER,
                password="wrong-pw-xyz",
            )
        assert "wrong-pw-xyz" not in str(err.value)
        img = pull(
            f"registry:{reg.host}/test/app:1", tmp_path / "ok", username=USER, password=PASSWORD
        )
        assert len(img.layer_sources) == 2
    finally:
        stop_registry(reg)


# -- TLS -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls_registry(
    tmp_path_factory: pytest.TempPathFactory, layout: Path
) -> Iterator[tuple[str, LocalCA]]:
    if not os.access(REGISTRY, os.X_OK) or SKOPEO is None:
        pytest.skip("needs /usr/bin/docker-registry (bash scripts/registry.sh) and skopeo")
    root = tmp_path_factory.mktemp("tlsreg")
    ca = make_ca(root / "pki")
    reg = start_registry(root, tls=ca)
    try:
        push(layout, "1", f"{reg.host}/test/app:1")
        yield reg.host, ca
    finally:
        stop_registry(reg)


def cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    out = capsys.readouterr()
    return code, out.out, out.err


@needs_registry
def test_tls_registry_needs_its_ca(
    tls_registry: tuple[str, LocalCA],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    host, ca = tls_registry
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HULLSCAN_CA_CERT", raising=False)
    ref = f"registry:{host}/test/app:1"
    code, _, err = cli(["sbom", ref, "--cache-dir", str(tmp_path / "c1"), "-q"], capsys)
    assert code == 2
    assert len(err.strip().splitlines()) == 1
    assert re.search(
        rf"hullscan: error: {re.escape(host)}: TLS certificate verify failed"
        r".*--ca-cert",
        err,
    ), err
    assert not list((tmp_path / "c1").rglob("sha256/*"))
    # a loopback registry speaking TLS is spoken to over TLS, never downgraded
    counter = Counter()
    schemes: list[str] = []
    img = pull(
        ref,
        tmp_path / "c2",
        ca_bundle=ca.ca,
        event_hooks={
            "request": [lambda r: schemes.append(r.url.scheme), *counter.hooks()["request"]]
        },
    )
    assert img.config_digest is not None and len(img.layer_sources) == 2
    assert set(schemes) == {"https"} and len(counter.blobs) == 3
    code, out, err = cli(
        ["sbom", ref, "--cache-dir", str(tmp_path / "c3"), "-q", "--ca-cert", str(ca.ca)], capsys
    )
    assert code == 0, err
    assert "requests" in out


def test_ca_bundle_must_be_pem(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pem"
    bad.write_text("not a certificate")
    with pytest.raises(HullscanError, match="not a readable PEM CA bundle"):
        pull("registry:example.test/a/b:1", tmp_path, ca_bundle=bad)


# -- mirrors and the default registry ------------------------------------------------------


@pytest.fixture(scope="module")
def empty_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not os.access(REGISTRY, os.X_OK) or SKOPEO is None:
        pytest.skip("needs /usr/bin/docker-registry (bash scripts/registry.sh) and skopeo")
    reg = start_registry(tmp_path_factory.mktemp("emptyreg"))
    try:
        yield reg.host
    finally:
        stop_registry(reg)


def dead_host() -> str:
    return f"127.0.0.1:{free_port()}"


class HostCounter:
    def __init__(self) -> None:
        self.requests: list[tuple[str, str]] = []

    def hooks(self) -> dict[str, list[Any]]:
        return {
            "request": [lambda r: self.requests.append((f"{r.url.host}:{r.url.port}", r.url.path))]
        }

    @property
    def hosts(self) -> list[str]:
        return [h for h, _ in self.requests]


@needs_registry
def test_mirror_serves_what_the_origin_lacks(
    registry: str, empty_registry: str, image: BuiltImage, tmp_path: Path
) -> None:
    seen = HostCounter()
    img = pull(
        f"registry:{empty_registry}/test/app:1",
        tmp_path,
        mirrors={empty_registry: (registry,)},
        event_hooks=seen.hooks(),
    )
    assert img.config_digest == image.config_digest
    assert img.repo_tags == (f"{empty_registry}/test/app:1",)  # the name asked for
    assert img.ref == f"registry:{empty_registry}/test/app:1"
    assert set(seen.hosts) == {registry}  # the origin was never asked


@needs_registry
def test_mirror_while_the_origin_is_down(registry: str, image: BuiltImage, tmp_path: Path) -> None:
    origin = dead_host()
    img = pull(f"registry:{origin}/test/app:1", tmp_path, mirrors={origin: (registry,)}, retries=0)
    assert img.config_digest == image.config_digest
    assert img.repo_tags == (f"{origin}/test/app:1",)


@needs_registry
def test_mirror_without_the_image_falls_back(
    registry: str,
    empty_registry: str,
    image: BuiltImage,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(registry_client, "_sleep", lambda s: None)
    for mirrors in [(empty_registry,), (dead_host(), empty_registry)]:
        seen = HostCounter()
        img = pull(
            f"registry:{registry}/test/app:1",
            tmp_path / str(len(mirrors)),
            mirrors={registry: mirrors},
            event_hooks=seen.hooks(),
            retries=1,
        )
        assert img.config_digest == image.config_digest
        assert img.repo_tags == (f"{registry}/test/app:1",)
        # each mirror in turn, then the origin; every blob from the origin
        assert seen.hosts[0] == mirrors[0]
        firsts = [h for i, h in enumerate(seen.hosts) if h not in seen.hosts[:i]]
        assert firsts == [*mirrors, registry]
        assert {h for h, path in seen.requests if "/blobs/" in path} == {registry}


@needs_registry
def test_mirror_digests_are_verified(registry: str, empty_registry: str, tmp_path: Path) -> None:
    """A mirror serving another image under the requested digest is refused, and the
    origin is not asked to paper over it."""
    by_tag = pull(f"registry:{registry}/test/app:1", tmp_path / "a")
    assert by_tag.manifest_digest is not None
    wrong = "sha256:" + "f" * 64
    hosts: set[str] = set()

    def handler(request: httpx.Request) -> httpx.Response:
        assert by_tag.manifest_digest is not None
        hosts.add(request.url.host)
        path = request.url.path.replace(wrong, by_tag.manifest_digest)
        resp = httpx.get(f"http://{registry}{path}", headers={"Accept": ACCEPT})
        return httpx.Response(
            resp.status_code,
            content=resp.content,
            headers={"Content-Type": resp.headers.get("Content-Type", "")},
        )

    with pytest.raises(ImageError, match="digest mismatch"):
        pull(
            f"registry:{empty_registry}/test/app@{wrong}",
            tmp_path / "b",
            mirrors={empty_registry: ("mirror.example.test",)},
            transport=httpx.MockTransport(handler),
        )
    assert hosts == {"mirror.example.test"}


@pytest.mark.parametrize(
    ("ref", "default", "expected"),
    [
        ("debian:12", "docker.io", ("registry-1.docker.io", "library/debian", "12")),
        ("debian:12", "127.0.0.1:5000", ("127.0.0.1:5000", "debian", "12")),
        ("org/app", "mirror.example.test", ("mirror.example.test", "org/app", "latest")),
        (
            "debian",
            "https://index.docker.io/",
            ("registry-1.docker.io", "library/debian", "latest"),
        ),
        ("ghcr.io/o/r:1", "127.0.0.1:5000", ("ghcr.io", "o/r", "1")),
    ],
)
def test_parse_reference_default_registry(
    ref: str, default: str, expected: tuple[str, str, str]
) -> None:
    r = parse_reference(ref, default)
    assert (r.host, r.repository, r.tag) == expected


def test_mirrors_for_docker_hub() -> None:
    settings = RegistrySettings(
        mirrors={"docker.io": ("https://mirror.example.test/", "m2.test:5000")}
    )
    assert mirrors_for("registry-1.docker.io", settings.mirrors) == [
        "mirror.example.test",
        "m2.test:5000",
    ]
    assert mirrors_for("ghcr.io", settings.mirrors) == []


@needs_registry
def test_settings_file_default_registry_and_mirrors(
    registry: str,
    empty_registry: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """hullscan.yaml: a bare name goes to ``registries.default``, through its mirror."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "hullscan.yaml").write_text(
        json.dumps(
            {
                "registries": {
                    "default": empty_registry,
                    "mirrors": {empty_registry: [registry]},
                    "retries": 1,
                    "timeout": 30,
                }
            }
        )
    )
    code, out, err = cli(
        ["sbom", "test/app:1", "--cache-dir", str(tmp_path / "c"), "-q", "-f", "json"], capsys
    )
    assert code == 0, err
    assert "requests" in out
    code, _, err = cli(["sbom", "test/nothing:1", "--cache-dir", str(tmp_path / "c"), "-q"], capsys)
    assert code == 2
    assert f"{empty_registry}/test/nothing: manifest 1 not found" in err


def test_settings_file_validation(tmp_path: Path) -> None:
    flags = RegistryFlags()
    s = registry_settings(
        flags,
        Settings.from_mapping(
            {
                "registries": {
                    "default": "registry.example.test:5000",
                    "insecure": ["a.test"],
                    "mirrors": {"docker.io": ["https://mirror.example.test"]},
                    "retries": 0,
                    "timeout": 2.5,
                }
            }
        ),
    )
    assert s.default_registry == "registry.example.test:5000"
    assert s.mirrors == {"docker.io": ("https://mirror.example.test",)}
    assert (s.retries, s.timeout, s.insecure) == (0, 2.5, frozenset({"a.test"}))
    for bad, message in [
        ({"default": "no spaces allowed"}, "registries.default"),
        ({"mirrors": {"docker.io": ["bad host/x"]}}, "registries.mirrors"),
        ({"retries": 11}, "retries"),
        ({"timeout": 0}, "timeout"),
    ]:
        with pytest.raises(HullscanError, match=message):
            Settings.from_mapping({"registries": bad})


# -- the corpus through a registry ---------------------------------------------------------


@pytest.mark.corpus
@needs_registry
def test_corpus_image_through_the_registry(tmp_path_factory: pytest.TempPathFactory) -> None:
    """The same packages from the registry as from the docker archive it was pushed from."""
    archive = corpus_image("app-python") / "docker-archive.tar"
    root = tmp_path_factory.mktemp("corpusreg")
    reg = start_registry(root)
    try:
        assert SKOPEO is not None
        done = subprocess.run(
            [
                SKOPEO,
                "--insecure-policy",
                "copy",
                "--quiet",
                "--dest-tls-verify=false",
                f"docker-archive:{archive}",
                f"docker://{reg.host}/corpus/app-python:1",
            ],
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, done.stderr
        from_registry = inventory(
            f"registry:{reg.host}/corpus/app-python:1",
            ScanOptions(cache_dir=root / "cache-registry"),
        )
    finally:
        stop_registry(reg)
    from_archive = inventory(
        f"docker-archive:{archive}", ScanOptions(cache_dir=root / "cache-archive")
    )

    def packages(inv: Any) -> set[tuple[str, str, str, str | None]]:
        return {(p.name, p.version, str(p.type), p.purl) for p in inv.packages}

    got, want = packages(from_registry), packages(from_archive)
    assert len(want) > 100
    assert got == want
    assert [x.diff_id for x in from_registry.image.layers] == [
        x.diff_id for x in from_archive.image.layers
    ]


def test_token_realm_that_is_not_a_url(tmp_path: Path) -> None:
    """Found by fuzzing: a realm with a control character made httpx raise InvalidURL,
    which escaped as a traceback."""

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, headers={"WWW-Authenticate": b'Bearer realm="htt\x01p://x"'})

    with pytest.raises(ImageError, match=r"token realm .* is not a URL"):
        pull("registry:example.test/a/b:1", tmp_path, transport=httpx.MockTransport(handler))
