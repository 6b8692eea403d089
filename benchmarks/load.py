"""The client side of benchmarks/pipeline.py: bulk jobs, timed requests, vLLM's endpoint.

- ``bulk_jobs``: POST /v1/jobs (priority bulk) in requests of at most ``max_items``
  items, then GET /v1/jobs/{id} until every job is done; timed from the first submit.
- ``drive``: ``concurrency`` clients sending one request per text until the texts run
  out, each on its own keep-alive ``Connection``; the latency of each answer and the
  wall time. ``guardq_moderation`` and ``vllm_chat`` are the requests it sends.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from collections.abc import Awaitable, Callable, Iterable
from urllib.parse import urlsplit

import httpx

Send = Callable[["Connection", str], Awaitable[tuple[int, bytes]]]

# Seconds between polls of an unfinished job: small beside the shortest timed run.
POLL_S = 0.1
REQUEST_TIMEOUT_S = 300


def bulk_jobs(base_url: str, key: str, texts: list[str], max_items: int) -> dict:
    """Submit ``texts`` as bulk jobs and wait until all are done; items/s from the first
    submit to the last job seen finished."""
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=base_url, headers=headers, timeout=REQUEST_TIMEOUT_S) as client:
        started = time.perf_counter()
        job_ids = []
        for start in range(0, len(texts), max_items):
            body = {
                "mode": "prompt",
                "priority": "bulk",
                "items": [{"text": text} for text in texts[start : start + max_items]],
            }
            response = client.post("/v1/jobs", json=body)
            _check(response, "POST /v1/jobs")
            job_ids.append(response.json()["id"])
        submitted = time.perf_counter()
        failed = 0
        for job_id in job_ids:
            while True:
                response = client.get(f"/v1/jobs/{job_id}")
                _check(response, f"GET /v1/jobs/{job_id}")
                job = response.json()
                if job["status"] in ("done", "failed"):
                    failed += job["failed"]
                    break
                time.sleep(POLL_S)
        seconds = time.perf_counter() - started
    return {
        "items": len(texts),
        "jobs": len(job_ids),
        "job_ids": job_ids,
        "failed_items": failed,
        "submit_s": round(submitted - started, 3),
        "seconds": round(seconds, 3),
        "items_per_s": round(len(texts) / seconds, 2),
    }


def cached_texts(base_url: str, key: str, job_ids: list[str], texts: list[str]) -> list[str]:
    """The ``texts`` (submitted in order as ``job_ids``) whose verdict parsed: those the
    verdict cache now holds. An unparsed answer is never cached, and a small or
    random-weight model leaves many (the demo model about half of these texts), so a
    replay of every text would measure inference again, not the cache."""
    headers = {"Authorization": f"Bearer {key}"}
    parsed: list[str] = []
    offset = 0
    with httpx.Client(base_url=base_url, headers=headers, timeout=REQUEST_TIMEOUT_S) as client:
        for job_id in job_ids:
            response = client.get(f"/v1/jobs/{job_id}/results", params={"format": "jsonl"})
            _check(response, f"GET /v1/jobs/{job_id}/results")
            rows = [json.loads(line) for line in response.text.splitlines() if line]
            parsed += [texts[offset + row["index"]] for row in rows if row.get("severity")]
            offset += len(rows)
    return parsed


def _check(response: httpx.Response, what: str) -> None:
    if response.status_code >= 400:
        raise RuntimeError(f"{what}: {response.status_code} {response.text[:500]}")


class Connection:
    """One keep-alive HTTP/1.1 connection that POSTs JSON and reads the answer.

    Written out rather than taken from httpx: on this 2-core machine httpx.AsyncClient
    spent 8 ms of CPU per request at 128 concurrent clients (4 s for 500 requests,
    beside the server it measures), this client under 0.2 ms; with it ``vllm serve``
    answered 118 requests/s instead of 30. Answers must carry Content-Length or be
    chunked, as uvicorn's are.
    """

    def __init__(self, base_url: str) -> None:
        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.prefix = parts.path.rstrip("/")
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def post(self, path: str, body: dict, headers: dict[str, str]) -> tuple[int, bytes]:
        """(status, body) of POST ``path`` with ``body`` as JSON."""
        if self._streams is None:
            self._streams = await asyncio.open_connection(self.host, self.port)
        reader, writer = self._streams
        payload = json.dumps(body).encode()
        lines = [
            f"POST {self.prefix}{path} HTTP/1.1",
            f"Host: {self.host}:{self.port}",
            "Content-Type: application/json",
            f"Content-Length: {len(payload)}",
            *(f"{name}: {value}" for name, value in headers.items()),
        ]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + payload)
        await writer.drain()
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        status = int(head[0].split()[1])
        fields = {
            name.strip().lower(): value.strip()
            for name, _, value in (line.partition(":") for line in head[1:] if line)
        }
        if "content-length" in fields:
            answer = await reader.readexactly(int(fields["content-length"]))
        elif fields.get("transfer-encoding", "").lower() == "chunked":
            answer = await _read_chunked(reader)
        else:
            raise RuntimeError(f"POST {path}: an answer with no length ({head[0]})")
        if fields.get("connection", "").lower() == "close":
            await self.close()
        return status, answer

    async def close(self) -> None:
        if self._streams is not None:
            self._streams[1].close()
            self._streams = None


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts = []
    while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
        parts.append(await reader.readexactly(size))
        await reader.readexactly(2)
    await reader.readuntil(b"\r\n")
    return b"".join(parts)


def guardq_moderation(key: str) -> Send:
    headers = {"Authorization": f"Bearer {key}"}

    def send(connection: Connection, text: str) -> Awaitable[tuple[int, bytes]]:
        return connection.post("/v1/moderations", {"input": text}, headers)

    return send


def vllm_models(base_url: str) -> list[str]:
    """The model names an OpenAI-compatible server serves (GET /v1/models)."""
    response = httpx.get(f"{base_url}/v1/models", timeout=30)
    _check(response, "GET /v1/models")
    return [entry["id"] for entry in response.json()["data"]]


def vllm_chat(model: str, max_tokens: int) -> Send:
    """One prompt-moderation request the way a script would send it to ``vllm serve``:
    the user's text as the only message, greedy, the answer bounded like guardq's."""

    def send(connection: Connection, text: str) -> Awaitable[tuple[int, bytes]]:
        body = {
            "model": model,
            "messages": [{"role": "user", "content": text}],
            "max_tokens": max_tokens,
            "temperature": 0,
        }
        return connection.post("/v1/chat/completions", body, {})

    return send


async def drive(base_url: str, send: Send, texts: Iterable[str], concurrency: int) -> dict:
    """``concurrency`` clients, each on its own connection, sending its next text as
    soon as its last answer came, until ``texts`` run out: latency percentiles (ms) of
    the answers and req/s."""
    pending = iter(texts)
    latencies: list[float] = []
    errors: list[str] = []

    async def one_client() -> None:
        connection = Connection(base_url)
        try:
            # One shared iterator: asyncio runs one coroutine at a time, so no text is
            # sent twice.
            for text in pending:
                sent = time.perf_counter()
                try:
                    status, answer = await asyncio.wait_for(
                        send(connection, text), REQUEST_TIMEOUT_S
                    )
                except (OSError, asyncio.IncompleteReadError, TimeoutError) as exc:
                    errors.append(type(exc).__name__)
                    await connection.close()
                    continue
                if status == 200:
                    latencies.append(time.perf_counter() - sent)
                else:
                    errors.append(f"{status} {answer[:200].decode(errors='replace')}")
        finally:
            await connection.close()

    started = time.perf_counter()
    await asyncio.gather(*(one_client() for _ in range(concurrency)))
    return summary(latencies, time.perf_counter() - started, errors)


def summary(latencies: list[float], seconds: float, errors: list[str]) -> dict:
    figures: dict = {"requests": len(latencies) + len(errors), "errors": len(errors)}
    if errors:
        figures["first_error"] = errors[0]
    if len(latencies) >= 2:
        cuts = statistics.quantiles(latencies, n=100, method="inclusive")
        figures.update(
            p50_ms=round(1000 * cuts[49], 1),
            p95_ms=round(1000 * cuts[94], 1),
            p99_ms=round(1000 * cuts[98], 1),
        )
    figures["req_per_s"] = round(len(latencies) / seconds, 2)
    figures["seconds"] = round(seconds, 3)
    return figures


def run_drive(base_url: str, send: Send, texts: list[str], concurrency: int) -> dict:
    return asyncio.run(drive(base_url, send, texts, concurrency))
