"""The reviewer page's session: the API key in a cookie, and the CSRF tokens of its forms.

A reviewer pastes their API key once; it is kept in an HttpOnly, SameSite=Strict cookie
(so page scripts cannot read it and other sites' requests do not carry it) together with
a random session id minted at login. Each form carries a CSRF token, the HMAC of that
session id under the key: new at every login, unforgeable without the key, and checked
without any server-side state. The login form, which has no session yet, is guarded by
a pre-session nonce in a cookie of its own that the form repeats (double submit).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from fastapi import Request, Response

from guardq.store.db import session_scope
from guardq.store.enums import KeyRole
from guardq.store.keys import ApiKeyInfo, verify_api_key

SESSION_COOKIE = "guardq_review"
LOGIN_COOKIE = "guardq_review_login"
COOKIE_PATH = "/review"
REVIEW_ROLES = (KeyRole.REVIEWER, KeyRole.LEAD, KeyRole.ADMIN)
# A working day: after it the reviewer pastes the key again.
SESSION_MAX_AGE_S = 12 * 3600
_SEPARATOR = "."


@dataclass(frozen=True)
class ReviewSession:
    """A logged-in reviewer: the key's details and the CSRF token of this session."""

    key: ApiKeyInfo
    csrf_token: str


class LoginRefused(Exception):
    """A key that may not use the reviewer page; ``message`` says why, for the login form."""

    def __init__(self, message: str, status_code: int) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code


def csrf_token(api_key: str, session_id: str) -> str:
    """The forms' token for one session: HMAC-SHA256 of the session id under the key."""
    return hmac.new(api_key.encode(), session_id.encode(), hashlib.sha256).hexdigest()


def tokens_match(expected: str, submitted: str | None) -> bool:
    """Constant-time comparison; an absent token never matches."""
    return bool(submitted) and hmac.compare_digest(expected.encode(), submitted.encode())


def check_login(request: Request, api_key: str) -> ApiKeyInfo:
    """The key behind ``api_key`` if it may review; raises :class:`LoginRefused` if not."""
    with session_scope(request.app.state.session_factory) as session:
        key = verify_api_key(session=session, key=api_key.strip())
    if key is None:
        raise LoginRefused("Unknown or revoked API key.", 401)
    if key.role not in REVIEW_ROLES:
        raise LoginRefused(
            f"This is a {key.role.value} key: the reviewer page needs a reviewer, lead or "
            "admin key. Producer keys submit content; they cannot review it.",
            403,
        )
    return key


def current_session(request: Request) -> ReviewSession | None:
    """The reviewer behind the request's cookie, or None (absent, forged, revoked, demoted)."""
    session_id, _, api_key = request.cookies.get(SESSION_COOKIE, "").partition(_SEPARATOR)
    if not session_id or not api_key:
        return None
    # The key is looked up on every request, so revoking it ends its sessions at once.
    try:
        key = check_login(request, api_key)
    except LoginRefused:
        return None
    return ReviewSession(key=key, csrf_token=csrf_token(api_key, session_id))


def _cookie_options(request: Request) -> dict:
    # Secure whenever the page is served over https; plain http stays usable on localhost.
    return dict(
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def start_session(request: Request, response: Response, api_key: str) -> None:
    """Set the session cookie for a key that :func:`check_login` accepted."""
    value = secrets.token_urlsafe(16) + _SEPARATOR + api_key.strip()
    response.set_cookie(
        SESSION_COOKIE, value, max_age=SESSION_MAX_AGE_S, **_cookie_options(request)
    )
    response.delete_cookie(LOGIN_COOKIE, **_cookie_options(request))


def end_session(request: Request, response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, **_cookie_options(request))


def login_nonce(request: Request) -> str:
    """The login form's token: the browser's pre-session nonce, or a new one."""
    return request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(16)


def remember_login_nonce(request: Request, response: Response, nonce: str) -> None:
    """Set the cookie that a login POST must repeat in its form."""
    response.set_cookie(LOGIN_COOKIE, nonce, max_age=3600, **_cookie_options(request))
