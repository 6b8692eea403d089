"""Per-key rate limits: requests and items per minute, shared by every API process.

A key may carry ``rpm`` (requests per minute: every request it authenticates) and
``ipm`` (items per minute: every item it submits, a bulk job's as much as a realtime
one's), set by ``guardq keys create --rpm N --ipm N`` and changed by ``guardq keys
limits``. The counts live in Redis (the broker's), kept by the ``limits`` library's
moving window: exact over the last 60 seconds, whichever API process served the
requests. A key without limits costs no Redis round trip.

Answers carry OpenAI's headers, ``x-ratelimit-limit-requests``,
``x-ratelimit-remaining-requests``, ``x-ratelimit-reset-requests`` and the same trio
with ``-tokens`` for items; over a limit the answer is 429 with ``Retry-After`` (whole
seconds until the window frees room). Redis down is the broker's 503 (``api.outage``):
the library's Redis errors are left unwrapped for that.
"""

from __future__ import annotations

import math
import time
from typing import Any

from fastapi import HTTPException, Request, status
from limits import RateLimitItemPerMinute
from limits.storage import RedisStorage
from limits.strategies import MovingWindowRateLimiter
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import FieldError, InputError
from guardq.store.keys import ApiKeyInfo

REQUESTS = "requests"
# OpenAI's name for the second limit; here it counts items.
ITEMS = "tokens"

_NAMESPACE = "guardq"
_REDIS_TIMEOUT_S = 2.0


def _limiter(state: Any) -> MovingWindowRateLimiter:
    limiter = getattr(state, "rate_limiter", None)
    if limiter is None:
        if state.settings.broker_url is None:
            raise HTTPException(
                status.HTTP_503_SERVICE_UNAVAILABLE,
                "this key has rate limits and GUARDQ_BROKER_URL (their Redis) is not set",
            )
        storage = RedisStorage(
            state.settings.broker_url,
            key_prefix="guardq-ratelimit",
            socket_timeout=_REDIS_TIMEOUT_S,
            socket_connect_timeout=_REDIS_TIMEOUT_S,
        )
        limiter = state.rate_limiter = MovingWindowRateLimiter(storage)
    return limiter


def reset_text(seconds: float) -> str:
    """A duration as OpenAI writes it in ``x-ratelimit-reset-*``: ``1s``, ``6m0s``."""
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.3g}s" if seconds < 1 else f"{round(seconds)}s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes}m{rest}s"


def charge(request: Request, key: ApiKeyInfo, kind: str, cost: int) -> None:
    """Count ``cost`` requests or items (``kind``) against ``key``'s limit; 429 over it.

    The headers are kept on ``request.state``: ``RateHeaders`` adds them to whatever
    answer the request gets (a 404 raised later included), the 429 carries them itself.
    """
    limit = key.rpm if kind == REQUESTS else key.ipm
    if limit is None:
        return
    if cost > limit:
        # No wait makes such a request fit: say so instead of a 429 to retry forever.
        raise InputError(
            [
                FieldError(
                    ("items",),
                    f"{cost} items, more than this key's limit of {limit} items per minute; "
                    "split the request",
                    "over_rate_limit",
                )
            ]
        )
    limiter = _limiter(request.app.state)
    item = RateLimitItemPerMinute(limit, namespace=_NAMESPACE)
    identity = f"{kind}:{key.id}"
    allowed = limiter.hit(item, identity, cost=cost)
    stats = limiter.get_window_stats(item, identity)
    wait = stats.reset_time - time.time()
    headers = dict(getattr(request.state, "rate_headers", {}))
    headers.update(
        {
            f"x-ratelimit-limit-{kind}": str(limit),
            f"x-ratelimit-remaining-{kind}": str(stats.remaining),
            f"x-ratelimit-reset-{kind}": reset_text(wait),
        }
    )
    request.state.rate_headers = headers
    if not allowed:
        what = "requests" if kind == REQUESTS else "items"
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            f"rate limit: this key may send {limit} {what} per minute; "
            f"try again in {max(1, math.ceil(wait))} s",
            headers={**headers, "Retry-After": str(max(1, math.ceil(wait)))},
        )


class RateHeaders:
    """ASGI middleware: the ``x-ratelimit-*`` headers ``charge`` left on the request's
    state, added to its answer (names the answer already has are left alone)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                extra = scope.get("state", {}).get("rate_headers")
                if extra:
                    headers = list(message.get("headers", ()))
                    have = {name.lower() for name, _ in headers}
                    for name, value in extra.items():
                        if name.encode() not in have:
                            headers.append((name.encode(), value.encode()))
                    message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)
