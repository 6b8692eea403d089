"""``guardq authors show|lift``: an author's strikes and hold, and lifting a hold."""

from __future__ import annotations

import argparse

from guardq.settings import get_settings
from guardq.store.authors import hold_states, lift_hold
from guardq.store.db import get_session_factory, session_scope
from guardq.store.models import utcnow


def register(commands: argparse._SubParsersAction) -> None:
    authors = commands.add_parser("authors", help=__doc__.split(": ", 1)[1])
    actions = authors.add_subparsers(dest="authors_command", required=True)
    show = actions.add_parser("show", help="strikes in the window, hold and until when")
    show.add_argument("author", help="the producer's author id (hashed here, never stored)")
    show.set_defaults(run=run_show)
    lift = actions.add_parser("lift", help="end the author's hold (a trail row records it)")
    lift.add_argument("author")
    lift.set_defaults(run=run_lift)


def _standing(session, author: str):
    settings = get_settings()
    if settings.policy.authors is None:
        raise ValueError("the policy tracks no authors: set policy.authors in GUARDQ_POLICY")
    hashes = settings.author_hashes(author)
    key = frozenset(hashes)
    now = utcnow()
    state = hold_states(
        session=session, authors={key: key}, policy=settings.policy.authors, now=now
    )
    return hashes, state[key], now


def _print(state) -> None:
    until = f" until {state.hold_until:%Y-%m-%d %H:%M:%S} UTC" if state.on_hold else ""
    print(f"strikes in the window: {state.strikes}; on hold: {state.on_hold}{until}")


def run_show(args: argparse.Namespace) -> int:
    with session_scope(get_session_factory()) as session:
        _hashes, state, _now = _standing(session, args.author)
    _print(state)
    return 0


def run_lift(args: argparse.Namespace) -> int:
    with session_scope(get_session_factory()) as session:
        hashes, state, now = _standing(session, args.author)
        if not state.on_hold:
            print("this author is not on hold")
            return 1
        lift_hold(session=session, hashes=hashes, actor_key_id=None, before=state, now=now)
    print("hold lifted")
    return 0
