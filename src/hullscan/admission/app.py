"""Serve the admission webhook over HTTPS: ``POST /v1/admission`` (validating) and
``POST /v1/admission/mutate`` (pins tags by digest). ``routes()`` are what a larger
ASGI app (``hullscan server``) mounts; ``serve()`` runs them alone, TLS mandatory: the
API server only calls webhooks over HTTPS."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from hullscan.admission.webhook import MAX_BODY_BYTES, AdmissionWebhook
from hullscan.errors import HullscanError


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


def _endpoint(handle: Callable[[bytes], tuple[int, dict[str, Any]]]) -> Any:
    async def endpoint(request: Request) -> Response:
        body = await _body(request)
        if body is None:
            return JSONResponse({"error": f"request body larger than {MAX_BODY_BYTES} "
                                 "bytes"}, status_code=413)
        kind = request.headers.get("content-type", "").split(";")[0].strip()
        if kind != "application/json":
            return JSONResponse({"error": "expected Content-Type: application/json"},
                                status_code=415)
        status, doc = await run_in_threadpool(handle, body)
        return JSONResponse(doc, status_code=status)

    return endpoint


def routes(webhook: AdmissionWebhook) -> list[Route]:
    return [Route("/v1/admission", _endpoint(webhook.validate), methods=["POST"]),
            Route("/v1/admission/mutate", _endpoint(webhook.mutate), methods=["POST"])]


def create_app(webhook: AdmissionWebhook) -> Starlette:
    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        yield
        webhook.close()

    return Starlette(routes=[*routes(webhook), Route("/healthz", healthz)],
                     lifespan=lifespan)


def serve(app: Starlette, listen: str, cert: Path | None, key: Path | None) -> None:
    """Serve ``app`` with TLS (a certificate and its key are required)."""
    import uvicorn

    if cert is None or key is None:
        raise HullscanError("the admission webhook needs TLS: give --tls-cert FILE and "
                            "--tls-key FILE (the API server calls webhooks over HTTPS only)")
    for path in (cert, key):
        if not path.is_file():
            raise HullscanError(f"{path}: not found")
    host, _, port = listen.rpartition(":")
    if not host or not port.isdigit():
        raise HullscanError(f"--listen {listen!r}: expected HOST:PORT")
    uvicorn.run(app, host=host.strip("[]"), port=int(port), ssl_certfile=str(cert),
                ssl_keyfile=str(key), log_level="warning")


__all__ = ["create_app", "routes", "serve"]
