"""Push to an OCI Distribution registry: blobs (skipped when the registry has them) and
manifests. Used to store signatures next to the image they sign; the client answers the
registry's 401 with a token for the push scope on its own."""

from __future__ import annotations

import hashlib
import json
import time

import httpx

from hullscan.blob import BlobRef
from hullscan.errors import HullscanError, shown
from hullscan.sources.registry_client import RegistryClient

#: waits before a manifest PUT is tried again after the registry said a blob it names,
#: just pushed, is unknown: docker-registry rewrites a blob's link file in place when
#: another client pushes the same blob (the empty config of every bundle), and a
#: manifest checked meanwhile finds the link empty
BLOB_UNKNOWN_WAITS = (0.1, 0.3, 0.9)


def _error_codes(resp: httpx.Response) -> list[str]:
    """The ``errors[].code`` of an OCI Distribution error body ([] if none)."""
    try:
        body = json.loads(resp.read()[:65536])
    except (ValueError, httpx.HTTPError):
        return []
    errors = body.get("errors") if isinstance(body, dict) else None
    if not isinstance(errors, list):
        return []
    return [e["code"] for e in errors if isinstance(e, dict) and isinstance(e.get("code"), str)]


def _refused(
    client: RegistryClient, code: int, what: str, reasons: list[str] | None = None
) -> HullscanError:
    name = client.ref.name
    if code in (401, 403):
        return HullscanError(
            f"{name}: the registry refused to store the {what} (HTTP {code}); "
            "pass credentials with push rights (--username, "
            "--password-stdin)"
        )
    said = f" ({shown(', '.join(reasons))})" if reasons else ""
    return HullscanError(f"{name}: the registry answered HTTP {code}{said} storing the {what}")


def blob_exists(client: RegistryClient, digest: str) -> bool:
    with client.request("HEAD", f"blobs/{digest}") as resp:
        return resp.status_code == 200


def push_blob(
    client: RegistryClient, data: bytes | BlobRef, what: str = "blob", digest: str | None = None
) -> str:
    """Upload ``data`` unless the repository has it already; returns its digest. A large
    blob is given as a file region with its (known) digest, and streamed."""
    if isinstance(data, bytes):
        digest, size = "sha256:" + hashlib.sha256(data).hexdigest(), len(data)
    elif digest is None or data.length is None:
        raise ValueError("a streamed blob needs its digest and length")
    else:
        size = data.length
    if blob_exists(client, digest):
        return digest
    with client.request(
        "POST", "blobs/uploads/", headers={"Content-Length": "0"}, content=b""
    ) as resp:
        if resp.status_code not in (201, 202):
            raise _refused(client, resp.status_code, what)
        location = resp.headers.get("Location")
        if resp.status_code == 201:  # some registries finish a mount or an empty upload
            return digest
    if not location:
        raise HullscanError(f"{client.ref.name}: the registry gave no upload location")
    url = httpx.URL(client.base).join(location)
    url = url.copy_merge_params({"digest": digest})
    with client.request(
        "PUT",
        f"blobs/uploads ({what})",
        url=str(url),
        content=data,
        headers={"Content-Type": "application/octet-stream", "Content-Length": str(size)},
    ) as resp:
        if resp.status_code not in (201, 204):
            raise _refused(client, resp.status_code, what)
    return digest


def put_manifest(
    client: RegistryClient, reference: str, data: bytes, media_type: str, what: str = "manifest"
) -> str:
    """PUT a manifest under a tag (or its digest); returns its digest."""
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    stored: str | None = None
    for wait in (*BLOB_UNKNOWN_WAITS, None):
        with client.request(
            "PUT", f"manifests/{reference}", content=data, headers={"Content-Type": media_type}
        ) as resp:
            if resp.status_code in (200, 201, 202):
                stored = resp.headers.get("Docker-Content-Digest")
                break
            reasons = _error_codes(resp)
            if wait is None or "MANIFEST_BLOB_UNKNOWN" not in reasons:
                raise _refused(client, resp.status_code, what, reasons)
        time.sleep(wait)
    if stored and stored != digest:
        raise HullscanError(
            f"{client.ref.name}: the registry stored the {what} as {shown(stored)}, not {digest}"
        )
    return digest


__all__ = ["blob_exists", "push_blob", "put_manifest"]
