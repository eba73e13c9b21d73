"""hullscan's own API (``/v1``), its OpenAPI document under schemathesis, TLS, and the
result store's migrations — against ``hullscan server`` on loopback with its defaults
(embedded queue, SQLite)."""

from __future__ import annotations

import ssl
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from imagebuilder import build, debian_base, python_dist, write_oci
from localregistry import REF_NAME, make_ca, needs_registry, push, start_registry, stop_registry
from serverkit import API_KEY, Server, server_config, server_vulndb, start_server

__all__ = ["server_vulndb"]  # fixtures
AUTH = {"Authorization": f"Bearer {API_KEY}"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, server_vulndb: Path) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("api")
    srv = start_server(
        [
            "--cache-dir",
            str(root / "cache"),
            "--db",
            str(server_vulndb),
            "--config",
            str(server_config(root / "etc")),
        ],
        root / "server.log",
    )
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def plain_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """An anonymous registry with one image: (reference by digest, digest)."""
    root = tmp_path_factory.mktemp("plainreg")
    reg = start_registry(root / "reg")
    image = build([debian_base(), [python_dist("requests", "2.2.1")]])
    layout = write_oci([(image, {"annotations": {REF_NAME: "1"}})], root / "oci")
    push(layout, "1", f"{reg.host}/own/app:1")
    yield f"registry:{reg.host}/own/app@{image.manifest_digest}", image.manifest_digest
    stop_registry(reg)


@needs_registry
def test_scan_follow_and_latest_by_digest(server: Server, plain_registry: tuple[str, str]) -> None:
    ref, digest = plain_registry
    with httpx.Client(base_url=server.url, headers=AUTH, timeout=10) as http:
        r = http.post("/v1/scans", json={"image": ref, "scanners": ["vuln", "secret"]})
        assert r.status_code == 202, r.text
        scan_id = r.json()["id"]
        deadline = time.monotonic() + 120
        while (state := http.get(f"/v1/scans/{scan_id}").json())["status"] in ("queued", "running"):
            assert time.monotonic() < deadline
            time.sleep(0.5)
        assert state["status"] == "done", state["error"]
        report = state["report"]
        assert report["schema"] == "hullscan.report/v1"
        assert report["image"]["digest"] == digest == state["digest"]
        assert report["database"]["version"] == state["database"]
        assert any(
            f["package"]["name"] == "requests"
            for f in report["findings"]
            if f["kind"] == "vulnerability"
        )
        assert http.get(f"/v1/images/{digest}").json() == report
        # the same digest, scanners and database: answered from the store at once
        again = http.post("/v1/scans", json={"image": ref, "scanners": ["secret", "vuln"]})
        assert http.get(f"/v1/scans/{again.json()['id']}").json()["status"] == "done"


@pytest.mark.parametrize(
    "body,message",
    [
        ({"image": "docker-archive:/etc/passwd"}, "only registry references"),
        ({"image": "dir:/"}, "only registry references"),
        ({"image": "registry:127.0.0.1:5/x:1", "scanners": ["nope"]}, "unknown scanner"),
        ({"image": "registry:127.0.0.1:5/x:1", "scanners": []}, "no scanner selected"),
        ({"scanners": ["vuln"]}, "image: Field required"),
    ],
)
def test_own_api_refuses_bad_requests(server: Server, body: dict[str, Any], message: str) -> None:
    r = httpx.post(f"{server.url}/v1/scans", json=body, headers=AUTH)
    assert r.status_code == 422 and message in r.json()["error"]["message"], r.text


def test_unknown_scan_and_digest(server: Server) -> None:
    assert httpx.get(f"{server.url}/v1/scans/nope", headers=AUTH).status_code == 404
    r = httpx.get(f"{server.url}/v1/images/sha256:{'0' * 64}", headers=AUTH)
    assert r.status_code == 404 and r.json()["error"]["message"]


def test_openapi_document_holds(server: Server) -> None:
    """Every GET operation, with generated parameters, answers as its document says
    (generated scan requests are left out: they would name registries anywhere)."""
    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json", headers=AUTH).include(
        method="GET"
    )
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.path for op in operations} >= {
        "/v1/scans/{scan_id}",
        "/v1/images/{digest}",
        "/api/v1/scan/{scan_request_id}/report",
        "/api/v1/metadata",
        "/readyz",
        "/metrics",
    }
    for op in operations:

        @given(case=op.as_strategy())
        @settings(
            max_examples=20, deadline=None, database=None, suppress_health_check=list(HealthCheck)
        )
        def check(case: Any) -> None:
            case.call_and_validate(headers=AUTH)

        check()


def test_tls(tmp_path: Path, server_vulndb: Path) -> None:
    ca = make_ca(tmp_path / "ca")
    srv = start_server(
        [
            "--cache-dir",
            str(tmp_path / "cache"),
            "--db",
            str(server_vulndb),
            "--tls-cert",
            str(ca.cert),
            "--tls-key",
            str(ca.key),
        ],
        tmp_path / "server.log",
        scheme="https",
        verify=ssl.create_default_context(cafile=str(ca.ca)),
    )
    try:
        verify = ssl.create_default_context(cafile=str(ca.ca))
        assert httpx.get(f"{srv.url}/readyz", verify=verify).json() == {"status": "ready"}
        with pytest.raises(httpx.ConnectError):  # an unknown CA is refused, as it must be
            httpx.get(f"{srv.url}/healthz")
    finally:
        srv.stop()


def test_migrations_are_idempotent(tmp_path: Path) -> None:
    from hullscan.jobs.store import JobSpec, Store

    url = f"sqlite:///{tmp_path / 'r.sqlite'}"
    store = Store(url)
    sub = store.submit(
        JobSpec("registry:r/x@sha256:" + "1" * 64, ("vuln",), "sha256:" + "1" * 64, "v1")
    )
    store.close()
    again = Store(url)  # upgrading an up-to-date store changes nothing
    scan = again.get_scan(sub.scan_id)
    assert scan is not None and scan.job.status == "queued"
    again.close()


def test_admission_is_never_judged_over_plain_http(server: Server) -> None:
    """Without --tls-cert the admission paths answer 421 and judge nothing (no key is
    asked for them: the API server presents none)."""
    from admissionreviews import pod_spec, review, workload

    body = review(workload("Pod", pod_spec(["reg.example/app@sha256:" + "a" * 64])))
    for path in ("/v1/admission", "/v1/admission/mutate"):
        r = httpx.post(server.url + path, json=body, timeout=10)
        assert r.status_code == 421, r.text
        assert "allowed" not in r.text and "--tls-cert" in r.json()["error"]
