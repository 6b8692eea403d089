"""``guardq api``: serve the HTTP API (uvicorn, on the configured store and broker)."""

from __future__ import annotations

import argparse


def _port(value: str) -> int:
    try:
        port = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {value!r}") from None
    if not 1 <= port <= 65_535:
        raise argparse.ArgumentTypeError(f"must be between 1 and 65535, got {port}")
    return port


def register(commands: argparse._SubParsersAction) -> None:
    api = commands.add_parser("api", help=__doc__.split(": ", 1)[1])
    api.add_argument("--host", default="127.0.0.1", help="interface (default: %(default)s)")
    api.add_argument("--port", type=_port, default=8000, help="TCP port (default: %(default)s)")
    api.add_argument(
        "--workers", type=int, default=1, help="uvicorn worker processes (default: %(default)s)"
    )
    api.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import uvicorn

    if args.workers < 1:
        raise ValueError(f"--workers: at least 1, got {args.workers}")
    uvicorn.run(
        "api.app:serve_app", factory=True, host=args.host, port=args.port, workers=args.workers
    )
    return 0
