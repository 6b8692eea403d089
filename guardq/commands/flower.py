"""``guardq flower``: Flower, the Celery monitor, on the workers' broker, behind basic auth.

Workers send task events and producers ``task-sent`` events (``guardq.queue``), so
Flower lists every guardq task with its state, worker and runtime, beside the workers
and the queues. The user and password come from GUARDQ_FLOWER_USER and
GUARDQ_FLOWER_PASSWORD; without a password it refuses to start (Flower can revoke
tasks and stop workers). They reach Flower through its own environment variable, never
the command line (where ``ps`` would show them). The process becomes ``celery flower``
(exec), so a container runtime's signals reach it directly.
"""

from __future__ import annotations

import argparse
import os
import sys

from guardq.settings import get_settings


def register(commands: argparse._SubParsersAction) -> None:
    flower = commands.add_parser("flower", help=__doc__.split(": ", 1)[1].split("\n")[0])
    flower.add_argument("--port", type=int, default=5555, help="HTTP port (default 5555)")
    flower.add_argument(
        "--address", default="0.0.0.0", help="address to listen on (default 0.0.0.0)"
    )
    flower.set_defaults(run=run)


def flower_command(port: int, address: str) -> list[str]:
    """The argv of the ``celery flower`` process."""
    return [
        sys.executable, "-m", "celery", "-A", "guardq.flower_app", "flower",
        f"--port={port}", f"--address={address}",
    ]  # fmt: skip


def run(args: argparse.Namespace) -> int:
    settings = get_settings()
    if settings.broker_url is None:
        raise ValueError("GUARDQ_BROKER_URL is not set: Flower watches the workers' broker")
    if settings.flower_password is None:
        raise ValueError(
            "GUARDQ_FLOWER_PASSWORD is not set: Flower starts only behind basic auth "
            "(GUARDQ_FLOWER_USER, default admin, and GUARDQ_FLOWER_PASSWORD)"
        )
    password = settings.flower_password.get_secret_value()
    # Flower's own variable; passing the environment on is not reading configuration.
    env = {**os.environ, "FLOWER_BASIC_AUTH": f"{settings.flower_user}:{password}"}
    argv = flower_command(args.port, args.address)
    os.execve(argv[0], argv, env)
    return 0  # not reached: exec replaced this process
