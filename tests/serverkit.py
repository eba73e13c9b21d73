"""Running ``hullscan server`` / ``hullscan worker`` as real processes on 127.0.0.1, a
client that talks to the Harbor adapter the way Harbor's does, and a validator of its
answers against Harbor's OpenAPI v1.2 document (../shared/harbor)."""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
import yaml

from imagebuilder import BuiltImage, build, debian_base, python_dist, write_oci
from localregistry import REF_NAME, Registry, free_port, push, start_registry, stop_registry

REPO = Path(__file__).resolve().parent.parent
#: ../shared beside the repository (HULLSCAN_SHARED elsewhere, e.g. in a git worktree)
SHARED = Path(os.environ.get("HULLSCAN_SHARED", REPO.parent / "shared"))
HARBOR_SPEC = SHARED / "harbor" / "scanner-adapter-openapi-v1.2.yaml"
HULLSCAN = [sys.executable, "-m", "hullscan.cli"]
SCAN_REQUEST = "application/vnd.scanner.adapter.scan.request+json; version=1.1"
VULN_1_1 = "application/vnd.security.vulnerability.report; version=1.1"
VULN_1_0 = "application/vnd.scanner.adapter.vuln.report.harbor+json; version=1.0"
SBOM = "application/vnd.security.sbom.report+json; version=1.0"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
HARBOR_SEVERITIES = {"Unknown", "Negligible", "Low", "Medium", "High", "Critical"}


@dataclass
class Proc:
    proc: subprocess.Popen[bytes]
    log: Path

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def text(self) -> str:
        return self.log.read_text(errors="replace")


def spawn(args: list[str], log: Path, env: dict[str, str] | None = None) -> Proc:
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [*HULLSCAN, *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
        )
    return Proc(proc, log)


@dataclass
class Server(Proc):
    url: str


def start_server(args: list[str], log: Path, *, scheme: str = "http", verify: Any = True) -> Server:
    """``hullscan server`` on a free loopback port, once ``/healthz`` answers."""
    port = free_port()
    p = spawn(["server", "--listen", f"127.0.0.1:{port}", *args], log)
    url = f"{scheme}://127.0.0.1:{port}"
    deadline = time.monotonic() + 90  # the machine may be busy: imports alone take seconds
    while time.monotonic() < deadline:
        if p.proc.poll() is not None:
            raise RuntimeError(f"hullscan server exited: {p.text()[-3000:]}")
        try:
            if httpx.get(url + "/healthz", timeout=2, verify=verify).status_code == 200:
                return Server(p.proc, p.log, url)
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    p.stop(signal.SIGKILL)
    raise RuntimeError(f"hullscan server did not start: {p.text()[-3000:]}")


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


class HarborClient:
    """Harbor's scanner client: 5-second timeouts, no redirects followed, polling after
    ``Refresh-After`` seconds, for at most ``max_wait`` seconds (Harbor: 30 minutes)."""

    def __init__(self, url: str, auth: dict[str, str], validator: HarborSpec) -> None:
        self.http = httpx.Client(base_url=url, timeout=5.0, follow_redirects=False, headers=auth)
        self.spec = validator
        self.polls = 0

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> HarborClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def metadata(self) -> dict[str, Any]:
        r = self.http.get(
            "/api/v1/metadata",
            headers={"Accept": "application/vnd.scanner.adapter.metadata+json; version=1.1"},
        )
        self.spec.check("/metadata", "get", r)
        assert r.status_code == 200, r.text
        doc: dict[str, Any] = r.json()
        return doc

    def scan(
        self,
        registry_url: str,
        repository: str,
        digest: str,
        *,
        authorization: str | None,
        capabilities: list[dict[str, Any]] | None = None,
        tag: str = "1",
    ) -> httpx.Response:
        body: dict[str, Any] = {
            "registry": {"url": registry_url},
            "artifact": {
                "repository": repository,
                "digest": digest,
                "tag": tag,
                "mime_type": DOCKER_MANIFEST,
            },
        }
        if authorization:
            body["registry"]["authorization"] = authorization
        if capabilities is not None:
            body["enabled_capabilities"] = capabilities
        r = self.http.post(
            "/api/v1/scan", content=json.dumps(body), headers={"Content-Type": SCAN_REQUEST}
        )
        self.spec.check("/scan", "post", r)
        return r

    def report(
        self,
        scan_id: str,
        accept: str = VULN_1_1,
        sbom_media_type: str | None = None,
        max_wait: float = 180,
    ) -> httpx.Response:
        params = {"sbom_media_type": sbom_media_type} if sbom_media_type else None
        deadline = time.monotonic() + max_wait
        while True:
            r = self.http.get(
                f"/api/v1/scan/{scan_id}/report", params=params, headers={"Accept": accept}
            )
            self.spec.check("/scan/{scan_request_id}/report", "get", r)
            if r.status_code != 302:
                return r
            self.polls += 1
            refresh = int(r.headers["Refresh-After"])
            assert 0 < refresh <= 127  # Harbor parses it as an int8
            assert time.monotonic() < deadline, "the report never became ready"
            time.sleep(refresh)


