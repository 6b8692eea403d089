"""A large Batch API batch through the real services, with the API's peak memory.

Starts a scratch Postgres database and Redis database (``benchmarks/services.py``),
``guardq worker`` (the model worker and the callbacks worker that runs batches) and
``guardq api``; writes a JSONL input of ``--lines`` moderation requests of about
``--chars`` characters each to a temporary file; then, with OpenAI's client, uploads
it, creates the batch, waits for it, and streams the output file back to disk.

Reported: the input's size, the upload, batch and download times, and the peak
resident memory (VmHWM) of the API process and of each worker process, so that "a
200 MB input never sits whole in memory" can be read off the figures.

``--distinct`` texts (50 by default) are cycled through the lines: repeats are answered
by the verdict cache (or inferred once per gathered batch), so the run measures the
Batch API and the pipeline around the engine rather than the demo model's speed on
4,000-character texts on a CPU (each is about three 2,048-token windows).

    .venv/bin/python benchmarks/make_model.py --preset ceiling   # once: .bench/ceiling
    .venv/bin/python benchmarks/batch_api.py --lines 50000 --chars 4000 --model .bench/ceiling

The ``ceiling`` model answers every text ``Safety: Safe`` at almost no cost, so the
figures are the Batch API's and the pipeline's own. With the demo model, whose answers to
such filler often do not parse (never cached, so judged again in every gathered batch),
a CPU spends most of an hour in the engine.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import tempfile
import time
import uuid
from pathlib import Path

import openai

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from services import (  # noqa: E402
    START_TIMEOUT_S,
    GuardqProcess,
    scratch_stores,
    service_env,
    start_api,
)

from guardq.settings import DEMO_MODEL  # noqa: E402

TERMINAL = ("completed", "failed", "expired", "cancelled")
WORDS = ["the", "quick", "brown", "fox", "jumps", "over", "a", "lazy", "dog", "while"]


def write_input(path: Path, lines: int, chars: int, distinct: int) -> int:
    """The input file, written line by line; its size in bytes."""
    with path.open("w", encoding="utf-8") as out:
        for index in range(lines):
            seed = index % distinct
            words, size = [f"text {seed}:"], 0
            while size < chars:
                word = WORDS[(seed * 7 + len(words)) % len(WORDS)]
                words.append(word)
                size += len(word) + 1
            body = {"input": " ".join(words)[:chars]}
            request = {"custom_id": f"r{index}", "method": "POST", "url": "/v1/moderations"}
            out.write(json.dumps({**request, "body": body}) + "\n")
    return path.stat().st_size


def peak_rss_mib(pid: int) -> float | None:
    """VmHWM of ``pid`` in MiB (the most resident memory it ever had), or None."""
    try:
        for row in Path(f"/proc/{pid}/status").read_text().splitlines():
            if row.startswith("VmHWM:"):
                return int(row.split()[1]) / 1024
    except OSError:
        return None
    return None


def group_processes(pgid: int) -> list[tuple[int, str]]:
    """(pid, command line) of every process in the process group ``pgid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.getpgid(int(entry.name)) != pgid:
                continue
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except (OSError, ProcessLookupError):
            continue
        found.append((int(entry.name), " ".join(a.decode() for a in argv if a)[:100]))
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, default=50_000)
    parser.add_argument("--chars", type=int, default=4000, help="characters per text")
    parser.add_argument(
        "--distinct", type=int, default=50, help="distinct texts cycled through the lines"
    )
    parser.add_argument("--model", default=str(DEMO_MODEL))
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--maintenance-url",
        default=os.environ.get(
            "GUARDQ_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
        ),
    )
    parser.add_argument("--redis-server", default="redis://127.0.0.1:6379")
    parser.add_argument("--timeout", type=float, default=3600)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="guardq_batch_bench_"))
    source = work / "requests.jsonl"
    size = write_input(source, args.lines, args.chars, args.distinct)
    print(f"input: {args.lines} lines, {size / 1e6:.1f} MB ({work})", flush=True)

    with scratch_stores(args.maintenance_url, args.redis_server) as stores:
        env = service_env(
            stores,
            args.model,
            args.device,
            {"GUARDQ_BATCH_MAX_FILE_BYTES": str(max(size + 1, 200 * 1024 * 1024))},
        )
        name = f"bench{uuid.uuid4().hex[:6]}"
        host = socket.gethostname()
        nodes = [f"{name}-{args.device.replace(':', '')}@{host}", f"{name}-callbacks@{host}"]
        worker = GuardqProcess(
            ["worker", "--devices", args.device, "--name", name], env, work / "worker.log"
        )
        api = None
        try:
            worker.wait_until(
                lambda: all(f"{node} ready." in worker.log() for node in nodes),
                "guardq worker",
                START_TIMEOUT_S,
            )
            api, url = start_api(env, work)
            client = openai.OpenAI(
                base_url=f"{url}/v1", api_key=stores.producer_key, max_retries=0, timeout=3600
            )
            started = time.perf_counter()
            with source.open("rb") as handle:
                uploaded = client.files.create(file=("requests.jsonl", handle), purpose="batch")
            upload_s = time.perf_counter() - started
            print(f"upload: {upload_s:.1f} s; API peak RSS so far "
                  f"{peak_rss_mib(api.process.pid):.0f} MiB", flush=True)  # fmt: skip

            started = time.perf_counter()
            batch = client.batches.create(
                input_file_id=uploaded.id, endpoint="/v1/moderations", completion_window="24h"
            )
            last = None
            while batch.status not in TERMINAL:
                if time.perf_counter() - started > args.timeout:
                    raise TimeoutError(f"batch still {batch.status} after {args.timeout} s")
                time.sleep(2)
                batch = client.batches.retrieve(batch.id)
                progress = (batch.status, batch.request_counts.completed)
                if progress != last:
                    print(f"  {time.perf_counter() - started:7.1f} s  {batch.status:<12} "
                          f"{batch.request_counts.completed}/{batch.request_counts.total}",
                          flush=True)  # fmt: skip
                    last = progress
            batch_s = time.perf_counter() - started

            started = time.perf_counter()
            downloaded = 0
            if batch.output_file_id:
                stream = client.files.with_streaming_response.content(batch.output_file_id)
                with stream as out, (work / "output.jsonl").open("wb") as sink:
                    for chunk in out.iter_bytes():
                        downloaded += len(chunk)
                        sink.write(chunk)
            download_s = time.perf_counter() - started

            counts = batch.request_counts
            print(f"batch: {batch.status} in {batch_s:.1f} s, {counts.completed} answered, "
                  f"{counts.failed} failed of {counts.total} "
                  f"({counts.total / batch_s:.0f} requests/s)")  # fmt: skip
            print(f"output: {downloaded / 1e6:.1f} MB streamed in {download_s:.1f} s")
            print(f"peak RSS, guardq api (pid {api.process.pid}): "
                  f"{peak_rss_mib(api.process.pid):.0f} MiB")  # fmt: skip
            for pid, command in group_processes(worker.process.pid):
                rss = peak_rss_mib(pid)
                if rss is not None:
                    print(f"peak RSS, {command}: {rss:.0f} MiB")
        finally:
            if api is not None:
                api.stop()
            worker.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
