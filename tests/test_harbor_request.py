"""Reading Harbor's ``POST /api/v1/scan`` body without a server (``parse_scan_request``);
tests/test_server_harbor.py sends the same requests to a running server."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from hullscan.references import parse_reference
from hullscan.server.harbor import SCAN_REQUEST, ScanRequestError, parse_scan_request

DIGEST = "sha256:" + "a" * 64
SECRET = "s3cret-Robot-Token"
BASIC = "Basic " + base64.b64encode(f"robot$scanner:{SECRET}".encode()).decode()


def body(url: str, authorization: str | None = None, **artifact: Any) -> bytes:
    registry = {"url": url, **({"authorization": authorization} if authorization else {})}
    return json.dumps(
        {"registry": registry, "artifact": {"repository": "team/app", "digest": DIGEST, **artifact}}
    ).encode()


def test_a_request_as_harbor_sends_it() -> None:
    order = parse_scan_request(
        f"{SCAN_REQUEST}; version=1.1", body("https://core.harbor.domain", BASIC, tag="1")
    )
    assert order.ref == f"registry:core.harbor.domain/team/app@{DIGEST}"
    assert (order.username, order.password) == ("robot$scanner", SECRET)
    assert not order.plain_http and order.vulnerabilities and order.sbom
    assert order.artifact == {"repository": "team/app", "digest": DIGEST, "tag": "1"}
    assert SECRET not in repr(order)


@pytest.mark.parametrize(
    "url",
    [
        f"https://robot:{SECRET}@registry.example:99999",
        f"https://robot:{SECRET}@[::1",
        f"ftp://robot:{SECRET}@x",
    ],
)
def test_a_bad_url_is_refused_without_repeating_its_credentials(url: str) -> None:
    with pytest.raises(ScanRequestError) as e:
        parse_scan_request("application/json", body(url, BASIC))
    assert e.value.status == 422 and e.value.message.startswith("registry.url")
    assert SECRET not in e.value.message and BASIC.split()[1] not in e.value.message


@pytest.mark.parametrize(
    "url",
    [
        "https://core.harbor.do`ain",
        "https://host:/",
        "http://%41/",
        "https://ho st/",
        "http:// .1:5000/",
    ],
)
def test_a_url_without_a_registry_host_is_refused(url: str) -> None:
    with pytest.raises(ScanRequestError) as e:
        parse_scan_request("application/json", body(url))
    assert e.value.status == 422


@pytest.mark.parametrize(
    "url, host",
    [
        ("http://harbor-core", "harbor-core:80"),
        ("https://harbor-core/", "harbor-core:443"),
        ("http://harbor-core:8080", "harbor-core:8080"),
        ("http://localhost", "localhost"),
        ("http://[::1]:5000", "[::1]:5000"),
    ],
)
def test_an_in_cluster_host_stays_a_host(url: str, host: str) -> None:
    """``registry:harbor-core/team/app`` would be Docker Hub's harbor-core/team/app."""
    order = parse_scan_request("application/json", body(url))
    ref = parse_reference(order.ref)
    assert (order.host, ref.host, ref.repository) == (host, host, "team/app")
    assert order.plain_http == url.startswith("http:")


@pytest.mark.parametrize(
    "authorization",
    [
        "Basic not*base64",
        "Basic " + base64.b64encode(b"\xff\xfe:x").decode(),
        "Basic " + base64.b64encode(b"no-colon").decode(),
        "Basic cm9ib3Q6\u00e9eA==",
        "Bearer abc",
    ],
)
def test_malformed_credentials_are_a_clear_422(authorization: str) -> None:
    """Each is refused with a message, never an exception (a non-ASCII character in the
    base64 once raised ValueError, found by the harbor fuzz harness)."""
    with pytest.raises(ScanRequestError) as e:
        parse_scan_request("application/json", body("https://harbor", authorization))
    assert e.value.status in (400, 422) and e.value.message.startswith("registry.authorization")
