"""Errors in OpenAI's format on OpenAI's routes: ``{"error": {"message", "type", "param",
"code"}}``, which OpenAI's client libraries read (``openai.BadRequestError.message``...).

guardq's other routes answer ``{"detail": ...}``. Rather than a second set of error
handlers, every handler the app has is wrapped: on a path under one of
``OPENAI_PREFIXES`` its answer is rewritten into OpenAI's shape, keeping the status
(a 422 becomes OpenAI's 400) and headers (``Retry-After``, ``WWW-Authenticate``). The
messages are guardq's own, so they name the field and never quote content.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.responses import Response

from api.openai_shapes import error_body

OPENAI_PREFIXES = ("/v1/files", "/v1/batches")

_TYPES = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    403: "permission_error",
    404: "invalid_request_error",
    409: "invalid_request_error",
    413: "invalid_request_error",
    503: "server_error",
}
_CODES = {401: "invalid_api_key", 403: "insufficient_permissions", 404: "not_found"}


class OpenAIError(Exception):
    """An error to answer in OpenAI's format with ``status``."""

    def __init__(
        self, status: int, message: str, *, param: str | None = None, code: str | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.param, self.code = status, message, param, code


def is_openai_path(path: str) -> bool:
    return any(path == prefix or path.startswith(prefix + "/") for prefix in OPENAI_PREFIXES)


def _openai_error(_request: Request, exc: OpenAIError) -> JSONResponse:
    kind = _TYPES.get(exc.status, "server_error" if exc.status >= 500 else "invalid_request_error")
    return JSONResponse(error_body(exc.message, kind, exc.param, exc.code), exc.status)


def _rewrite(response: Response) -> Response:
    """guardq's ``{"detail": ...}`` answer as OpenAI's error object."""
    try:
        detail = json.loads(response.body).get("detail")
    except (ValueError, AttributeError):
        return response
    status = 400 if response.status_code == 422 else response.status_code
    param = code = None
    if isinstance(detail, list) and detail:
        first = detail[0]
        param, code = first.get("field") or None, first.get("type")
        message = f"{param}: {first.get('msg')}" if param else str(first.get("msg"))
        if len(detail) > 1:
            message += f" (and {len(detail) - 1} more problem(s))"
    elif isinstance(detail, dict):
        message = str(detail.get("msg", detail))
    else:
        message = str(detail)
    kind = _TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
    headers = {
        name: value
        for name, value in response.headers.items()
        if name.lower() not in ("content-length", "content-type")
    }
    body = error_body(message, kind, param, code or _CODES.get(status))
    return JSONResponse(body, status, headers=headers)


def _wrap(handler: Callable) -> Callable:
    async def wrapped(request: Request, exc: Exception) -> Response:
        response = handler(request, exc)
        if inspect.isawaitable(response):
            response = await response
        return _rewrite(response) if is_openai_path(request.url.path) else response

    return wrapped


def install_openai_errors(app: FastAPI) -> None:
    """Call after every other handler is installed: wraps them all (see the docstring)."""
    for exc_class, handler in list(app.exception_handlers.items()):
        app.exception_handlers[exc_class] = _wrap(handler)
    app.add_exception_handler(OpenAIError, _openai_error)
