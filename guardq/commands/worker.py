"""``guardq worker``: one Celery worker process per device, supervised until a signal.

Each device gets its own ``celery worker`` process (solo pool, its own hostname) with
``GUARDQ_DEVICE`` set to that device, polling realtime before bulk; ``--per-device N``
starts N of them on each device, each with its own copy of the model. A solo worker
does everything in one thread: while it writes a call's verdicts, waits for the store
or takes the next messages, its engine is idle. A second process on the same device
runs its engine meanwhile (as an inference server runs several instances of a model
per GPU); on the CPU the cores are split between them. One extra,
model-free worker (threads pool) sends job callbacks and runs upkeep (the purge of
reviewed text); ``--beat`` adds the Celery beat that schedules that upkeep (one per
deployment: or run ``guardq beat`` on its own). The supervisor forwards
SIGTERM/SIGINT to them (Celery's warm shutdown: the running batch finishes), kills what
is still alive after a grace period, and, when one worker dies on its own, stops the
others and exits with its code, so that the container's restart policy starts afresh.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from guardq.commands.beat import add_beat_options, beat_command
from guardq.native import NATIVE_DEFAULTS, cpu_threads
from guardq.queue import BULK, CALLBACKS, REALTIME
from guardq.settings import MAX_WORKERS_PER_DEVICE, get_settings

# Seconds the workers get to finish their current batch after SIGTERM.
SHUTDOWN_GRACE_S = 60
CALLBACK_THREADS = 4


def register(commands: argparse._SubParsersAction) -> None:
    worker = commands.add_parser("worker", help=__doc__.split(": ", 1)[1].split("\n")[0])
    worker.add_argument(
        "--devices",
        help="comma-separated: cpu, cuda, cuda:N or auto (default: GUARDQ_DEVICE); "
        "one worker process per device",
    )
    worker.add_argument(
        "--queues",
        default=f"{REALTIME},{BULK}",
        help=f"moderation queues to consume, realtime always polled first "
        f"(default: {REALTIME},{BULK})",
    )
    worker.add_argument(
        "--per-device",
        type=int,
        help=f"worker processes per device, 1 to {MAX_WORKERS_PER_DEVICE}, each with its own "
        "copy of the model (default: GUARDQ_WORKERS_PER_DEVICE, 1)",
    )
    worker.add_argument("--loglevel", default="INFO", help="Celery log level (default INFO)")
    worker.add_argument(
        "--name",
        default="guardq",
        help="node name prefix: NAME-cuda0@HOST (NAME-cuda0-1@HOST, NAME-cuda0-2@HOST... "
        "with --per-device), NAME-callbacks@HOST (default guardq)",
    )
    worker.add_argument(
        "--no-callbacks", action="store_true", help="do not start the callbacks worker"
    )
    worker.add_argument(
        "--beat",
        action="store_true",
        help="also run Celery beat (periodic upkeep); one per deployment",
    )
    add_beat_options(worker)
    worker.set_defaults(run=run)


def parse_list(value: str, allowed: set[str] | None, what: str) -> list[str]:
    items = [part.strip() for part in value.split(",") if part.strip()]
    if not items:
        raise ValueError(f"--{what}: expected a comma-separated list, got {value!r}")
    if allowed is not None and (bad := [i for i in items if i not in allowed]):
        raise ValueError(f"--{what}: unknown {bad}; expected some of {sorted(allowed)}")
    if len(set(items)) != len(items):
        raise ValueError(f"--{what}: {value!r} names an entry twice")
    return items


def node_names(name: str, device: str, per_device: int = 1) -> list[str]:
    """The Celery node names (before ``@host``) of ``device``'s workers: NAME-cuda0, or
    NAME-cuda0-1, NAME-cuda0-2... when there are several."""
    base = f"{name}-{device.replace(':', '')}"
    return [base] if per_device == 1 else [f"{base}-{i}" for i in range(1, per_device + 1)]


def worker_commands(
    devices: list[str],
    queues: list[str],
    *,
    name: str,
    loglevel: str,
    callbacks: bool,
    per_device: int = 1,
    beat_schedule: Path | None = None,
):
    """(device or None, argv) of each process to start; ``beat_schedule``: add beat."""
    if not 1 <= per_device <= MAX_WORKERS_PER_DEVICE:
        raise ValueError(f"--per-device: expected 1 to {MAX_WORKERS_PER_DEVICE}, got {per_device}")
    # Realtime is polled first whatever order the user wrote.
    queues = sorted(queues, key=[REALTIME, BULK].index)
    celery = [sys.executable, "-m", "celery", "-A", "worker.celery_app", "worker"]
    common = ["--loglevel", loglevel, "--without-gossip", "--without-mingle"]
    plans = []
    for device in devices:
        for node in node_names(name, device, per_device):
            argv = [*celery, "--pool", "solo", "-Q", ",".join(queues), "-n", f"{node}@%h"]
            plans.append((device, argv + common))
    if callbacks:
        argv = [*celery, "--pool", "threads", "-c", str(CALLBACK_THREADS), "-Q", CALLBACKS]
        plans.append((None, argv + ["-n", f"{name}-callbacks@%h"] + common))
    if beat_schedule is not None:
        plans.append((None, beat_command(beat_schedule, loglevel)))
    return plans


def run(args: argparse.Namespace) -> int:
    settings = get_settings()
    if settings.broker_url is None:
        raise ValueError("GUARDQ_BROKER_URL is not set: a worker needs the Redis broker")
    devices = parse_list(args.devices or settings.device, None, "devices")
    queues = parse_list(args.queues, {REALTIME, BULK}, "queues")
    per_device = args.per_device if args.per_device is not None else settings.workers_per_device
    children = []
    plans = worker_commands(
        devices,
        queues,
        name=args.name,
        loglevel=args.loglevel,
        callbacks=not args.no_callbacks,
        per_device=per_device,
        beat_schedule=args.schedule_file if args.beat else None,
    )
    for device, argv in plans:
        # The child inherits this environment; only its device differs. (Passing the
        # environment on is not reading configuration: guardq.settings does that.)
        env = dict(os.environ)
        if device is not None:
            env["GUARDQ_DEVICE"] = device
        # Read by torch's native libraries when they load, so they must be in the
        # child's environment (guardq.native says why each); an operator's value wins.
        env.update({k: v for k, v in NATIVE_DEFAULTS.items() if k not in env})
        if device in ("cpu", "auto") and per_device > 1 and "OMP_NUM_THREADS" not in env:
            # Each process its share of the cores (a GPU's workers, "auto" included,
            # hardly use these threads).
            env["OMP_NUM_THREADS"] = str(cpu_threads(per_device))
        children.append(subprocess.Popen(argv, env=env))

    stopping = False

    def stop(signum, _frame) -> None:
        nonlocal stopping
        stopping = True
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    code = 0
    while not stopping:
        exited = [child for child in children if child.poll() is not None]
        if exited and not stopping:
            code = exited[0].returncode or 1
            print(
                f"guardq worker: pid {exited[0].pid} exited ({exited[0].returncode}); "
                "stopping the others",
                file=sys.stderr,
            )
            stop(signal.SIGTERM, None)
            break
        time.sleep(0.5)
    return _reap(children, code)


def _reap(children: list[subprocess.Popen], code: int) -> int:
    deadline = time.monotonic() + SHUTDOWN_GRACE_S
    for child in children:
        try:
            child.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
    return code
