"""``guardq keys create|list|limits|revoke``: API keys (shown once, stored as SHA-256
hashes), with their rate limits."""

from __future__ import annotations

import argparse
import sys
import uuid

from guardq.store.db import get_session_factory, session_scope
from guardq.store.enums import KeyRole
from guardq.store.keys import (
    UNCHANGED,
    create_api_key,
    list_api_keys,
    revoke_api_key,
    set_api_key_limits,
)


def _per_minute(value: str) -> int | None:
    if value.strip().lower() == "none":
        return None
    try:
        return int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a number per minute or 'none', got {value!r}"
        ) from None


def _limit_options(parser: argparse.ArgumentParser, default) -> None:
    parser.add_argument(
        "--rpm", type=_per_minute, default=default, help="requests per minute ('none': no limit)"
    )
    parser.add_argument(
        "--ipm",
        type=_per_minute,
        default=default,
        help="items per minute, a bulk job's items included ('none': no limit)",
    )


def register(commands: argparse._SubParsersAction) -> None:
    keys = commands.add_parser("keys", help=__doc__.split(": ", 1)[1].replace("\n", " "))
    actions = keys.add_subparsers(dest="keys_command", required=True)

    create = actions.add_parser("create", help="create a key and print it, once")
    create.add_argument("--role", required=True, choices=[role.value for role in KeyRole])
    create.add_argument("--name", required=True, help="who or what uses the key (1-100 chars)")
    _limit_options(create, None)
    create.set_defaults(run=run_create)

    limits = actions.add_parser("limits", help="change a key's rate limits (from its next request)")
    limits.add_argument("key_id", help="the id shown by `guardq keys list`")
    _limit_options(limits, UNCHANGED)
    limits.set_defaults(run=run_limits)

    listing = actions.add_parser("list", help="list keys (id, role, name, prefix; no secrets)")
    listing.set_defaults(run=run_list)

    revoke = actions.add_parser("revoke", help="revoke a key by its id")
    revoke.add_argument("key_id", help="the id shown by `guardq keys list`")
    revoke.set_defaults(run=run_revoke)


def run_create(args: argparse.Namespace) -> int:
    with session_scope(get_session_factory()) as session:
        created = create_api_key(
            session=session, name=args.name, role=KeyRole(args.role), rpm=args.rpm, ipm=args.ipm
        )
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
    print(
        f"{'id':36}  {'role':8}  {'prefix':10}  {'created':20}  {'revoked':20}  "
        f"{'rpm':>7}  {'ipm':>9}  name"
    )
    for key in keys:
        revoked = f"{key.revoked_at:%Y-%m-%d %H:%M:%S}" if key.revoked_at else "-"
        print(
            f"{key.id!s:36}  {key.role.value:8}  {key.prefix:10}  "
            f"{key.created_at:%Y-%m-%d %H:%M:%S}  {revoked:20}  "
            f"{_shown(key.rpm):>7}  {_shown(key.ipm):>9}  {key.name}"
        )
    return 0


def _shown(limit: int | None) -> str:
    return "-" if limit is None else str(limit)


def _key_id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise ValueError(
            f"key_id: expected a UUID (see `guardq keys list`), got {value!r}"
        ) from None


def run_limits(args: argparse.Namespace) -> int:
    key_id = _key_id(args.key_id)
    if args.rpm is UNCHANGED and args.ipm is UNCHANGED:
        raise ValueError("give --rpm and/or --ipm (a number per minute, or 'none')")
    with session_scope(get_session_factory()) as session:
        key = set_api_key_limits(session=session, key_id=key_id, rpm=args.rpm, ipm=args.ipm)
    if key is None:
        print(f"guardq keys limits: no key with id {key_id}", file=sys.stderr)
        return 1
    print(f"key {key_id}: {_shown(key.rpm)} requests, {_shown(key.ipm)} items per minute")
    return 0


def run_revoke(args: argparse.Namespace) -> int:
    key_id = _key_id(args.key_id)
    with session_scope(get_session_factory()) as session:
        revoked = revoke_api_key(session=session, key_id=key_id)
    if not revoked:
        print(f"guardq keys revoke: no live key with id {key_id}", file=sys.stderr)
        return 1
    print(f"revoked key {key_id}")
    return 0
