"""Logging in to and out of the reviewer page (see :mod:`api.review_session`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from api.review_session import (
    LOGIN_COOKIE,
    LoginRefused,
    check_login,
    current_session,
    end_session,
    login_nonce,
    remember_login_nonce,
    start_session,
    tokens_match,
)
from api.review_web import PREFIX, FormReviewerDep, redirect, render

router = APIRouter(prefix=PREFIX, include_in_schema=False)


def _login_page(request: Request, error: str | None = None, status_code: int = 200) -> Response:
    nonce = login_nonce(request)
    response = render(request, "login.html", None, status_code, login_token=nonce, error=error)
    remember_login_nonce(request, response, nonce)
    return response


@router.get("/login")
def login_form(request: Request) -> Response:
    if current_session(request) is not None:
        return redirect(request)
    return _login_page(request)


@router.post("/login")
def login(
    request: Request,
    api_key: Annotated[str, Form()] = "",
    csrf: Annotated[str, Form()] = "",
) -> Response:
    """Check the pasted key (reviewer or admin only) and start a session with it."""
    if not tokens_match(request.cookies.get(LOGIN_COOKIE, ""), csrf):
        return _login_page(request, "The login form had expired: please try again.", 403)
    try:
        check_login(request, api_key)
    except LoginRefused as refused:
        return _login_page(request, refused.message, refused.status_code)
    response = redirect(request)
    start_session(request, response, api_key)
    return response


@router.post("/logout")
def logout(request: Request, _reviewer: FormReviewerDep) -> Response:
    response = redirect(request, "/login", notice="logged-out")
    end_session(request, response)
    return response
