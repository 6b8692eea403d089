"""Request and response bodies of the producer API.

Requests are parsed here for types and shapes; content rules that depend on settings
(sizes, counts) and on two fields together (an item's shape against the job's mode) are
checked in ``api.validation``, so that every message can name the field and the limit.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Annotated

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    StrictBool,
    StrictStr,
    field_validator,
)

from guardq.authors import MAX_AUTHOR_CHARS
from guardq.policy import Action
from guardq.store.enums import ItemStatus, JobStatus, Priority
from guardq.store.models import REF_LENGTH
from guardq.verdict import Mode, Severity

CALLBACK_URL_LENGTH = 2048
MAX_JOB_LISTS = 16


def _ipv6_pattern() -> str:
    """An IPv6 address as RFC 3986 writes it (``IPv6address``): eight groups, or fewer
    around one ``::``, the last two possibly an IPv4 address. No zone id (``%25eth0``)."""
    h16 = "[0-9A-Fa-f]{1,4}"
    octet = "(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
    ls32 = rf"(?:{h16}:{h16}|{octet}(?:\.{octet}){{3}})"

    def groups(count: int) -> str:  # exactly ``count`` groups, each followed by ":"
        return f"(?:{h16}:){{{count}}}" if count else ""

    def before(most: int) -> str:  # up to ``most`` groups before "::"
        if most == 0:
            return ""
        return f"(?:{h16}(?::{h16}){{0,{most - 1}}})?" if most > 1 else f"(?:{h16})?"

    forms = [f"{groups(6)}{ls32}"]
    forms += [f"{before(n)}::{groups(5 - n)}{ls32}" for n in range(6)]
    forms += [f"{before(6)}::{h16}", f"{before(7)}::"]
    return "(?:" + "|".join(forms) + ")"


# The rule for callback and alert URLs, stated as is in the OpenAPI schema
# (api.openapi_limits): http(s); a host name (letters, digits, hyphens, in dot-separated
# labels), an IPv4 address or a bracketed IPv6 address (no user info); an optional port
# (0 to 65535); then any path without whitespace, NUL or a lone surrogate (the store
# cannot hold those two: a NUL in an alert URL once reached Postgres as a 500). Where
# the URL may lead (DNS, inside addresses) is the outbound guard's to say
# (guardq.outbound, api.validation). The end is (?![\s\S]): Python's $ would allow a
# final newline.
_HOST = rf"(?:[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.?|\[{_ipv6_pattern()}\])"
_PORT = r"(?:[0-5]?[0-9]{1,4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])"
CALLBACK_URL_PATTERN = (
    rf"^https?://{_HOST}(?::{_PORT})?(?:[/?#][^\s\u0000\ud800-\udfff]*)?(?![\s\S])"
)


class JobItemIn(BaseModel):
    """One item: ``text`` (prompt mode), or ``prompt`` and ``response`` (response mode)."""

    model_config = ConfigDict(extra="forbid")

    text: StrictStr | None = None
    prompt: StrictStr | None = None
    response: StrictStr | None = None
    ref: Annotated[StrictStr | None, Field(max_length=REF_LENGTH)] = None
    # The producer's user id: kept only as an HMAC (guardq.authors), for strikes and holds.
    author: Annotated[StrictStr | None, Field(min_length=1, max_length=MAX_AUTHOR_CHARS)] = None
    # Stored as given and returned with the results: ids and tags, never content.
    metadata: JsonValue = None


class JobCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mode: Mode = Mode.PROMPT
    priority: Priority = Priority.REALTIME
    callback_url: Annotated[StrictStr | None, Field(max_length=CALLBACK_URL_LENGTH)] = None
    # Signed events for this job's blocked items go here (else to GUARDQ_ALERT_URL).
    alert_url: Annotated[StrictStr | None, Field(max_length=CALLBACK_URL_LENGTH)] = None
    # False: an item escalated to human review keeps no text, only its ref and hash
    # (reviewers then look the content up by ref in the producer's own system).
    retain_text: StrictBool = True
    # Job-scoped term lists to match this job's items against (besides the deployment's).
    lists: Annotated[list[StrictStr] | None, Field(max_length=MAX_JOB_LISTS)] = None
    items: Annotated[list[JobItemIn], Field(min_length=1)]

    @field_validator("callback_url", "alert_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not re.search(CALLBACK_URL_PATTERN, value):
            raise ValueError(
                "must be an absolute http:// or https:// URL with a host name (letters, "
                "digits, hyphens, dots), an IPv4 address or a bracketed IPv6 address "
                "([2001:db8::1]), an optional port (0 to 65535), and no whitespace, NUL "
                "character or unpaired surrogate"
            )
        return value


class JobLinks(BaseModel):
    self: str
    results: str


class JobPublic(BaseModel):
    id: uuid.UUID
    mode: Mode
    priority: Priority
    status: JobStatus
    total: int
    done: int
    failed: int
    queued: int
    model: str
    callback_url: str | None
    alert_url: str | None
    retain_text: bool
    error: str | None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    links: JobLinks


class SeverityScoresOut(BaseModel):
    safe: float
    controversial: float
    unsafe: float


class SpanOut(BaseModel):
    start: int
    end: int


class ResultItem(BaseModel):
    """One item's outcome; the verdict fields are null until the item is judged.

    ``severity`` null on a ``done`` item means the model output did not parse (``error``
    says why); the policy never allows such an item.
    """

    index: int
    ref: str | None
    content_sha256: str
    metadata: JsonValue
    status: ItemStatus
    error: str | None
    # Defaults: an item not judged yet (or failed) has no verdict fields.
    severity: Severity | None = None
    categories: list[str] = []
    refusal: bool | None = None
    action: Action | None = None
    reason: str | None = None
    scores: SeverityScoresOut | None = None
    span: SpanOut | None = None
    model: str | None = None
    served_from_cache: bool | None = None
    latency_ms: int | None = None
    # Term-list hits: list, kind, entry id and span in the original text (never the text).
    list_hits: list[dict] | None = None


class ResultsPage(BaseModel):
    job_id: uuid.UUID
    status: JobStatus
    items: list[ResultItem]
    # Pass as ``after`` for the next page; null on the last page.
    next_after: int | None
    next: str | None


class ModerationRequest(BaseModel):
    """OpenAI's moderation request: ``input`` is a string or an array of strings."""

    model_config = ConfigDict(extra="forbid")

    # Typed loosely on purpose: api.validation reports a wrong type as "input[2]:
    # expected a string, got number" instead of pydantic's per-union-branch errors.
    input: JsonValue
    model: StrictStr | None = None


class ModerationResult(BaseModel):
    flagged: bool
    categories: dict[str, bool]
    category_scores: dict[str, float]
    severity: Severity | None
    refusal: bool | None
    action: Action
    reason: str
    content_sha256: str


class ModerationResponse(BaseModel):
    id: str
    model: str
    results: list[ModerationResult]
    job_id: uuid.UUID
