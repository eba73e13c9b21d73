"""The ASGI application: both APIs, the pages, probes and metrics behind the guard (keys,
body size), the admission webhook (HTTPS, no key: the API server presents none), and
one OpenAPI document for the APIs at ``/openapi.json``."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp

from hullscan import __version__
from hullscan.errors import HullscanError
from hullscan.server import api, harbor, metrics, ui
from hullscan.server.errors import error, is_harbor
from hullscan.server.guard import Guard
from hullscan.server.services import Services

_ERROR_SCHEMA = {
    "type": "object",
    "properties": {"error": {"type": "object", "properties": {"message": {"type": "string"}}}},
}


def create_app(svc: Services) -> ASGIApp:
    app = FastAPI(
        title="hullscan",
        version=__version__,
        summary=("Container-image scans: Harbor's Pluggable Scanner API v1.2 and hullscan's own"),
    )
    app.state.services = svc
    app.include_router(harbor.router)
    app.include_router(api.router)
    app.include_router(ui.router)
    if svc.admission is not None:
        from hullscan.admission.app import ClientRule, routes

        settings = svc.settings
        client = (
            ClientRule(settings.admission_client_names)
            if settings.admission_client_ca is not None
            else None
        )
        app.router.routes.extend(routes(svc.admission, client))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, e: RequestValidationError) -> JSONResponse:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"] if p != "body") or "request"
        return error(422, f"{where}: {first['msg']}", harbor=is_harbor(request.url.path))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, e: HTTPException) -> JSONResponse:
        return error(e.status_code, str(e.detail), harbor=is_harbor(request.url.path))

    open_: dict[str, Any] = {"security": []}  # probes answer without a key

    @app.get("/healthz", tags=["operations"], summary="The process is up", openapi_extra=open_)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(
        "/readyz",
        tags=["operations"],
        summary="The store and the queue are reachable",
        openapi_extra=open_,
        responses={503: {"content": {"application/json": {"schema": _ERROR_SCHEMA}}}},
    )
    def readyz() -> Any:
        try:
            svc.store.ping()
            svc.queue.ping()
        except HullscanError as e:
            return error(503, str(e))
        return {"status": "ready"}

    @app.get(
        "/metrics",
        tags=["operations"],
        summary="Prometheus metrics",
        response_class=Response,
        responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
    )
    def prometheus() -> Response:
        return Response(metrics.render(svc), media_type="text/plain; version=0.0.4; charset=utf-8")

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            from fastapi.openapi.utils import get_openapi

            doc = get_openapi(
                title=app.title, version=app.version, summary=app.summary, routes=app.routes
            )
            # Harbor's scan request is parsed by hand (400 vs 422, media types): document it
            defs = harbor.ScanRequest.model_json_schema(ref_template="#/components/schemas/{model}")
            schemas = doc.setdefault("components", {}).setdefault("schemas", {})
            schemas.update(defs.pop("$defs", {}))
            schemas["ScanRequest"] = defs
            doc["components"]["securitySchemes"] = {
                "bearer": {"type": "http", "scheme": "bearer"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-ScannerAdapter-API-Key"},
            }
            doc["security"] = [{"bearer": []}, {"apiKey": []}]
            app.openapi_schema = doc
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return Guard(app, svc.settings)
