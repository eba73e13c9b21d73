"""Fuzz the body of Harbor's ``POST /api/v1/scan`` (``parse_scan_request``: the media type,
the JSON, the fields, the registry URL, the credentials and the capabilities), as the
endpoint reads it before anything is stored or queued.

``data[0]`` picks the Content-Type (bits 0-1) and whether the harness puts a known
credential into the request before it is read: bit 2 an ``authorization`` value (bits 3-4
pick its form: Basic user:password, Basic without a colon, Basic of no base64, Bearer),
bit 5 a ``user:password@`` in the registry URL. ``data[1:]`` is the body; credentials go
in only when it is a JSON object with a ``registry`` object.

Checked: only ``ScanRequestError`` escapes, with 400 or 422; no error message and no
accepted job reference contains the credential (the password, the header value or its
base64); an accepted request names a registry host, repository and digest that parse back
to themselves, plain HTTP only for an ``http://`` URL, and the Basic credentials it was
given.
"""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import urlsplit

from contract import ContractViolation, instrumented, main

with instrumented():
    from hullscan.errors import HullscanError
    from hullscan.references import DOCKER_HUB, parse_reference, registry_host
    from hullscan.server.harbor import (
        SCAN_REQUEST,
        ScanOrder,
        ScanRequestError,
        parse_scan_request,
    )

CONTENT_TYPES = (f"{SCAN_REQUEST}; version=1.1", "application/json", SCAN_REQUEST, "text/plain")
#: a password the fuzzer cannot write itself: it only appears where the harness puts it
SECRET = "hs-fuzz-Pa55w0rd-7c1e"
USER = "robot$fuzz"


def _authorization(form: int) -> tuple[str, str | None]:
    """An authorization value, and the password the request should then carry."""
    if form == 0:
        return "Basic " + base64.b64encode(f"{USER}:{SECRET}".encode()).decode(), SECRET
    if form == 1:
        return "Basic " + base64.b64encode(SECRET.encode()).decode(), None
    if form == 2:
        return f"Basic {SECRET}!", None
    return f"Bearer {SECRET}", None


def _with_credentials(body: bytes, flags: int) -> tuple[bytes, list[str], str | None]:
    """The body with the credentials ``flags`` ask for; the strings no answer may show."""
    if not flags & 0b100100:
        return body, [], None
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return body, [], None
    registry = doc.get("registry") if isinstance(doc, dict) else None
    if not isinstance(registry, dict):
        return body, [], None
    secrets, password = [SECRET], None
    if flags & 0b100:
        value, password = _authorization((flags >> 3) & 3)
        registry["authorization"] = value
        secrets += [value, value.partition(" ")[2]]
    url = registry.get("url")
    if flags & 0b100000 and isinstance(url, str):
        scheme, sep, rest = url.partition("://")
        registry["url"] = (
            f"{scheme}{sep}{USER}:{SECRET}@{rest}" if sep else f"{USER}:{SECRET}@{url}"
        )
    return json.dumps(doc).encode(), secrets, password


def _check_order(
    order: ScanOrder, doc: dict[str, Any], password: str | None, injected_auth: bool
) -> None:
    art = doc["artifact"]
    try:
        ref = parse_reference(order.ref)
    except HullscanError as e:
        raise ContractViolation(f"a job that can never run: {e}") from None
    try:
        host = registry_host(order.host, "host")  # docker.io is Docker Hub's registry host
    except HullscanError as e:
        raise ContractViolation(f"a job for an invalid registry host: {e}") from None
    repository = art["repository"]
    if host == DOCKER_HUB and "/" not in repository:
        repository = f"library/{repository}"
    if (ref.host, ref.repository, ref.digest) != (host, repository, art["digest"]):
        raise ContractViolation(f"{order.ref} does not name {art!r} on {order.host}")
    url = doc["registry"]["url"]
    if order.plain_http != (urlsplit(url).scheme == "http"):
        raise ContractViolation(f"plain HTTP {order.plain_http} for {url!r}")
    if injected_auth and (
        order.password != password or (password is not None and order.username != USER)
    ):
        raise ContractViolation("the request's Basic credentials were not the ones given")


def test_one_input(data: bytes) -> None:
    if not data:
        return
    content_type = CONTENT_TYPES[data[0] & 3]
    body, secrets, password = _with_credentials(data[1:], data[0])
    try:
        order = parse_scan_request(content_type, body)
    except ScanRequestError as e:
        if e.status not in (400, 422) or not isinstance(e.message, str):
            raise ContractViolation(f"status {e.status}: {e.message!r}") from None
        shown = [s for s in secrets if s in e.message]
        if shown:
            raise ContractViolation(f"a credential in the error message: {e.message!r}") from None
        return
    if content_type == "text/plain":
        raise ContractViolation("a body sent as text/plain was accepted")
    if any(s in order.ref for s in secrets):
        raise ContractViolation(f"a credential in the job's reference: {order.ref!r}")
    _check_order(order, json.loads(body), password, bool(data[0] & 0b100))


def seeds() -> dict[str, bytes]:
    """Requests as Harbor 2.x sends them (the spec's examples: a robot account's Basic
    credentials, both capabilities), over HTTPS and plain HTTP with a port."""
    digest = "sha256:6c3c624b58dbbcd3c0dd82b4c53f04194d1247c6eebdaab7c610cf7d66709b3b"
    basic = "Basic " + base64.b64encode(b"robot$library+scanner:Zm9vYmFy").decode()
    harbor = {
        "registry": {"url": "https://core.harbor.domain", "authorization": basic},
        "artifact": {
            "repository": "library/mongo",
            "digest": digest,
            "tag": "3.4-xenial",
            "mime_type": "application/vnd.docker.distribution.manifest.v2+json",
        },
        "enabled_capabilities": [
            {
                "type": "vulnerability",
                "produces_mime_types": [
                    "application/vnd.security.vulnerability.report; version=1.1"
                ],
            },
            {
                "type": "sbom",
                "produces_mime_types": ["application/vnd.security.sbom.report+json; version=1.0"],
                "parameters": {"sbom_media_types": ["application/spdx+json"]},
            },
        ],
    }
    local = {
        "registry": {"url": "http://127.0.0.1:5000/"},
        "artifact": {"repository": "team/app", "digest": digest},
    }
    return {
        "harbor-2.x": b"\x00" + json.dumps(harbor).encode(),
        "plain-http-port": b"\x01" + json.dumps(local).encode(),
        "credentials-in-url": bytes([0b100110]) + json.dumps(local).encode(),
        "bearer": bytes([0b11100]) + json.dumps(harbor).encode(),
    }


if __name__ == "__main__":
    main(test_one_input)
