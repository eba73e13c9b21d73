"""Authentication and request-size limits, as one ASGI middleware in front of the app:
nothing reaches a route without a valid key (when keys are configured), and no body
larger than the limit is read."""

from __future__ import annotations

import base64
import json
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hullscan.server.errors import HARBOR_ERROR, is_harbor
from hullscan.server.settings import ServerSettings

#: probes answer without a key: they reveal nothing and orchestrators call them bare
OPEN_PATHS = frozenset({"/healthz", "/readyz"})
#: the Kubernetes API server calls webhooks without hullscan's keys (it authenticates
#: the server by its certificate); these answer over HTTPS only, with their own body limit
ADMISSION_PATHS = frozenset({"/v1/admission", "/v1/admission/mutate"})
ADMISSION_MAX_BODY = 4 * 1024 * 1024


def presented_keys(headers: dict[str, str]) -> list[str]:
    """Keys a request offers: ``X-ScannerAdapter-API-Key``, ``Authorization: Bearer``,
    or ``Authorization: Basic`` (Harbor's registration form; the password is the key)."""
    keys = []
    if api_key := headers.get("x-scanneradapter-api-key"):
        keys.append(api_key)
    scheme, _, value = headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        keys.append(value.strip())
    elif scheme.lower() == "basic" and value.strip():
        try:
            _user, _, password = (
                base64.b64decode(value.strip(), validate=True).decode().partition(":")
            )
            keys.append(password)
        except ValueError:  # binascii.Error, UnicodeDecodeError, non-ASCII text
            pass  # not base64 text: the header offers no key
    return keys


class Guard:
    def __init__(self, app: ASGIApp, settings: ServerSettings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        admission = path in ADMISSION_PATHS
        keyless = admission or path in OPEN_PATHS
        if (
            self.settings.api_key_hashes
            and not keyless
            and not any(self.settings.key_valid(k) for k in presented_keys(headers))
        ):
            # a browser asks for Basic credentials (the key as the password) on the pages
            challenge = (
                b'Basic realm="hullscan"'
                if path == "/ui" or path.startswith("/ui/")
                else b'Bearer realm="hullscan"'
            )
            await _reject(
                send,
                path,
                401,
                "a valid API key is required (Authorization: "
                "Bearer KEY, X-ScannerAdapter-API-Key, or Basic "
                "with the key as the password)",
                [(b"www-authenticate", challenge)],
            )
            return
        limit = ADMISSION_MAX_BODY if admission else self.settings.max_body
        try:
            declared = int(headers.get("content-length", "0"))
        except ValueError:
            declared = 0
        if declared > limit:
            await _reject(send, path, 413, f"request body larger than {limit} bytes")
            return
        received = 0
        rejected = False

        async def bounded_receive() -> Message:
            # a chunked body over the limit: answer 413 now, and tell the app the client
            # went away, so it stops reading and whatever it answers is dropped
            nonlocal received, rejected
            if rejected:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    rejected = True
                    await _reject(send, path, 413, f"request body larger than {limit} bytes")
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            if not rejected:
                await send(message)

        await self.app(scope, bounded_receive, guarded_send)


async def _reject(
    send: Send, path: str, status: int, message: str, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    body = json.dumps({"error": {"message": message}}).encode()
    media = HARBOR_ERROR if is_harbor(path) else "application/json"
    headers: list[Any] = [
        (b"content-type", media.encode()),
        (b"content-length", str(len(body)).encode()),
        *(extra or []),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
