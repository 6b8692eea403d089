"""The ``guardq`` command line: one subcommand per module of ``guardq.commands``."""

from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sys

import guardq.commands


def _command_modules():
    for info in sorted(pkgutil.iter_modules(guardq.commands.__path__), key=lambda i: i.name):
        yield importlib.import_module(f"guardq.commands.{info.name}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="guardq",
        description="Queue-based content moderation on the Qwen3Guard-Gen safety models.",
        epilog="Configuration: GUARDQ_* environment variables (see the README).",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for module in _command_modules():
        module.register(commands)

    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if args.command != "db":
        # The embedded store migrates itself at every start; only `guardq db` should
        # narrate Alembic's steps.
        logging.getLogger("alembic").setLevel(logging.WARNING)
    try:
        return args.run(args)
    except (ValueError, OSError) as exc:
        print(f"guardq {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
