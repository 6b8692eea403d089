"""Error bodies: every 422 entry names its field and none carries the submitted value.

FastAPI's default validation body echoes each offending value under ``input`` (and
sometimes under ``ctx``); for a moderation service that value is the very text that must
not be copied around, so both are dropped here and replaced by a readable ``field``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

# More errors than this in one request are summarised: the caller fixes a pattern, not
# a thousand lines.
MAX_REPORTED_ERRORS = 20

_PYDANTIC_PREFIXES = ("Value error, ", "Assertion failed, ")


@dataclass(frozen=True)
class FieldError:
    """One problem with one field of a request body; ``msg`` states the limit, if any."""

    loc: tuple[str | int, ...]
    msg: str
    type: str = "value_error"


class InputError(Exception):
    """Bad request content found after parsing (limits, item shapes): answered with 422."""

    def __init__(self, errors: Sequence[FieldError]) -> None:
        super().__init__("; ".join(f"{field_name(e.loc)}: {e.msg}" for e in errors))
        self.errors = tuple(errors)


def field_name(loc: Iterable[str | int]) -> str:
    """``("body", "items", 3, "text")`` as ``items[3].text``."""
    name = ""
    for part in loc:
        if isinstance(part, int):
            name += f"[{part}]"
        elif part in ("body", "query", "path", "header") and not name:
            continue
        else:
            name += f".{part}" if name else str(part)
    return name or "body"


def _entry(loc: Sequence[str | int], msg: str, kind: str) -> dict:
    for prefix in _PYDANTIC_PREFIXES:
        msg = msg.removeprefix(prefix)
    return {"loc": list(loc), "field": field_name(loc), "msg": msg, "type": kind}


def error_body(entries: list[dict]) -> dict:
    if len(entries) > MAX_REPORTED_ERRORS:
        more = len(entries) - MAX_REPORTED_ERRORS
        entries = entries[:MAX_REPORTED_ERRORS] + [
            {"loc": [], "field": "", "msg": f"and {more} more errors", "type": "truncated"}
        ]
    return {"detail": entries}


def pydantic_entry(error: dict) -> dict:
    """One of pydantic's errors as ``{loc, field, msg, type}``, without the input value."""
    loc, kind = tuple(error.get("loc", ())), error.get("type", "")
    if kind == "json_invalid":
        # loc is ("body", character offset): name the body, say where it broke.
        reason = (error.get("ctx") or {}).get("error")
        where = f" at character {loc[1]}" if len(loc) > 1 else ""
        detail = f" ({reason})" if isinstance(reason, str) else ""
        return _entry(("body",), f"not valid JSON{detail}{where}", kind)
    return _entry(loc, str(error.get("msg", "")), kind)


async def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
    entries = [pydantic_entry(error) for error in exc.errors()]
    return JSONResponse(status_code=422, content=error_body(entries))


async def _input_error(_request: Request, exc: InputError) -> JSONResponse:
    entries = [_entry(("body", *e.loc), e.msg, e.type) for e in exc.errors]
    return JSONResponse(status_code=422, content=error_body(entries))


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(InputError, _input_error)
