"""``guardq lists create|add|remove|show|list|delete``: term lists (block and allow lists
of phrases and regular expressions, matched by the workers before the model)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from guardq.lists.entries import EntrySpec, check_entry
from guardq.store.db import get_session_factory, session_scope
from guardq.store.enums import EntryKind, ListKind, ListScope
from guardq.store.lists import (
    add_entries,
    create_list,
    delete_list,
    get_list,
    list_lists,
    remove_entries,
)


def _entry_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--phrase", action="append", default=[], help="a phrase (repeatable)")
    parser.add_argument("--regex", action="append", default=[], help="a regex (repeatable)")
    parser.add_argument("--file", type=Path, help="phrases, one per line")
    parser.add_argument("--regex-file", type=Path, help="regular expressions, one per line")


def register(commands: argparse._SubParsersAction) -> None:
    lists = commands.add_parser("lists", help=__doc__.split(": ", 1)[1].split(" (")[0])
    actions = lists.add_subparsers(dest="lists_command", required=True)

    create = actions.add_parser("create", help="create a list, with entries if given")
    create.add_argument("name")
    create.add_argument("--kind", required=True, choices=[k.value for k in ListKind])
    create.add_argument(
        "--scope",
        default=ListScope.DEPLOYMENT.value,
        choices=[s.value for s in ListScope],
        help="deployment: every job; job: the jobs naming it in `lists`",
    )
    create.add_argument(
        "--skip-model",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="a hit decides without the model (default: on for allow lists, off for block)",
    )
    _entry_options(create)
    create.set_defaults(run=run_create)

    add = actions.add_parser("add", help="add entries (those present stay)")
    add.add_argument("name")
    _entry_options(add)
    add.set_defaults(run=run_add)

    remove = actions.add_parser("remove", help="remove entries by id or by pattern")
    remove.add_argument("name")
    remove.add_argument("--id", type=int, action="append", default=[], dest="ids")
    _entry_options(remove)
    remove.set_defaults(run=run_remove)

    show = actions.add_parser("show", help="a list and its entries (id, kind, pattern)")
    show.add_argument("name")
    show.set_defaults(run=run_show)

    listing = actions.add_parser("list", help="every list with its entry count")
    listing.set_defaults(run=run_list)

    delete = actions.add_parser("delete", help="delete a list and its entries")
    delete.add_argument("name")
    delete.set_defaults(run=run_delete)


def _lines(path: Path | None) -> list[str]:
    if path is None:
        return []
    return [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _entries(args: argparse.Namespace) -> list[EntrySpec]:
    given = [(EntryKind.PHRASE, p) for p in args.phrase + _lines(args.file)]
    given += [(EntryKind.REGEX, r) for r in args.regex + _lines(args.regex_file)]
    specs = []
    for kind, value in given:
        try:
            specs.append(check_entry(kind, value))
        except ValueError as exc:
            raise ValueError(f"{kind.value} {value!r}: {exc}") from None
    return specs


def run_create(args: argparse.Namespace) -> int:
    kind = ListKind(args.kind)
    skip = args.skip_model if args.skip_model is not None else kind is ListKind.ALLOW
    with session_scope(get_session_factory()) as session:
        info = create_list(
            session=session,
            name=args.name,
            kind=kind,
            scope=ListScope(args.scope),
            skip_model=skip,
            entries=_entries(args),
        )
    print(
        f"created {info.kind.value} list {info.name!r} ({info.scope.value}, "
        f"skip_model={info.skip_model}) with {info.entry_count} entries"
    )
    return 0


def run_add(args: argparse.Namespace) -> int:
    with session_scope(get_session_factory()) as session:
        stored = add_entries(session=session, name=args.name, entries=_entries(args))
        info, _ = get_list(session=session, name=args.name)
    for entry in stored:
        print(f"{entry.id}\t{entry.kind.value}\t{entry.pattern}")
    print(f"list {info.name!r}: {info.entry_count} entries", file=sys.stderr)
    return 0


def run_remove(args: argparse.Namespace) -> int:
    with session_scope(get_session_factory()) as session:
        removed = remove_entries(
            session=session, name=args.name, ids=args.ids, entries=_entries(args)
        )
    print(f"removed {removed} entries from {args.name!r}")
    return 0


def run_show(args: argparse.Namespace) -> int:
    with session_scope(get_session_factory()) as session:
        info, entries = get_list(session=session, name=args.name, with_entries=True)
    print(
        f"{info.kind.value} list {info.name!r}: {info.scope.value}, "
        f"skip_model={info.skip_model}, {info.entry_count} entries"
    )
    for entry in entries:
        print(f"{entry.id}\t{entry.kind.value}\t{entry.pattern}")
    return 0


def run_list(args: argparse.Namespace) -> int:
    with session_scope(get_session_factory()) as session:
        infos = list_lists(session=session)
    print(f"{'name':32}  {'kind':6}  {'scope':10}  {'skip':5}  entries")
    for info in infos:
        print(
            f"{info.name:32}  {info.kind.value:6}  {info.scope.value:10}  "
            f"{info.skip_model!s:5}  {info.entry_count}"
        )
    return 0


def run_delete(args: argparse.Namespace) -> int:
    with session_scope(get_session_factory()) as session:
        delete_list(session=session, name=args.name)
    print(f"deleted list {args.name!r}")
    return 0
