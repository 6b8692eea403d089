"""The ``guardq`` command line: one subcommand per module of ``guardq.commands``.

A mistake the user can fix is one line on stderr, ``guardq: error: <what>; <how to
fix>``, and exit status 2 (``guardq.cli_errors``); ``--debug`` or ``GUARDQ_DEBUG=1`` adds
the traceback. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sys
import traceback

from pydantic import ValidationError

import guardq.commands
from guardq.cli_errors import explain
from guardq.native import apply_native_defaults
from guardq.settings import CliSettings, get_settings


def _command_modules():
    for info in sorted(pkgutil.iter_modules(guardq.commands.__path__), key=lambda i: i.name):
        yield importlib.import_module(f"guardq.commands.{info.name}")


def main(argv: list[str] | None = None) -> int:
    apply_native_defaults()  # before any command imports torch
    parser = argparse.ArgumentParser(
        prog="guardq",
        description="Queue-based content moderation on the Qwen3Guard-Gen safety models.",
        epilog="Configuration: GUARDQ_* environment variables (see the README).",
    )
    parser.add_argument(
        "--debug",
        action="store_true",
        help="show the traceback behind an error (also GUARDQ_DEBUG=1)",
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
        debug = args.debug or CliSettings().debug
    except ValidationError as exc:
        return _report(exc, args.command, debug=False)
    try:
        return args.run(args)
    except Exception as exc:
        return _report(exc, args.command, debug=debug)


def _report(exc: Exception, command: str, *, debug: bool) -> int:
    try:
        settings = get_settings()
    except ValidationError:
        settings = None
    explained = explain(exc, command, settings)
    if explained is None:
        raise exc
    if debug:
        traceback.print_exception(exc, file=sys.stderr)
    what, fix = explained
    print(f"guardq: error: {what}; {fix}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
