"""The bound on one request's body, enforced before anything parses it.

A body announced (``Content-Length``) over ``GUARDQ_MAX_BODY_BYTES`` is answered 413
without reading a byte of it; a body sent in chunks is read up to the limit and
answered 413 the moment it passes it, so no request costs more memory than the limit.
Compressed bodies (any ``Content-Encoding`` but identity) are refused with 415: nothing
here decompresses, so no small body can expand into a large one.
"""

from __future__ import annotations

import json

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import error_body


class BodyLimit:
    """ASGI middleware: at most ``max_bytes`` of request body, uncompressed."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        encoding = headers.get("content-encoding", "identity").strip().lower()
        if encoding not in ("", "identity"):
            await _refuse(
                send,
                415,
                f"Content-Encoding {encoding!r} is not accepted; send the body uncompressed",
                "compressed_body",
            )
            return
        length = headers.get("content-length", "")
        if length.isdigit() and int(length) > self.max_bytes:
            await self._too_large(send, f"{int(length)} bytes")
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":
                # The client left before sending its body: nothing to answer.
                return
            body += message.get("body", b"")
            if len(body) > self.max_bytes:
                await self._too_large(send, f"more than {self.max_bytes} bytes")
                return
            if not message.get("more_body", False):
                break
        await self.app(scope, _replay(bytes(body), receive), send)

    async def _too_large(self, send: Send, size: str) -> None:
        await _refuse(
            send,
            413,
            f"the request body is {size}, over the limit of {self.max_bytes} "
            "(GUARDQ_MAX_BODY_BYTES)",
            "body_too_large",
        )


def _replay(body: bytes, receive: Receive) -> Receive:
    """The body read above, then the real channel (which reports a disconnect)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _refuse(send: Send, status: int, msg: str, kind: str) -> None:
    entry = {"loc": ["body"], "field": "body", "msg": msg, "type": kind}
    content = json.dumps(error_body([entry])).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(content)).encode()),
                # The rest of the body is not read: this connection cannot serve another.
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": content})
