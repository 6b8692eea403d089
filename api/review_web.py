"""The reviewer page's plumbing: templates, security headers, redirects, its errors.

The routes (``api.routes.review_page`` and ``api.routes.review_login``) render through
:func:`render` and find their reviewer through :data:`ReviewerDep` (any page) or
:data:`FormReviewerDep` (a form POST, whose CSRF token is checked).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated
from urllib.parse import urlencode

from fastapi import Depends, FastAPI, Form, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, PackageLoader

from api.review_session import ReviewSession, current_session, tokens_match
from api.review_views import NOTICES
from guardq.settings import DEMO_MODEL

PREFIX = "/review"

# Autoescape on for every template, whatever its name: all text is escaped.
templates = Jinja2Templates(env=Environment(loader=PackageLoader("api"), autoescape=True))

_HEADERS = {
    # Scripts and styles come only from /review/static: injected markup cannot run.
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    # The pages hold content under review: no caching, no referrer leaving the site.
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}


class LoginRequired(Exception):
    """No valid session: the browser is sent to the login form."""


class PageError(Exception):
    """A refusal shown as a page of its own (bad CSRF token, unknown item or filter)."""

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code


def base_path(request: Request) -> str:
    return request.scope.get("root_path", "") + PREFIX


def render(
    request: Request,
    name: str,
    reviewer: ReviewSession | None,
    status_code: int = 200,
    **context,
) -> Response:
    """The template ``name`` with the page's common context and security headers."""
    settings = request.app.state.settings
    context.update(
        base=base_path(request),
        reviewer=reviewer,
        # DESIGN.md: whatever shows the demo model's verdicts says it is no safety model.
        demo_model=Path(settings.model) == DEMO_MODEL,
        notice=NOTICES.get(request.query_params.get("notice", "")),
    )
    return templates.TemplateResponse(
        request, name, context, status_code=status_code, headers=_HEADERS
    )


def redirect(request: Request, path: str = "", **query: str) -> RedirectResponse:
    """303 to a page under /review: the browser follows with a GET, so reloading the
    page it lands on never posts a decision again."""
    url = base_path(request) + path + (f"?{urlencode(query)}" if query else "")
    return RedirectResponse(url, status_code=303)


def _reviewer(request: Request) -> ReviewSession:
    reviewer = current_session(request)
    if reviewer is None:
        raise LoginRequired
    return reviewer


def _form_reviewer(request: Request, csrf: Annotated[str, Form()] = "") -> ReviewSession:
    reviewer = _reviewer(request)
    if not tokens_match(reviewer.csrf_token, csrf):
        raise PageError(
            403, "The form's security token did not match: reload the page and try again."
        )
    return reviewer


ReviewerDep = Annotated[ReviewSession, Depends(_reviewer)]
FormReviewerDep = Annotated[ReviewSession, Depends(_form_reviewer)]


def install_page_support(app: FastAPI) -> None:
    """Mount the static files and the handlers of :class:`LoginRequired` and
    :class:`PageError` on ``app``."""

    async def login_required(request: Request, _exc: Exception) -> Response:
        return redirect(request, "/login")

    async def page_error(request: Request, exc: Exception) -> Response:
        status_code = exc.status_code if isinstance(exc, PageError) else 500
        reviewer = current_session(request)
        return render(request, "message.html", reviewer, status_code, heading=str(exc))

    app.add_exception_handler(LoginRequired, login_required)
    app.add_exception_handler(PageError, page_error)
    static = StaticFiles(packages=[("api", "static")])
    app.mount(f"{PREFIX}/static", static, name="review-static")
