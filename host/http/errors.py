"""Errors of the HTTP face in OpenAI's shape: `{"error": {"message", "type", "param", "code"}}`
with the status OpenAI gives the same trouble, so any OpenAI client raises its usual exception
(NotFoundError, AuthenticationError, RateLimitError, BadRequestError, ...)."""

from __future__ import annotations

import logging
from typing import Any, Sequence

import grpc
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

log = logging.getLogger("host.http")

INVALID_REQUEST = "invalid_request_error"
AUTHENTICATION = "authentication_error"
RATE_LIMIT = "rate_limit_error"
SERVER_ERROR = "server_error"
TOO_LARGE = "request_too_large"
_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: TOO_LARGE}


class ApiError(Exception):
    """A request the HTTP face answers with an error: its status, OpenAI error type and code,
    the request field at fault (`param`) and extra headers (Retry-After)."""

    def __init__(
        self,
        status: int,
        message: str,
        type: str = INVALID_REQUEST,
        code: str | None = None,
        param: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.type, self.code, self.param = status, message, type, code, param
        self.headers = headers or {}

    def response(self) -> JSONResponse:
        body = {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}
        return JSONResponse(body, status_code=self.status, headers=self.headers)


def unknown_model(model: str, known: str) -> ApiError:
    """404 for a `model` that is no agent and not the router."""
    return ApiError(
        404, f"the model {model!r} does not exist; models here: {known}", code="model_not_found", param="model"
    )


#: The router's gRPC status -> (HTTP status, OpenAI error type, code).
_FROM_GRPC: dict[grpc.StatusCode, tuple[int, str, str]] = {
    grpc.StatusCode.INVALID_ARGUMENT: (400, INVALID_REQUEST, "invalid_request"),
    grpc.StatusCode.FAILED_PRECONDITION: (400, INVALID_REQUEST, "no_provider"),
    grpc.StatusCode.OUT_OF_RANGE: (400, INVALID_REQUEST, "invalid_request"),
    grpc.StatusCode.NOT_FOUND: (404, INVALID_REQUEST, "not_found"),
    grpc.StatusCode.RESOURCE_EXHAUSTED: (429, "insufficient_quota", "budget_exhausted"),
    grpc.StatusCode.UNAVAILABLE: (503, SERVER_ERROR, "unavailable"),
    grpc.StatusCode.DEADLINE_EXCEEDED: (504, SERVER_ERROR, "timeout"),
}
BUDGET_RETRY_AFTER_S = 60
"""What a 429 for an exhausted budget tells the client to wait: a budget frees at its period's end
or when an operator raises it, neither of which the router says; a minute keeps clients from
hammering it."""


def from_grpc(code: grpc.StatusCode, details: str, what: str = "the router") -> ApiError:
    """The HTTP error for a gRPC status of `what` (the router), its details as the message."""
    status, kind, name = _FROM_GRPC.get(code, (502, SERVER_ERROR, "upstream_error"))
    headers = {"Retry-After": str(BUDGET_RETRY_AFTER_S)} if status == 429 else None
    return ApiError(status, f"{what}: {details or code.name}", kind, name, headers=headers)


def validation_message(errors: Sequence[Any]) -> tuple[str, str | None]:
    """One line for the first of a request's validation problems (pydantic's error dicts, their
    `loc` led by where the value came from: "body" is left out, "header" kept), and the field at
    fault."""
    if not errors:
        return "the request is not valid", None
    first: dict[str, Any] = errors[0]
    where = [str(p) for p in first.get("loc", ()) if p != "body"]
    if first.get("type") == "json_invalid":
        return f"the body is not valid JSON: {first.get('ctx', {}).get('error', first.get('msg', ''))}", None
    field = ".".join(where) or None
    said = str(first.get("msg", "invalid"))
    more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
    return (f"{field}: {said}" if field else said) + more, field


def install(app: FastAPI) -> None:
    """Answer every error in OpenAI's shape: ours, request validation (400, not FastAPI's 422),
    unknown routes and methods, and anything unforeseen (500, logged)."""

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return exc.response()

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        message, field = validation_message(exc.errors())
        return ApiError(400, message, param=field).response()

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        kind = INVALID_REQUEST if exc.status_code < 500 else SERVER_ERROR
        code = _HTTP_CODES.get(exc.status_code)
        message = f"no route {request.method} {request.url.path}" if exc.status_code == 404 else str(exc.detail)
        return ApiError(exc.status_code, message, kind, code, headers=dict(exc.headers or {})).response()

    @app.exception_handler(Exception)
    async def crashed(request: Request, exc: Exception) -> JSONResponse:
        log.exception("HTTP %s %s failed", request.method, request.url.path)
        return ApiError(500, f"internal error: {type(exc).__name__}: {exc}", SERVER_ERROR).response()
