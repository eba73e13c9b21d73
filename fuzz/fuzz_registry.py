"""Fuzz what a registry answers during a pull: the manifest (or index) and its headers,
the authentication challenge and the token, the config and layer blobs.

The registry is an in-process ``httpx.MockTransport`` serving one small real image; the
input replaces one of its answers. ``data[0]`` picks which (``PARTS``), ``data[1]`` the
status code, and the rest is that answer's header value and body, split at ``SEP``.

Checked: only ``HullscanError`` escapes; the blob cache holds only complete blobs whose
content matches their name (no ``.partial`` left behind); a blob whose bytes differ from
its digest is refused.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

from contract import (
    SEP,
    ContractViolation,
    expect,
    instrumented,
    main,
    mutate,
    os_release_layer,
    scratch_dir,
)

with instrumented():
    import httpx

    from hullscan.errors import HullscanError
    from hullscan.sources import registry_client
    from hullscan.sources.interface import sha256_digest
    from hullscan.sources.registry import open_registry
    from hullscan.sources.registry_settings import RegistrySettings
    from hullscan.streams import Limits

PARTS = (
    "manifest",
    "manifest-headers",
    "token",
    "config",
    "layer",
    "index",
    "config-mutated",
    "layer-mutated",
)
STATUSES = (200, 200, 200, 200, 401, 404, 429, 500, 307, 206, 204, 403)
ROOT = scratch_dir("registry")
CACHE = ROOT / "cache"
SETTINGS = RegistrySettings(retries=0, timeout=5.0, docker_config=ROOT / "docker")
LIMITS = Limits(max_json_bytes=256 * 1024, max_layer_bytes=1 << 20)
REF = "registry:registry.fuzz.test/team/app:1"
# loading the system CAs costs 0.2 s per client; the mock transport never uses TLS, so one
# context serves every input (5 executions a second become hundreds)
_SSL = registry_client.ssl_context(SETTINGS)
registry_client.ssl_context = lambda settings: _SSL  # type: ignore[assignment]
MEDIA_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_INDEX = "application/vnd.oci.image.index.v1+json"


LAYER = os_release_layer()
CONFIG = json.dumps(
    {
        "architecture": "amd64",
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [sha256_digest(LAYER)]},
        "history": [{"created_by": "COPY os-release /etc/"}],
    }
).encode()
MANIFEST = json.dumps(
    {
        "schemaVersion": 2,
        "mediaType": MEDIA_MANIFEST,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": sha256_digest(CONFIG),
            "size": len(CONFIG),
        },
        "layers": [
            {
                "mediaType": "application/vnd.oci.image.layer.v1.tar",
                "digest": sha256_digest(LAYER),
                "size": len(LAYER),
            }
        ],
    }
).encode()
INDEX = json.dumps(
    {
        "schemaVersion": 2,
        "mediaType": MEDIA_INDEX,
        "manifests": [
            {
                "mediaType": MEDIA_MANIFEST,
                "digest": sha256_digest(MANIFEST),
                "size": len(MANIFEST),
                "platform": {"architecture": "amd64", "os": "linux"},
            }
        ],
    }
).encode()
BLOBS = {sha256_digest(b): b for b in (LAYER, CONFIG, MANIFEST)}


def _handler(part: str, status: int, header: bytes, body: bytes) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/token":
            return httpx.Response(status, content=body)
        if part == "token" and "authorization" not in request.headers and path != "/v2/":
            return httpx.Response(401, headers={"WWW-Authenticate": header})
        if path == "/v2/":
            return httpx.Response(200)
        what = path.rsplit("/", 1)[-1]
        if "/manifests/" in path:
            if part in ("manifest", "manifest-headers", "index") and what == "1":
                content = body if part != "manifest-headers" else MANIFEST
                media = (
                    header
                    if part == "manifest-headers"
                    else (MEDIA_INDEX if part == "index" else MEDIA_MANIFEST).encode()
                )
                headers = {"Content-Type": media}
                if part == "manifest-headers" and body:
                    headers["Docker-Content-Digest"] = body
                return httpx.Response(status, headers=headers, content=content)
            doc = BLOBS.get(what, MANIFEST if what == "1" else None)
            if doc is None:
                return httpx.Response(404)
            return httpx.Response(200, headers={"Content-Type": MEDIA_MANIFEST}, content=doc)
        blob = BLOBS.get(what)
        if blob is None:
            return httpx.Response(404)
        if part in ("config", "layer") and blob is {"config": CONFIG, "layer": LAYER}[part]:
            return httpx.Response(status, content=body)
        if (
            part in ("config-mutated", "layer-mutated")
            and blob is {"config-mutated": CONFIG, "layer-mutated": LAYER}[part]
        ):
            return httpx.Response(
                200, content=mutate(blob, int.from_bytes(body[:4] or b"0", "big"))
            )
        return httpx.Response(200, content=blob)

    return httpx.MockTransport(handle)


def _check_cache() -> None:
    for dirpath, _, files in os.walk(CACHE):
        for name in files:
            path = Path(dirpath) / name
            if name.endswith(".partial"):
                raise ContractViolation(f"a partial download was left behind: {path}")
            algo = path.parent.name
            if algo == "sha256" and hashlib.sha256(path.read_bytes()).hexdigest() != name:
                raise ContractViolation(f"the cache holds a blob that is not its digest: {path}")


def test_one_input(data: bytes) -> None:
    if len(data) < 2:
        return
    part, status = PARTS[data[0] % len(PARTS)], STATUSES[data[1] % len(STATUSES)]
    header, _, body = data[2:].partition(SEP)
    shutil.rmtree(CACHE, ignore_errors=True)
    transport = _handler(part, status, header, body)
    image = expect(
        lambda: open_registry(REF, None, LIMITS, CACHE, SETTINGS, transport=transport),
        (HullscanError,),
    )
    _check_cache()
    if image is not None and part.endswith("-mutated"):
        raise ContractViolation("a blob that does not match its digest was accepted")


def seeds() -> dict[str, bytes]:
    token = json.dumps({"token": "abc", "expires_in": 300}).encode()
    challenge = (
        b'Bearer realm="https://registry.fuzz.test/token",service="fuzz",'
        b'scope="repository:team/app:pull"'
    )
    return {
        "manifest": b"\x00\x00" + SEP + MANIFEST,
        "manifest-headers": b"\x01\x00"
        + MEDIA_MANIFEST.encode()
        + SEP
        + sha256_digest(MANIFEST).encode(),
        "token": b"\x02\x00" + challenge + SEP + token,
        "config": b"\x03\x00" + SEP + CONFIG,
        "layer": b"\x04\x00" + SEP + LAYER,
        "index": b"\x05\x00" + SEP + INDEX,
        "config-mutated": b"\x06\x00" + SEP + b"\x00\x00\x00\x07",
        "layer-mutated": b"\x07\x00" + SEP + b"\x00\x00\x02\x00",
    }


if __name__ == "__main__":
    main(test_one_input)
