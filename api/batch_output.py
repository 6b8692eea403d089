"""The lines of a batch's output and error files, in OpenAI's format.

Every line is ``{"id", "custom_id", "response", "error"}``:

- a request that ran: ``response`` = ``{"status_code": 200, "request_id", "body"}``, the
  body the endpoint would have answered (a moderation response or a chat completion);
- a request the endpoint would have refused (a malformed line): ``response`` with
  ``status_code`` 400 and an OpenAI error body naming the line and the problem;
- a request guardq could not judge (a worker failure, a model answer that did not
  parse for a chat completion): ``status_code`` 500 and an error body;
- a request that never ran because the batch was cancelled or expired: ``response``
  null and ``error`` = ``{"code": "batch_cancelled" | "batch_expired", "message"}``.

Ids are derived from the batch and the line number, so writing the files again (after a
crash while finalizing) gives the same bytes.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from typing import Any

from api.batch_lines import MODERATIONS
from api.openai_shapes import (
    UnparsedVerdict,
    chat_completion,
    error_body,
    guard_reply,
    moderation_response,
)
from guardq.store.batches import LineError
from guardq.store.jobs import ItemResult
from guardq.verdict import Mode

BATCH_CANCELLED = "batch_cancelled"
BATCH_EXPIRED = "batch_expired"
NOT_RUN_MESSAGES = {
    BATCH_CANCELLED: "This request was not executed because the batch was cancelled.",
    BATCH_EXPIRED: "This request could not be executed before the completion window expired.",
}


def _ids(batch_id: uuid.UUID, line: int) -> tuple[str, str]:
    key = uuid.uuid5(batch_id, str(line)).hex
    return f"batch_req_{key}", f"req_{key}"


def _line(batch_id: uuid.UUID, line: int, custom_id: str | None, status: int | None,
          body: Any, error: dict | None = None) -> bytes:  # fmt: skip
    request_id, req = _ids(batch_id, line)
    response = None if status is None else {"status_code": status, "request_id": req, "body": body}
    record = {"id": request_id, "custom_id": custom_id, "response": response, "error": error}
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


def refused_line(batch_id: uuid.UUID, error: LineError) -> bytes:
    """The error-file line of an input line that could not run."""
    message = f"line {error.line}: {error.param + ': ' if error.param else ''}{error.message}"
    return _line(
        batch_id, error.line, error.custom_id, 400,
        error_body(message, "invalid_request_error", error.param, error.code),
    )  # fmt: skip


def not_run_line(batch_id: uuid.UUID, line: int, custom_id: str, code: str) -> bytes:
    """The error-file line of a request the batch's cancel or expiry stopped."""
    return _line(
        batch_id, line, custom_id, None, None, {"code": code, "message": NOT_RUN_MESSAGES[code]}
    )


def result_line(
    batch_id: uuid.UUID,
    *,
    line: int,
    custom_id: str,
    endpoint: str,
    mode: Mode,
    rows: Sequence[ItemResult],
    model: str,
    created: int,
    not_run: str | None,
) -> tuple[bool, bytes]:
    """(whether it succeeded, its line) for a request that went to the workers.

    ``not_run``: the batch's cancel or expiry code, for an item the workers never got
    to; otherwise an item without a verdict failed (its error, never content, is told).
    """
    unjudged = [row for row in rows if row.verdict is None]
    if unjudged:
        if not_run is not None and any(row.error == not_run for row in unjudged):
            return False, not_run_line(batch_id, line, custom_id, not_run)
        reason = unjudged[0].error or "not judged"
        body = error_body(f"guardq could not judge this request: {reason}", "server_error",
                          None, "moderation_failed")  # fmt: skip
        return False, _line(batch_id, line, custom_id, 500, body)
    request_key = uuid.uuid5(batch_id, str(line)).hex
    if endpoint == MODERATIONS:
        body = moderation_response(moderation_id=f"modr-{request_key}", model=model, rows=rows)
        return True, _line(batch_id, line, custom_id, 200, body)
    try:
        content = guard_reply(rows[0].verdict, mode)
    except UnparsedVerdict as exc:
        body = error_body(str(exc), "server_error", None, "unparsed_verdict")
        return False, _line(batch_id, line, custom_id, 500, body)
    body = chat_completion(
        completion_id=f"chatcmpl-{request_key}", created=created, model=model, content=content
    )
    return True, _line(batch_id, line, custom_id, 200, body)
