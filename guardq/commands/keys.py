"""``guardq keys create|list|revoke``: API keys (shown once, stored as SHA-256 hashes)."""

from __future__ import annotations

import argparse
import sys
import uuid

from guardq.store.db import get_session_factory, session_scope
from guardq.store.enums import KeyRole
from guardq.store.keys import create_api_key, list_api_keys, revoke_api_key


def register(commands: argparse._SubParsersAction) -> None:
    keys = commands.add_parser("keys", help=__doc__.split(": ", 1)[1])
    actions = keys.add_subparsers(dest="keys_command", required=True)

    create = actions.add_parser("create", help="create a key and print it, once")
    create.add_argument("--role", required=True, choices=[role.value for role in KeyRole])
    create.add_argument("--name", required=True, help="who or what uses the key (1-100 chars)")
    create.set_defaults(run=run_create)

    listing = actions.add_parser("list", help="list keys (id, role, name, prefix; no secrets)")
    listing.set_defaults(run=run_list)

    revoke = actions.add_parser("revoke", help="revoke a key by its id")
    revoke.add_argument("key_id", help="the id shown by `guardq keys list`")
    revoke.set_defaults(run=run_revoke)


def run_create(args: argparse.Namespace) -> int:
    with session_scope(get_session_factory()) as session:
        created = create_api_key(session=session, name=args.name, role=KeyRole(args.role))
    info = created.info
    # The key alone on stdout, so that `KEY=$(guardq keys create ...)` captures it.
    print(created.key)
    print(
        f"created {info.role.value} key {info.name!r} (id {info.id}, prefix {info.prefix}). "
        "It is shown only now: guardq keeps its hash, not the key.",
        file=sys.stderr,
    )
    return 0


def run_list(args: argparse.Namespace) -> int:
    with session_scope(get_session_factory()) as session:
        keys = list_api_keys(session=session)
    print(f"{'id':36}  {'role':8}  {'prefix':10}  {'created':20}  {'revoked':20}  name")
    for key in keys:
        revoked = f"{key.revoked_at:%Y-%m-%d %H:%M:%S}" if key.revoked_at else "-"
        print(
            f"{key.id!s:36}  {key.role.value:8}  {key.prefix:10}  "
            f"{key.created_at:%Y-%m-%d %H:%M:%S}  {revoked:20}  {key.name}"
        )
    return 0


def run_revoke(args: argparse.Namespace) -> int:
    try:
        key_id = uuid.UUID(args.key_id)
    except ValueError:
        raise ValueError(
            f"key_id: expected a UUID (see `guardq keys list`), got {args.key_id!r}"
        ) from None
    with session_scope(get_session_factory()) as session:
        revoked = revoke_api_key(session=session, key_id=key_id)
    if not revoked:
        print(f"guardq keys revoke: no live key with id {key_id}", file=sys.stderr)
        return 1
    print(f"revoked key {key_id}")
    return 0
