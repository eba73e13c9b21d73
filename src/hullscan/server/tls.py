"""Client certificates on the server's HTTPS listener, for the admission webhook.

Kubernetes' API server can present a client certificate to its webhooks (its admission
configuration's kubeconfig). With ``--admission-client-ca`` the listener asks every
client for one and OpenSSL verifies a presented certificate against that CA during the
handshake (a bad one ends the connection); clients without one (Harbor, the API's
users) are still served. uvicorn does not tell the application what was presented, so
this protocol passes it on as ASGI's TLS extension (``scope["extensions"]["tls"]``:
``client_cert_chain``, ``client_cert_name``), which the admission routes require.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send


def client_name(peer: dict[str, Any]) -> str | None:
    """The common name of a verified peer certificate (``SSLSocket.getpeercert()``)."""
    for rdn in peer.get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                return str(value)
    return None


def _with_tls(app: ASGIApp, tls: dict[str, Any]) -> ASGIApp:
    async def asgi(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            scope = {**scope, "extensions": {**(scope.get("extensions") or {}), "tls": tls}}
        await app(scope, receive, send)

    return asgi


def client_cert_protocol() -> type[asyncio.Protocol]:
    """uvicorn's own HTTP/1.1 protocol (httptools if installed, else h11: its ``auto``),
    telling each request its connection's verified client certificate."""
    from uvicorn.protocols.http.auto import AutoHTTPProtocol

    base: type[Any] = AutoHTTPProtocol

    class ClientCertProtocol(base):  # type: ignore[misc]
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            super().connection_made(transport)
            ssl_object = transport.get_extra_info("ssl_object")
            der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
            # only a certificate the CA verified gets this far (CERT_OPTIONAL): a bad one
            # failed the handshake
            peer = ssl_object.getpeercert() if der else None
            app: ASGIApp = self.app  # type: ignore[has-type]  # set by uvicorn
            self.app = _with_tls(
                app,
                {
                    "client_cert_chain": [ssl.DER_cert_to_PEM_cert(der)] if der else [],
                    "client_cert_name": client_name(peer) if peer else None,
                    "client_cert_error": None,
                },
            )

    return ClientCertProtocol