def _inline(node: Any, spec: dict[str, Any]) -> Any:
    if isinstance(node, dict):
        if "$ref" in node:
            target: Any = spec
            for part in node["$ref"].lstrip("#/").split("/"):
                target = target[part]
            return _inline(target, spec)
        return {k: _inline(v, spec) for k, v in node.items()}
    if isinstance(node, list):
        return [_inline(v, spec) for v in node]
    return node


class HarborSpec:
    """Every answer must be one the v1.2 document lists for that operation: status, media
    type and body schema. 401 (its security schemes) and 413 (body limit, before any
    operation) are the transport's, with the same error body."""

    def __init__(self) -> None:
        spec = yaml.safe_load(HARBOR_SPEC.read_text())
        self.paths = _inline(spec["paths"], spec)
        self.error = _inline(spec["components"]["schemas"]["ErrorResponse"], spec)
        self.checked = 0

    def check(self, path: str, method: str, r: httpx.Response) -> None:
        self.checked += 1
        if r.status_code in (401, 413):
            jsonschema.validate(r.json(), self.error)
            assert r.json()["error"]["message"]
            return
        responses = self.paths[path][method]["responses"]
        assert r.status_code in responses, f"{path}: undocumented status {r.status_code}"
        documented = responses[r.status_code]
        if r.status_code == 302:
            assert re.fullmatch(r"\d+", r.headers.get("Refresh-After", "")), r.headers
            return
        content = documented.get("content")
        if content is None:  # e.g. 404: no body is specified
            return
        media = " ".join(r.headers["content-type"].split())
        assert media in content, f"{path} {r.status_code}: media type {media!r}"
        schema = content[media]["schema"]
        body = r.json()
        jsonschema.validate(body, schema)
        if r.status_code >= 400:
            assert body["error"]["message"], body


# -- fixtures shared by the server tests (import them into the test module) -------------

VULNDATA = SHARED / "vulndata"
ROBOT, ROBOT_SECRET = "robot$hullscan-test", "Robot-s3cret-4-pull"
API_KEY = "test-api-key-0123456789abcdef"
#: what Harbor sends in registry.authorization: the robot's Basic credentials
ROBOT_AUTH = basic(ROBOT, ROBOT_SECRET)


@pytest.fixture(scope="session")
def server_vulndb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Debian 12 and PyPI advisories: what the test images are matched against."""
    from hullscan.vulndb.build import import_paths

    dest = tmp_path_factory.mktemp("server-db") / "osv.sqlite"
    import_paths([VULNDATA / "Debian-12", VULNDATA / "PyPI"], dest)
    return dest


@dataclass(frozen=True)
class PushedImage:
    repository: str
    digest: str
    image: BuiltImage


@dataclass(frozen=True)
class RobotRegistry:
    registry: Registry
    app: PushedImage  # debian_base (libssl3 3.0.11) + requests 2.2.1
    other: PushedImage  # debian_base + a package no advisory names

    @property
    def url(self) -> str:
        return f"http://{self.registry.host}"


def htpasswd_registry(root: Path) -> Registry:
    import crypt  # bcrypt from the C library, as tests/test_registry_auth.py does

    hashed = crypt.crypt(ROBOT_SECRET, crypt.mksalt(crypt.METHOD_BLOWFISH))
    if not hashed or not hashed.startswith("$2"):
        pytest.skip("the C library's crypt() has no bcrypt")
    (root / "htpasswd").write_text(f"{ROBOT}:{hashed}\n")
    return start_registry(
        root, {"htpasswd": {"realm": "harbor-like", "path": str(root / "htpasswd")}}
    )


def push_built(image: BuiltImage, root: Path, registry: Registry, repository: str) -> PushedImage:
    layout = write_oci([(image, {"annotations": {REF_NAME: "1"}})], root)
    push(layout, "1", f"{registry.host}/{repository}:1", creds=f"{ROBOT}:{ROBOT_SECRET}")
    return PushedImage(repository, image.manifest_digest, image)


@pytest.fixture(scope="module")
def robot_registry(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """docker-registry with htpasswd auth holding two small images, pushed by the robot."""
    root = tmp_path_factory.mktemp("robotreg")
    reg = htpasswd_registry(root)
    try:
        app = push_built(
            build([debian_base(), [python_dist("requests", "2.2.1")]]),
            root / "app",
            reg,
            "team/app",
        )
        other = push_built(
            build([debian_base(), [python_dist("hullscan-marker", "1.0")]]),
            root / "other",
            reg,
            "team/other",
        )
        yield RobotRegistry(reg, app, other)
    finally:
        stop_registry(reg)


def server_config(directory: Path, **server: Any) -> Path:
    from hullscan.server.settings import hash_key

    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "hullscan.yaml"
    path.write_text(
        yaml.safe_dump({"server": {"api_keys": [hash_key(API_KEY)], "refresh_after": 1, **server}})
    )
    return path
