"""Errors -> HTTP answers, in one place. Every answer has the contract's shape:
``{"detail": "...", "code": "...", "field": "..."}``; never a stack trace.
"""

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from oryx_runner.application.ports import StorageUnavailable
from oryx_runner.domain.errors import (
    Conflict,
    DomainError,
    InvalidValue,
    MethodNotAllowed,
    NotAuthenticated,
    NotFound,
    PermissionDenied,
)

log = logging.getLogger(__name__)

STATUS_BY_ERROR: dict[type[DomainError], int] = {
    InvalidValue: 422,
    NotFound: 404,
    Conflict: 409,
    PermissionDenied: 403,
    NotAuthenticated: 401,
    MethodNotAllowed: 405,
}

MAX_ERRORS_LISTED = 20

CODE_BY_STATUS = {
    400: "bad_request",
    401: "not_authenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_input",
    429: "too_many_requests",
}


class ApiError(Exception):
    """Raised by the API layer itself (missing header, bad token format, ...)."""

    def __init__(
        self, status: int, detail: str, *, code: str | None = None, field: str | None = None
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.code = code or CODE_BY_STATUS.get(status, "error")
        self.field = field


def error_body(detail: str, code: str, field: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"detail": detail, "code": code}
    if field is not None:
        body["field"] = field
    return body


def _headers(status: int) -> dict[str, str] | None:
    return {"WWW-Authenticate": "Bearer"} if status == 401 else None


async def _domain_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    status = next((s for t, s in STATUS_BY_ERROR.items() if isinstance(exc, t)), 400)
    headers = _headers(status) or {}
    if status == 401 and isinstance(exc, NotAuthenticated):
        headers = {"WWW-Authenticate": 'ApiKey header="X-API-Key"'}
    if isinstance(exc, MethodNotAllowed):
        headers["Allow"] = ", ".join(exc.allowed)
    return JSONResponse(
        error_body(exc.message, exc.code, exc.field), status_code=status, headers=headers
    )


async def _api_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return JSONResponse(
        error_body(exc.detail, exc.code, exc.field),
        status_code=exc.status,
        headers=_headers(exc.status),
    )


def _field_of(loc: tuple[Any, ...]) -> str | None:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or None


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    first = errors[0] if errors else {"loc": (), "msg": "invalid input", "type": ""}
    if first.get("type") == "json_invalid":
        return JSONResponse(
            error_body("the request body is not valid JSON", "malformed_json"), status_code=422
        )
    field = _field_of(tuple(first.get("loc", ())))
    message = str(first.get("msg", "invalid input"))
    if field:
        detail = f"{field}: {message}"
    elif tuple(first.get("loc", ())) == ("body",):
        # the body as a whole: missing, not an object, or not sent as JSON
        detail = f"send a JSON object with Content-Type: application/json ({message})"
    else:
        detail = message
    body = error_body(detail, "invalid_input", field)
    # a few are enough to act on; all of them would let a 1 MB body buy a 6 MB answer
    body["errors"] = [
        {"field": _field_of(tuple(e.get("loc", ()))), "message": str(e.get("msg", ""))}
        for e in errors[:MAX_ERRORS_LISTED]
    ]
    return JSONResponse(body, status_code=422)


def _allowed_methods(request: Request) -> list[str]:
    # Starlette's Allow names the methods of the first route on the path only (GET for
    # /me although PUT /me exists): ask every route about every method instead.
    routes = request.app.router.routes
    return [
        method
        for method in ("DELETE", "GET", "PATCH", "POST", "PUT")
        if any(r.matches({**request.scope, "method": method})[0] is Match.FULL for r in routes)
    ]


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    status, headers = exc.status_code, dict(exc.headers or {})
    code = CODE_BY_STATUS.get(status, "error")
    detail = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
    if status == 400 and isinstance(exc.__cause__, ValueError | RecursionError):
        # FastAPI's 400 for a body json.loads could not decode (not UTF-8, nested too deep)
        return JSONResponse(
            error_body("the request body is not valid JSON", "malformed_json"), status_code=422
        )
    if status == 404 and detail == "Not Found":
        detail = f"no route {request.url.path}; see {request.app.openapi_url} for the routes"
    elif status == 405:
        allowed = _allowed_methods(request)
        headers["Allow"] = ", ".join(allowed)
        detail = f"{request.method} is not allowed on {request.url.path}; use {', '.join(allowed)}"
    return JSONResponse(error_body(detail, code), status_code=status, headers=headers or None)


async def _storage_unavailable(_: Request, exc: Exception) -> JSONResponse:
    log.warning("database unavailable: %s", exc)
    return JSONResponse(
        error_body("the database is unavailable for a moment; try again", "storage_unavailable"),
        status_code=503,
        headers={"Retry-After": "1"},
    )


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return JSONResponse(
        error_body("internal error; the server log has the details", "internal_error"),
        status_code=500,
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(StorageUnavailable, _storage_unavailable)
    app.add_exception_handler(Exception, _unexpected)
