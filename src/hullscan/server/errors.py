"""One error body everywhere: Harbor's ``ErrorResponse`` (``{"error": {"message"}}``),
with Harbor's media type on Harbor's paths."""

from __future__ import annotations

from fastapi.responses import JSONResponse

HARBOR_ERROR = "application/vnd.scanner.adapter.error+json; version=1.0"


def error(
    status: int, message: str, *, harbor: bool = False, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        {"error": {"message": message}},
        status_code=status,
        media_type=HARBOR_ERROR if harbor else "application/json",
        headers=headers,
    )


def is_harbor(path: str) -> bool:
    return path.startswith("/api/v1/")
