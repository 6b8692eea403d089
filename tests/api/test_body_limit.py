"""A request body over GUARDQ_MAX_BODY_BYTES is refused (413) before it is read whole;
compressed bodies are refused (415); bodies within the limit pass untouched. Served by
uvicorn over a real socket, so that what the server reads is what a client sends."""

from __future__ import annotations

import gzip
import json
import socket
from urllib.parse import urlsplit

import httpx
import pytest

from api.app import create_app

from ..conftest import live_server

LIMIT = 64 * 1024


@pytest.fixture
def url(settings, factory, redis):
    app = create_app(settings.model_copy(update={"max_body_bytes": LIMIT}), session_factory=factory)
    with live_server(app) as base:
        yield base


def _exchange(url: str, head: str, chunks=()) -> tuple[int, dict]:
    """Send ``head`` then ``chunks`` on a raw connection; the status and JSON answered."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(head.encode())
        for chunk in chunks:
            sock.sendall(chunk)
        answer = b""
        while data := sock.recv(65536):
            answer += data
    status_line, _, rest = answer.partition(b"\r\n")
    body = rest.partition(b"\r\n\r\n")[2]
    return int(status_line.split()[1]), json.loads(body)


def _head(auth: str, extra: str) -> str:
    return (
        "POST /v1/jobs HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
        f"Authorization: {auth}\r\n{extra}\r\n"
    )


def test_a_100_mb_body_is_refused_before_a_byte_of_it_is_sent(url, producer):
    # Only the headers go out: the answer cannot have waited for the body.
    status, body = _exchange(url, _head(producer["Authorization"], "Content-Length: 100000000\r\n"))
    assert status == 413
    (entry,) = body["detail"]
    assert entry["field"] == "body" and entry["type"] == "body_too_large"
    assert "100000000 bytes" in entry["msg"] and f"limit of {LIMIT}" in entry["msg"]
    assert "GUARDQ_MAX_BODY_BYTES" in entry["msg"]


def test_a_chunked_body_is_refused_once_it_passes_the_limit(url, producer):
    piece = b"x" * 16384
    chunk = b"%x\r\n%s\r\n" % (len(piece), piece)
    # Just past the limit, then the connection is answered: the rest is never sent.
    count = LIMIT // len(piece) + 1
    status, body = _exchange(
        url,
        _head(producer["Authorization"], "Transfer-Encoding: chunked\r\n"),
        [chunk] * count,
    )
    assert status == 413
    assert body["detail"][0]["msg"].startswith(f"the request body is more than {LIMIT} bytes")


def test_a_compressed_body_is_refused(url, producer):
    raw = json.dumps({"mode": "prompt", "items": [{"text": "hi"}]}).encode()
    response = httpx.post(
        f"{url}/v1/jobs",
        content=gzip.compress(raw),
        headers={**producer, "Content-Encoding": "gzip", "Content-Type": "application/json"},
    )
    assert response.status_code == 415
    assert "Content-Encoding 'gzip' is not accepted" in response.json()["detail"][0]["msg"]


def test_a_body_within_the_limit_is_served(url, producer):
    items = [{"text": "x" * 100, "ref": f"r{i}"} for i in range(5)]
    response = httpx.post(
        f"{url}/v1/jobs", json={"mode": "prompt", "items": items}, headers=producer
    )
    assert response.status_code == 202, response.text
    assert response.json()["total"] == 5
    # And one over it by a byte, announced, is not.
    big = {"mode": "prompt", "items": [{"text": "x" * LIMIT}]}
    response = httpx.post(f"{url}/v1/jobs", json=big, headers=producer)
    assert response.status_code == 413
