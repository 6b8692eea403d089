"""``/v1/batches``: OpenAI's Batch API, run by guardq's workers as bulk jobs.

Creating a batch checks the request and the input file, commits the batch
(``validating``) and sends ``guardq.run_batch`` (``worker.batches``), which reads the
input into bulk jobs and writes the output and error files when they finish. A key
sees its own batches; an admin key sees every batch.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from sqlalchemy.orm import Session

from api.batch_lines import ENDPOINTS
from api.batch_schemas import (
    BATCH_PREFIX,
    BatchCreate,
    BatchList,
    BatchObject,
    batch_id,
    batch_object,
    parse_id,
)
from api.client_errors import ClientError, OpenAIErrorRoute
from api.deps import FactoryDep, ProducerKey, SessionDep
from api.routes.files import visible_file
from api.submission import celery_app
from guardq.queue import RUN_BATCH
from guardq.store.batches import (
    TERMINAL,
    BatchInfo,
    create_batch,
    get_batch,
    list_batches,
    live_counts,
    transition,
)
from guardq.store.db import session_scope
from guardq.store.enums import BatchStatus, FilePurpose, KeyRole
from guardq.store.keys import ApiKeyInfo
from guardq.store.models import utcnow

router = APIRouter(prefix="/v1/batches", tags=["batch API"], route_class=OpenAIErrorRoute)

COMPLETION_WINDOWS = ("24h",)
MAX_LIST = 100


def _public(session: Session, info: BatchInfo) -> BatchObject:
    if info.status in TERMINAL:
        return batch_object(info)
    return batch_object(info, live_counts(session=session, batch_id=info.id))


def _visible(session: Session, value: str, key: ApiKeyInfo, lock: bool = False) -> BatchInfo:
    parsed = parse_id(value, BATCH_PREFIX)
    info = get_batch(session=session, batch_id=parsed, lock=lock) if parsed else None
    if info is None or (key.role is not KeyRole.ADMIN and info.api_key_id != key.id):
        raise ClientError(404, f"No such batch: {value!r}", code="batch_not_found")
    return info


def _send(request: Request, info: BatchInfo) -> None:
    celery_app(request.app.state).send_task(
        RUN_BATCH, kwargs={"batch_id": str(info.id)}, ignore_result=True
    )


@router.post("", response_model=BatchObject)
def create(
    body: BatchCreate, key: ProducerKey, factory: FactoryDep, request: Request
) -> BatchObject:
    """Start a batch on an uploaded ``purpose=batch`` file."""
    if body.endpoint not in ENDPOINTS:
        raise ClientError(
            400, f"guardq runs batches for {' and '.join(ENDPOINTS)}; got {body.endpoint[:80]!r}",
            param="endpoint", code="unsupported_endpoint",
        )  # fmt: skip
    if body.completion_window not in COMPLETION_WINDOWS:
        raise ClientError(
            400, f"completion_window must be '24h', got {body.completion_window[:20]!r}",
            param="completion_window", code="invalid_completion_window",
        )  # fmt: skip
    with session_scope(factory) as session:
        source = visible_file(session, body.input_file_id, key, param="input_file_id")
        if source.purpose is not FilePurpose.BATCH:
            raise ClientError(
                400, f"{body.input_file_id} is a {source.purpose.value} file; a batch takes a "
                "file uploaded with purpose 'batch'", param="input_file_id", code="invalid_file",
            )  # fmt: skip
        info = create_batch(
            session=session,
            api_key_id=key.id,
            endpoint=body.endpoint,
            completion_window=body.completion_window,
            metadata=body.metadata,
            model_id=request.app.state.settings.model,
            input_file_id=source.id,
            keep_input_file=body.keep_input_file,
            total=source.lines,
        )
    try:
        _send(request, info)
    except Exception:
        # Nothing will read the batch: it must not stay validating. The route class
        # answers 503 (a broker that is down) or 500.
        with session_scope(factory) as session:
            transition(
                session=session, batch_id=info.id, allowed=[BatchStatus.VALIDATING],
                status=BatchStatus.FAILED, failed_at=utcnow(),
                errors=[{"code": "not_queued", "message": "the broker did not take the batch"}],
            )  # fmt: skip
        raise
    return batch_object(info, (0, 0))


@router.get("/{batch}", response_model=BatchObject)
def retrieve(batch: str, session: SessionDep, key: ProducerKey) -> BatchObject:
    return _public(session, _visible(session, batch, key))


@router.get("", response_model=BatchList)
def list_(
    session: SessionDep,
    key: ProducerKey,
    after: Annotated[str | None, Query(description="The id of the last batch seen.")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIST)] = 20,
) -> BatchList:
    """The key's batches, newest first; page with ``after`` = the last id seen."""
    anchor = None
    if after is not None:
        anchor = parse_id(after, BATCH_PREFIX)
        if anchor is None:
            raise ClientError(400, f"after: not a batch id: {after[:80]!r}", param="after")
    owner = None if key.role is KeyRole.ADMIN else key.id
    rows, more = list_batches(session=session, api_key_id=owner, after=anchor, limit=limit)
    data = [_public(session, row) for row in rows]
    return BatchList(
        data=data,
        first_id=data[0].id if data else None,
        last_id=data[-1].id if data else None,
        has_more=more,
    )


@router.post("/{batch}/cancel", response_model=BatchObject)
def cancel(batch: str, factory: FactoryDep, key: ProducerKey, request: Request) -> BatchObject:
    """Stop a validating or in_progress batch: cancelling, then cancelled once the
    requests already judged are written to its output file."""
    with session_scope(factory) as session:
        info = _visible(session, batch, key, lock=True)
        if info.status is BatchStatus.CANCELLING:
            return _public(session, info)
        moved = transition(
            session=session, batch_id=info.id,
            allowed=[BatchStatus.VALIDATING, BatchStatus.IN_PROGRESS],
            status=BatchStatus.CANCELLING, cancelling_at=utcnow(),
        )  # fmt: skip
        if not moved:
            raise ClientError(
                409, f"{batch_id(info.id)} is {info.status.value}; only a validating or "
                "in_progress batch can be cancelled", code="invalid_state",
            )  # fmt: skip
        info = get_batch(session=session, batch_id=info.id)
        public = _public(session, info)
    _send(request, info)
    return public
