"""Every error the API returns is RFC 9457 `application/problem+json`, mapped here and only here.

`type` is a stable URN per error code (`urn:voc:problem:not_found`), so clients can switch on
it; `detail` is the message a user can act on; 422s carry `errors` with a JSON pointer (body),
a parameter name (query or path) or a header name per problem.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from voc.errors import VocError

log = logging.getLogger("voc.api")

PROBLEM_JSON = "application/problem+json"

TITLES = {
    "bad_request": "Body cannot be parsed",
    "unauthorized": "Missing or invalid API key",
    "forbidden": "The API key lacks a scope",
    "not_found": "Not found",
    "conflict": "Conflict",
    "payload_too_large": "Request too large",
    "rate_limited": "Too many requests",
    "validation_error": "Invalid request",
    "method_not_allowed": "Method not allowed",
    "config_error": "Invalid configuration",
    "input_error": "Input cannot be read",
    "store_error": "Database unavailable",
    "model_unavailable": "Model unavailable",
    "not_ready": "Service not ready",
    "internal_error": "Internal server error",
}

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    422: "validation_error",
    429: "rate_limited",
}


RETRY_AFTER_S = 5
"""Retry-After of a 503 whose cause passes by itself (database down or locked, start, stop)."""


def problem_type(code: str) -> str:
    return f"urn:voc:problem:{code}"


class ApiError(VocError):
    """Errors that only exist at the HTTP boundary; voc's own errors map by their `status`."""

    headers: dict[str, str] = {}


class UnauthorizedError(ApiError):
    code = "unauthorized"
    status = 401
    headers = {"WWW-Authenticate": "Bearer"}


class ForbiddenError(ApiError):
    code = "forbidden"
    status = 403


class ConflictError(ApiError):
    code = "conflict"
    status = 409


class PayloadTooLargeError(ApiError):
    code = "payload_too_large"
    status = 413


class NotReadyError(ApiError):
    code = "not_ready"
    status = 503


class RateLimitedError(ApiError):
    code = "rate_limited"
    status = 429

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message, retry_after=retry_after)
        self.headers = {"Retry-After": str(retry_after)}


def problem(
    status: int,
    code: str,
    detail: str,
    instance: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": problem_type(code),
        "title": TITLES.get(code, code.replace("_", " ").capitalize()),
        "status": status,
        "detail": detail,
        "code": code,
    }
    if instance:
        body["instance"] = instance
    body.update(extra)
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_JSON)


def _voc_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, VocError)
    if exc.status >= 500:
        log.error("request_failed path=%s code=%s", request.url.path, exc.code)
    extra = {k: v for k, v in exc.detail.items() if isinstance(v, str | int | float | bool)}
    extra.pop("code", None)
    headers = dict(getattr(exc, "headers", None) or {})
    if exc.status == 503 and (exc.detail.get("retryable") or exc.detail.get("retry_after")):
        # A database that is down or locked, or a server starting or stopping: worth retrying.
        headers.setdefault("Retry-After", str(exc.detail.get("retry_after") or RETRY_AFTER_S))
    return problem(exc.status, exc.code, exc.message, request.url.path, headers or None, **extra)


def _pointer(loc: tuple[Any, ...]) -> dict[str, str]:
    where, *rest = loc or ("body",)
    if where == "body":
        return {"pointer": "/" + "/".join(str(p) for p in rest) if rest else ""}
    if where == "header":
        return {"header": str(rest[0]) if rest else ""}
    return {"parameter": ".".join(str(p) for p in rest)}


def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [{**_pointer(tuple(e["loc"])), "detail": e["msg"]} for e in exc.errors()]
    first = errors[0] if errors else {"detail": "the request is invalid"}
    where = first.get("pointer") or first.get("parameter") or first.get("header") or "body"
    detail = f"{where}: {first['detail']}"
    if len(errors) > 1:
        detail += f" (and {len(errors) - 1} more problems, listed in errors)"
    return problem(422, "validation_error", detail, request.url.path, errors=errors)


def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
    if exc.status_code == 404 and detail == "Not Found":
        detail = f"no route {request.method} {request.url.path}; see /docs for the API."
    if exc.status_code == 400 and detail == "There was an error parsing the body":
        # FastAPI's words for a body that is not UTF-8 JSON (binary, another encoding).
        detail = (
            "the request body cannot be parsed: send UTF-8 JSON with Content-Type: "
            "application/json, or a file upload to .../uploads."
        )
    return problem(exc.status_code, code, detail, request.url.path, exc.headers)


def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.error(
        "request_crashed path=%s error=%s", request.url.path, type(exc).__name__, exc_info=exc
    )
    return problem(
        500,
        "internal_error",
        "the server failed to handle the request; it is logged, try again later.",
        request.url.path,
    )


class UnexpectedErrorMiddleware:
    """Answers an unexpected exception with a problem+json 500 and keeps the connection open.

    Starlette runs a handler for `Exception` in its outermost middleware, which re-raises after
    answering so that the server logs it; uvicorn then closes the keep-alive connection, and
    the client's next request on it fails as well (seen under load). Here the error is logged
    once, with its traceback, and the connection stays usable.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_wrapper(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except Exception as exc:
            if started:
                raise
            await _unexpected(Request(scope), exc)(scope, receive, send)


def install(app: FastAPI) -> None:
    """Register the handlers that turn every error into problem+json; call it before adding
    other middleware, so that they see the 500 an unexpected error becomes."""
    app.add_exception_handler(VocError, _voc_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_middleware(UnexpectedErrorMiddleware)
