"""The admission webhook's HTTP side: ``POST /v1/admission`` (validating) and
``POST /v1/admission/mutate`` (pins tags by digest), the routes ``hullscan server``
mounts. TLS is mandatory: the API server calls webhooks over HTTPS only, and a request
that reached the server over plain HTTP is refused (421) without being judged. With
``--admission-client-ca``, a request without a client certificate that CA signed is
refused too (401; 403 for a name not listed)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from hullscan.admission.webhook import MAX_BODY_BYTES, AdmissionWebhook


async def _body(request: Request) -> bytes | None:
    """The body, or None past ``MAX_BODY_BYTES`` (read no further)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        return None
    out = bytearray()
    async for chunk in request.stream():
        out += chunk
        if len(out) > MAX_BODY_BYTES:
            return None
    return bytes(out)


@dataclass(frozen=True)
class ClientRule:
    """Who may call the webhook: a client certificate verified against the server's
    ``--admission-client-ca`` (``server.tls``), with one of ``names`` as its common name
    when any are given."""

    names: tuple[str, ...] = ()

    def refusal(self, request: Request) -> JSONResponse | None:
        tls = (request.scope.get("extensions") or {}).get("tls") or {}
        if not tls.get("client_cert_chain"):
            return JSONResponse(
                {
                    "error": "admission requires a client certificate signed "
                    "by the server's --admission-client-ca"
                },
                status_code=401,
            )
        if self.names and tls.get("client_cert_name") not in self.names:
            return JSONResponse(
                {
                    "error": f"client certificate "
                    f"{tls.get('client_cert_name')!r} is not one of "
                    "--admission-client-name"
                },
                status_code=403,
            )
        return None


def _endpoint(
    handle: Callable[[bytes], tuple[int, dict[str, Any]]], client: ClientRule | None
) -> Any:
    async def endpoint(request: Request) -> Response:
        if request.url.scheme != "https":
            return JSONResponse(
                {
                    "error": "admission is served over HTTPS only: start "
                    "hullscan server with --tls-cert and --tls-key"
                },
                status_code=421,
            )
        if client is not None and (refused := client.refusal(request)) is not None:
            return refused
        body = await _body(request)
        if body is None:
            return JSONResponse(
                {"error": f"request body larger than {MAX_BODY_BYTES} bytes"}, status_code=413
            )
        kind = request.headers.get("content-type", "").split(";")[0].strip()
        if kind != "application/json":
            return JSONResponse(
                {"error": "expected Content-Type: application/json"}, status_code=415
            )
        status, doc = await run_in_threadpool(handle, body)
        return JSONResponse(doc, status_code=status)

    return endpoint


def routes(webhook: AdmissionWebhook, client: ClientRule | None = None) -> list[Route]:
    """The webhook's routes; ``client``: who may call them (None: any HTTPS client)."""
    return [
        Route("/v1/admission", _endpoint(webhook.validate, client), methods=["POST"]),
        Route("/v1/admission/mutate", _endpoint(webhook.mutate, client), methods=["POST"]),
    ]


__all__ = ["ClientRule", "routes"]
