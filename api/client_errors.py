"""Errors in the format of the client an endpoint speaks: OpenAI (the Batch API's
``/v1/files`` and ``/v1/batches``), vLLM (``/v1/chat/completions``, ``/v1/models``,
LiteLLM's guardrail) and Dify.

guardq's own routes answer ``{"detail": ...}``; a client pointed at guardq instead of
OpenAI, vLLM or a Dify extension reads its own shape. This module is the one place
such answers are made: each of those routers sets one of the route classes below
(``route_class=``), which catches every error of a request, from the API key check,
body parsing, content rules, the wait and an unreachable store alike, and renders it
with its client's function; the status stays the same, except that a body that fails
parsing is a 400 (vLLM and OpenAI answer 400 there, not FastAPI's 422). As in
``api.errors``, no message quotes the submitted content.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from http import HTTPStatus
from typing import Any, ClassVar

import psycopg
from fastapi import HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from sqlalchemy.exc import DBAPIError

from api.errors import InputError, field_name, pydantic_entry
from api.openai_shapes import error_body
from api.outage import (
    BROKER_DOWN,
    BROKER_ERRORS,
    DATABASE_DOWN,
    RETRY_AFTER,
    database_unreachable,
)

Render = Callable[[int, str, str | None, str | None], dict[str, Any]]


class ClientError(Exception):
    """An answer in the client's error format: ``status``, a message, the field and,
    where the format has one, a machine-readable ``code`` (OpenAI's)."""

    def __init__(
        self,
        status: int,
        message: str,
        param: str | None = None,
        headers: dict[str, str] | None = None,
        *,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.param, self.headers = status, message, param, headers
        self.code = code


def _joined(entries: Sequence[tuple[str, str]]) -> tuple[str, str | None]:
    message = "; ".join(f"{field}: {msg}" if field else msg for field, msg in entries)
    return message, (entries[0][0] or None) if entries else None


def _detail_message(detail: Any) -> str:
    if isinstance(detail, dict) and "msg" in detail:
        extra = f" (job {detail['job_id']}: {detail['status_url']})" if "job_id" in detail else ""
        return f"{detail['msg']}{extra}"
    return str(detail)


def _answer(exc: Exception) -> ClientError:
    """An error as a ``ClientError``; raises again what is not an answer."""
    if isinstance(exc, ClientError):
        return exc
    if isinstance(exc, HTTPException):
        return ClientError(exc.status_code, _detail_message(exc.detail), None, exc.headers)
    if isinstance(exc, RequestValidationError):
        entries = [pydantic_entry(error) for error in exc.errors()]
        return ClientError(400, *_joined([(entry["field"], entry["msg"]) for entry in entries]))
    if isinstance(exc, InputError):
        return ClientError(400, *_joined([(field_name(e.loc), e.msg) for e in exc.errors]))
    if isinstance(exc, BROKER_ERRORS):
        return ClientError(503, BROKER_DOWN, None, RETRY_AFTER)
    if isinstance(exc, DBAPIError | psycopg.Error) and database_unreachable(exc):
        return ClientError(503, DATABASE_DOWN, None, RETRY_AFTER)
    raise exc


# OpenAI's error types and default codes by status.
_OPENAI_TYPES = {403: "permission_error"}
_OPENAI_CODES = {401: "invalid_api_key", 403: "insufficient_permissions", 404: "not_found"}


def openai_error(status: int, message: str, param: str | None, code: str | None) -> dict[str, Any]:
    """OpenAI's error body: ``type`` ``invalid_request_error`` for a 4xx (``permission_error``
    for a 403), ``server_error`` for a 5xx, and ``code`` naming the problem."""
    default = "server_error" if status >= 500 else "invalid_request_error"
    kind = _OPENAI_TYPES.get(status, default)
    return error_body(message, kind, param, code or _OPENAI_CODES.get(status))


def vllm_error(status: int, message: str, param: str | None, _code: str | None) -> dict[str, Any]:
    """vLLM's error body (``ErrorResponse``): OpenAI's ``{"error": {...}}`` with the
    HTTP status as ``code`` and its reason, in vLLM's spelling, as ``type``."""
    kind = HTTPStatus(status).phrase.replace(" ", "").replace("-", "") + "Error"
    return error_body(message, kind, param, status)


def dify_error(status: int, message: str, param: str | None, _code: str | None) -> dict[str, Any]:
    """Dify's API error shape (``message`` first: Dify shows an extension's failed answer
    by its first 100 characters)."""
    code = "invalid_param" if status == 400 else HTTPStatus(status).phrase.lower().replace(" ", "_")
    return {"message": message, "code": code, "status": status}


class ClientErrorRoute(APIRoute):
    """A route answering every error with ``render`` (set by a subclass)."""

    render: ClassVar[Render]

    def get_route_handler(self) -> Callable[[Request], Any]:
        handler = super().get_route_handler()
        render = type(self).render

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except Exception as exc:  # _answer raises again what is not an answer
                error = _answer(exc)
                body = render(error.status, error.message, error.param, error.code)
                return JSONResponse(body, error.status, headers=error.headers)

        return route


class OpenAIErrorRoute(ClientErrorRoute):
    render = staticmethod(openai_error)


class VLLMErrorRoute(ClientErrorRoute):
    render = staticmethod(vllm_error)


class DifyErrorRoute(ClientErrorRoute):
    render = staticmethod(dify_error)
