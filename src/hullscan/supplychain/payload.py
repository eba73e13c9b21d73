"""cosign's "simple signing" payload: what a signature of an image says.

    {"critical":{"identity":{"docker-reference":"HOST/REPO"},
                 "image":{"docker-manifest-digest":"sha256:…"},
                 "type":"cosign container image signature"},
     "optional":null}

Written byte for byte as cosign writes it (Go's ``json.Marshal`` of sigstore's
``payload.SimpleContainerImage``): no spaces, the struct's field order, map keys
(``optional``) sorted, ``<`` ``>`` ``&`` escaped as ``\\u003c`` and so on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from hullscan.references import DOCKER_HUB, Reference

SIGNATURE_TYPE = "cosign container image signature"
MAX_PAYLOAD_BYTES = 1024 * 1024


class PayloadError(ValueError):
    """The payload is not a cosign image signature (the message says why)."""


@dataclass(frozen=True)
class SimpleSigning:
    docker_reference: str
    manifest_digest: str
    optional: dict[str, Any] | None


def go_json(doc: Any) -> bytes:
    """``json.Marshal`` output for JSON-able values whose dicts are already in the
    order Go would write them."""
    text = json.dumps(doc, separators=(",", ":"), ensure_ascii=False)
    for char, escaped in (
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("&", "\\u0026"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(char, escaped)  # these only ever occur inside strings
    return text.encode()


def _sorted(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _sorted(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_sorted(v) for v in value]
    return value


def make_payload(
    docker_reference: str, manifest_digest: str, annotations: dict[str, Any] | None = None
) -> bytes:
    return go_json(
        {
            "critical": {
                "identity": {"docker-reference": docker_reference},
                "image": {"docker-manifest-digest": manifest_digest},
                "type": SIGNATURE_TYPE,
            },
            "optional": _sorted(annotations) if annotations else None,
        }
    )


def docker_reference(ref: Reference) -> str:
    """The identity cosign signs for a registry image: the repository with its registry,
    Docker Hub spelled as go-containerregistry spells it."""
    host = "index.docker.io" if ref.host == DOCKER_HUB else ref.host
    return f"{host}/{ref.repository}"


def same_identity(a: str, b: str) -> bool:
    """Docker Hub has several names; everything else compares exactly."""

    def norm(x: str) -> str:
        for hub in ("index.docker.io/", "docker.io/", f"{DOCKER_HUB}/"):
            if x.startswith(hub):
                rest = x[len(hub) :]
                return "docker.io/" + (rest if "/" in rest else f"library/{rest}")
        return x

    return norm(a) == norm(b)


def parse_payload(data: bytes) -> SimpleSigning:
    if len(data) > MAX_PAYLOAD_BYTES:
        raise PayloadError(f"the payload is larger than {MAX_PAYLOAD_BYTES} bytes")
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise PayloadError("the payload is not JSON") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("critical"), dict):
        raise PayloadError("the payload has no 'critical' section")
    critical = doc["critical"]
    kind = critical.get("type")
    if kind != SIGNATURE_TYPE:
        raise PayloadError(f"the payload's type is {str(kind)[:80]!r}, not {SIGNATURE_TYPE!r}")
    image, identity = critical.get("image"), critical.get("identity")
    digest = image.get("docker-manifest-digest") if isinstance(image, dict) else None
    reference = identity.get("docker-reference") if isinstance(identity, dict) else None
    if not isinstance(digest, str) or not digest:
        raise PayloadError("the payload names no image digest")
    if not isinstance(reference, str):
        raise PayloadError("the payload names no docker-reference")
    optional = doc.get("optional")
    if optional is not None and not isinstance(optional, dict):
        raise PayloadError("the payload's 'optional' section is not an object")
    return SimpleSigning(reference, digest, optional)
