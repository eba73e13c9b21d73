"""``hullscan server`` (embedded queue, SQLite) driven the way Harbor drives a scanner
adapter, over real sockets, pulling with a robot account from a registry with htpasswd
auth; every answer is checked against Harbor's OpenAPI v1.2 document."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from test_registry_hostile import OCI_MANIFEST, Handler, HostileRegistry

from imagebuilder import build, python_dist
from localregistry import needs_registry
from serverkit import (
    API_KEY,
    ROBOT,
    ROBOT_AUTH,
    ROBOT_SECRET,
    SBOM,
    VULN_1_0,
    VULN_1_1,
    HarborClient,
    HarborSpec,
    RobotRegistry,
    Server,
    basic,
    push_built,
    robot_registry,
    server_config,
    server_vulndb,
    start_server,
)

pytestmark = needs_registry
__all__ = ["robot_registry", "server_vulndb"]  # fixtures


@pytest.fixture(scope="module")
def spec() -> HarborSpec:
    return HarborSpec()


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, server_vulndb: Path, robot_registry: RobotRegistry
) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("server")
    cfg = server_config(root / "etc")
    srv = start_server(
        [
            "--cache-dir",
            str(root / "cache"),
            "--db",
            str(server_vulndb),
            "--config",
            str(cfg),
            "--workers",
            "2",
        ],
        root / "server.log",
    )
    yield srv
    srv.stop()


@pytest.fixture
def harbor(server: Server, spec: HarborSpec) -> Iterator[HarborClient]:
    client = HarborClient(server.url, {"X-ScannerAdapter-API-Key": API_KEY}, spec)
    yield client
    client.close()


def store_rows(server: Server) -> dict[str, int]:
    db = next(Path(server.log.parent / "cache" / "server").glob("results.sqlite"))
    with sqlite3.connect(db) as conn:
        return {
            t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
            for t in ("jobs", "scans", "inventories")
        }


def test_metadata_is_what_harbor_accepts(harbor: HarborClient, server_vulndb: Path) -> None:
    from hullscan.vulndb import open_db

    doc = harbor.metadata()
    assert all(doc["scanner"][k] for k in ("name", "vendor", "version"))
    for capability in doc["capabilities"]:
        assert (
            "application/vnd.docker.distribution.manifest.v2+json"
            in capability["consumes_mime_types"]
        )
    assert {c["type"] for c in doc["capabilities"]} == {"vulnerability", "sbom"}
    with open_db(server_vulndb) as db:
        built = db.meta().built_at
    props = doc["properties"]
    assert props["harbor.scanner-adapter/vulnerability-database-updated-at"] == built
    assert props["harbor.scanner-adapter/scanner-type"] == "os-package-vulnerability"


def test_vulnerability_report_as_harbor_polls_it(
    harbor: HarborClient, robot_registry: RobotRegistry, server: Server
) -> None:
    app = robot_registry.app
    r = harbor.scan(
        robot_registry.url,
        app.repository,
        app.digest,
        authorization=ROBOT_AUTH,
        capabilities=[{"type": "vulnerability", "produces_mime_types": [VULN_1_1]}],
    )
    assert r.status_code == 202, r.text
    assert r.elapsed.total_seconds() < 5
    report = harbor.report(r.json()["id"])
    assert report.status_code == 200, report.text
    doc = report.json()
    assert doc["artifact"] == {
        "repository": app.repository,
        "digest": app.digest,
        "tag": "1",
        "mime_type": DOCKER_V2,
    }
    by_package: dict[str, list[dict[str, Any]]] = {}
    for v in doc["vulnerabilities"]:
        by_package.setdefault(v["package"], []).append(v)
        assert v["severity"] in {"Unknown", "Low", "Medium", "High", "Critical"}
    # libssl3 3.0.11-1~deb12u2 through its source package openssl; requests 2.2.1 on PyPI
    assert "libssl3" in by_package and "requests" in by_package
    assert any(v.get("fix_version") for v in by_package["requests"])
    order = ["Unknown", "Negligible", "Low", "Medium", "High", "Critical"]
    assert doc["severity"] == max((v["severity"] for v in doc["vulnerabilities"]), key=order.index)
    # the older report type, for Harbor versions that ask for it
    old = harbor.report(r.json()["id"], accept=VULN_1_0)
    assert old.status_code == 200
    assert old.json()["vulnerabilities"] == doc["vulnerabilities"]
    # the same scan through hullscan's own API names the database it used
    own = httpx.get(
        f"{server.url}/v1/scans/{r.json()['id']}", headers={"Authorization": f"Bearer {API_KEY}"}
    ).json()
    assert own["status"] == "done" and own["report"]["database"]["version"] == own["database"]
    latest = httpx.get(
        f"{server.url}/v1/images/{app.digest}", headers={"Authorization": f"Bearer {API_KEY}"}
    )
    assert latest.status_code == 200
    assert latest.json()["schema"] == "hullscan.report/v1"
    assert latest.json()["image"]["digest"] == app.digest


DOCKER_V2 = "application/vnd.docker.distribution.manifest.v2+json"


@pytest.mark.parametrize(
    "media_type,marker",
    [("application/spdx+json", "spdxVersion"), ("application/vnd.cyclonedx+json", "bomFormat")],
)
def test_sbom_report(
    harbor: HarborClient, robot_registry: RobotRegistry, media_type: str, marker: str
) -> None:
    other = robot_registry.other
    r = harbor.scan(
        robot_registry.url,
        other.repository,
        other.digest,
        authorization=ROBOT_AUTH,
        capabilities=[
            {
                "type": "sbom",
                "produces_mime_types": [SBOM],
                "parameters": {"sbom_media_types": [media_type]},
            }
        ],
    )
    assert r.status_code == 202, r.text
    report = harbor.report(r.json()["id"], accept=SBOM, sbom_media_type=media_type)
    assert report.status_code == 200, report.text
    doc = report.json()
    assert doc["media_type"] == media_type and marker in doc["sbom"]
    assert "hullscan-marker" in json.dumps(doc["sbom"])
    # no sbom_media_type: Harbor's spec says 400
    bad = harbor.http.get(f"/api/v1/scan/{r.json()['id']}/report", headers={"Accept": SBOM})
    harbor.spec.check("/scan/{scan_request_id}/report", "get", bad)
    assert bad.status_code == 400


def test_one_scan_per_digest_for_concurrent_requests(
    harbor: HarborClient, server: Server, robot_registry: RobotRegistry, tmp_path: Path
) -> None:
    # an image of its own, so no earlier test has scanned it
    reg = robot_registry
    image = push_built(
        build([[python_dist("concurrent-marker", "2.0")]]),
        tmp_path / "l",
        reg.registry,
        "team/concurrent",
    )
    ids: list[str] = []

    def ask() -> None:
        with HarborClient(
            server.url, {"Authorization": f"Bearer {API_KEY}"}, harbor.spec
        ) as client:
            r = client.scan(
                reg.url,
                image.repository,
                image.digest,
                authorization=ROBOT_AUTH,
                capabilities=[{"type": "vulnerability"}],
            )
            assert r.status_code == 202
            ids.append(r.json()["id"])

    threads = [threading.Thread(target=ask) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(ids)) == 6  # every request has its own id ...
    reports = [harbor.report(i).json() for i in ids]
    assert all(r == reports[0] for r in reports)
    states = [
        httpx.get(
            f"{server.url}/v1/scans/{i}", headers={"Authorization": f"Bearer {API_KEY}"}
        ).json()
        for i in ids
    ]
    assert all(s["attempts"] == 1 for s in states)  # ... and one scan served them all
    assert server.text().count(f"scanning registry:{reg.registry.host}/team/concurrent@") == 1
    # asked again once done: answered at the first poll, from the store
    harbor.polls = 0
    again = harbor.scan(
        reg.url,
        image.repository,
        image.digest,
        authorization=ROBOT_AUTH,
        capabilities=[{"type": "vulnerability"}],
    )
    assert harbor.report(again.json()["id"]).status_code == 200 and harbor.polls == 0


def test_credentials_are_never_stored_logged_or_echoed(
    harbor: HarborClient, server: Server, robot_registry: RobotRegistry
) -> None:
    app = robot_registry.app
    r = harbor.scan(
        robot_registry.url,
        app.repository,
        app.digest,
        authorization=ROBOT_AUTH,
        capabilities=[{"type": "vulnerability"}, {"type": "sbom"}],
    )
    harbor.report(r.json()["id"])
    seen = [
        harbor.report(r.json()["id"]).text,
        harbor.report(r.json()["id"], accept=SBOM, sbom_media_type="application/spdx+json").text,
        httpx.get(
            f"{server.url}/v1/scans/{r.json()['id']}",
            headers={"Authorization": f"Bearer {API_KEY}"},
        ).text,
        httpx.get(f"{server.url}/metrics", headers={"X-ScannerAdapter-API-Key": API_KEY}).text,
        server.text(),
    ]
    cache = server.log.parent / "cache"
    seen += [p.read_bytes().decode("latin-1") for p in cache.rglob("*") if p.is_file()]
    encoded = ROBOT_AUTH.split()[1]
    for text in seen:
        assert ROBOT_SECRET not in text and encoded not in text


def test_refused_credentials_missing_artifact_and_lying_registry(
    harbor: HarborClient, robot_registry: RobotRegistry, tmp_path: Path
) -> None:
    # never scanned before: a digest already scanned is answered from the store (the API
    # key authenticates Harbor; the robot's credentials only serve a pull)
    app = push_built(
        build([[python_dist("refused-marker", "1.0")]]),
        tmp_path / "l",
        robot_registry.registry,
        "team/refused",
    )
    refused = harbor.scan(
        robot_registry.url,
        app.repository,
        app.digest,
        authorization=basic(ROBOT, "wrong-secret-123"),
    )
    failed = harbor.report(refused.json()["id"])
    assert failed.status_code == 500
    assert "refused" in failed.json()["error"]["message"]
    assert "wrong-secret-123" not in failed.text
    missing = harbor.scan(robot_registry.url, "team/absent", app.digest, authorization=ROBOT_AUTH)
    failed = harbor.report(missing.json()["id"])
    assert failed.status_code == 500 and "not found" in failed.json()["error"]["message"]
    # a registry that answers another manifest for the digest asked for
    hostile = HostileRegistry(build([[python_dist("x", "1")]]))
    other = build([[python_dist("other", "1.0")]])

    def lie(h: Handler) -> bool:
        if "/manifests/" in h.path:
            h.reply(
                200,
                other.manifest,
                {
                    "Content-Type": OCI_MANIFEST,
                    "Docker-Content-Digest": hostile.image.manifest_digest,
                },
            )
            return True
        return False

    hostile.behaviour = lie
    try:
        lying = harbor.scan(
            f"http://{hostile.host}", "x/y", hostile.image.manifest_digest, authorization=None
        )
        failed = harbor.report(lying.json()["id"])
        assert failed.status_code == 500
        assert "digest mismatch" in failed.json()["error"]["message"]
    finally:
        hostile.httpd.shutdown()
    # a failed scan is tried again when Harbor asks again (here: with the right secret)
    retried = harbor.scan(robot_registry.url, app.repository, app.digest, authorization=ROBOT_AUTH)
    assert harbor.report(retried.json()["id"]).status_code == 200


def _post(server: Server, body: bytes, content_type: str) -> httpx.Response:
    return httpx.post(
        f"{server.url}/api/v1/scan",
        content=body,
        timeout=30,
        headers={"Content-Type": content_type, "X-ScannerAdapter-API-Key": API_KEY},
    )


GOOD = {
    "registry": {"url": "http://127.0.0.1:1"},
    "artifact": {"repository": "team/app", "digest": "sha256:" + "a" * 64},
}


@pytest.mark.parametrize(
    "body,content_type,status,message",
    [
        (
            b"{not json",
            "application/vnd.scanner.adapter.scan.request+json; version=1.1",
            400,
            "not valid JSON",
        ),
        (json.dumps(GOOD).encode(), "text/plain", 400, "Content-Type text/plain"),
        (
            json.dumps({"registry": GOOD["registry"]}).encode(),
            "application/json",
            422,
            "artifact: Field required",
        ),
        (
            json.dumps({**GOOD, "registry": {}}).encode(),
            "application/json",
            422,
            "registry.url: Field required",
        ),
        (
            json.dumps({**GOOD, "artifact": {"repository": "a", "digest": 7}}).encode(),
            "application/json",
            400,
            "artifact.digest",
        ),
        (
            json.dumps({**GOOD, "artifact": {"repository": "a", "digest": "sha256:12"}}).encode(),
            "application/json",
            422,
            "artifact.digest: expected sha256",
        ),
        (
            json.dumps({**GOOD, "registry": {"url": "ftp://x"}}).encode(),
            "application/json",
            422,
            "registry.url",
        ),
        (
            json.dumps(
                {**GOOD, "registry": {"url": "http://r", "authorization": "Bearer abc"}}
            ).encode(),
            "application/json",
            422,
            "only Basic",
        ),
        (
            json.dumps(
                {
                    **GOOD,
                    "artifact": {
                        **GOOD["artifact"],
                        "mime_type": "application/vnd.cncf.helm.config.v1+json",
                    },
                }
            ).encode(),
            "application/json",
            422,
            "not an image manifest",
        ),
        (b"[" * (10 << 20), "application/json", 413, "larger than"),
    ],
)
def test_bad_requests(
    server: Server, spec: HarborSpec, body: bytes, content_type: str, status: int, message: str
) -> None:
    before = store_rows(server)
    r = _post(server, body, content_type)
    spec.check("/scan", "post", r)
    assert r.status_code == status, r.text
    assert message in r.json()["error"]["message"]
    assert store_rows(server) == before  # nothing stored
    assert httpx.get(f"{server.url}/healthz").status_code == 200


def test_report_errors(harbor: HarborClient) -> None:
    r = harbor.http.get("/api/v1/scan/no-such-id/report", headers={"Accept": VULN_1_1})
    harbor.spec.check("/scan/{scan_request_id}/report", "get", r)
    assert r.status_code == 404
    r = harbor.http.get(
        "/api/v1/scan/x/report",
        headers={"Accept": "application/vnd.scanner.adapter.vuln.report.raw"},
    )
    assert r.status_code == 501


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-ScannerAdapter-API-Key": "wrong"},
        {"Authorization": "Bearer wrong"},
        {"Authorization": basic("harbor", "wrong")},
    ],
)
def test_unauthenticated_requests_get_401(
    server: Server, spec: HarborSpec, robot_registry: RobotRegistry, headers: dict[str, str]
) -> None:
    for path in ("/api/v1/metadata", "/v1/images/sha256:" + "0" * 64, "/metrics", "/openapi.json"):
        r = httpx.get(server.url + path, headers=headers)
        assert r.status_code == 401 and "API key" in r.json()["error"]["message"]
    app = robot_registry.app
    r = httpx.post(
        f"{server.url}/api/v1/scan",
        headers=headers,
        json={
            "registry": {"url": robot_registry.url},
            "artifact": {"repository": app.repository, "digest": app.digest},
        },
    )
    spec.check("/scan", "post", r)
    assert r.status_code == 401
    assert httpx.get(f"{server.url}/readyz").status_code == 200  # probes are open


def test_every_key_form_harbor_can_send(server: Server) -> None:
    for headers in (
        {"X-ScannerAdapter-API-Key": API_KEY},
        {"Authorization": f"Bearer {API_KEY}"},
        {"Authorization": basic("harbor", API_KEY)},
    ):
        assert httpx.get(f"{server.url}/api/v1/metadata", headers=headers).status_code == 200


def test_hash_key_helper() -> None:
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "hullscan.cli", "server", "--hash-key"],
        input=API_KEY + "\n",
        capture_output=True,
        text=True,
        check=True,
    )
    from hullscan.server.settings import hash_key

    assert done.stdout.strip() == hash_key(API_KEY)
    assert API_KEY not in done.stdout


def test_no_keys_means_loopback_only(tmp_path: Path) -> None:
    import subprocess
    import sys

    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "hullscan.cli",
            "server",
            "--listen",
            "0.0.0.0:8080",
            "--cache-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert "only loopback" in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "server").exists()
