"""``guardq db upgrade``: migrate the store (GUARDQ_DATABASE_URL) to the latest schema."""

from __future__ import annotations

import argparse


def register(commands: argparse._SubParsersAction) -> None:
    db = commands.add_parser("db", help="manage the audit store's schema")
    actions = db.add_subparsers(dest="db_command", required=True)
    upgrade = actions.add_parser("upgrade", help=__doc__.split(": ", 1)[1])
    upgrade.add_argument(
        "--revision", default="head", help="Alembic revision to reach (default: %(default)s)"
    )
    upgrade.set_defaults(run=run_upgrade)


def run_upgrade(args: argparse.Namespace) -> int:
    # Imported here: Alembic is slow to import and only this command needs it.
    from sqlalchemy.engine import make_url

    from guardq.store.db import resolve_url
    from guardq.store.migrate import upgrade_database

    url = resolve_url()
    upgrade_database(url, args.revision)
    shown = make_url(url).render_as_string(hide_password=True)
    print(f"{shown}: at revision {args.revision}")
    return 0
