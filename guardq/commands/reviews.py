"""``guardq reviews purge|stats``: reviewer-queue upkeep and figures from the command line."""

from __future__ import annotations

import argparse
import sys

from guardq.store.db import get_session_factory, session_scope
from guardq.store.escalations import purge_retained_text
from guardq.store.reviews import review_stats


def register(commands: argparse._SubParsersAction) -> None:
    reviews = commands.add_parser("reviews", help=__doc__.split(": ", 1)[1])
    actions = reviews.add_subparsers(dest="reviews_command", required=True)
    purge = actions.add_parser(
        "purge",
        help="clear reviewed text past its retention now (beat does it every "
        "GUARDQ_PURGE_INTERVAL_S); hashes and decisions stay",
    )
    purge.set_defaults(run=run_purge)
    stats = actions.add_parser("stats", help="the queue's size and age, decisions, agreement")
    stats.set_defaults(run=run_stats)


def run_purge(args: argparse.Namespace) -> int:
    with session_scope(get_session_factory()) as session:
        purged = purge_retained_text(session=session)
    print(f"purged the retained text of {purged} reviewed item(s)", file=sys.stderr)
    return 0


def _rate(agreement) -> str:
    return f"{agreement.rate:.0%}" if agreement.rate is not None else "-"


def run_stats(args: argparse.Namespace) -> int:
    with session_scope(get_session_factory()) as session:
        stats = review_stats(session=session)
    age = f"{stats.oldest_open_age_s:.0f} s" if stats.oldest_open_age_s is not None else "-"
    print(f"open {stats.open}  claimed {stats.claimed}  resolved {stats.resolved}  oldest {age}")
    for reviewer in stats.decisions_by_reviewer:
        print(f"  {reviewer.name or reviewer.key_id or '(deleted key)'}: {reviewer.decisions}")
    overall = stats.agreement
    print(f"agreement with the model: {overall.agreed}/{overall.decided} ({_rate(overall)})")
    for category, agreement in stats.agreement_by_category.items():
        print(f"  {category.value}: {agreement.agreed}/{agreement.decided} ({_rate(agreement)})")
    if stats.inter_reviewer:
        print(f"between reviewers: {_kappas(stats.inter_reviewer)}")
        for category, figures in (stats.inter_reviewer_by_category or {}).items():
            print(f"  {category.value}: {_kappas(figures)}")
    print(f"overdue {stats.overdue}")
    return 0


def _kappas(figures) -> str:
    return "; ".join(
        f"{f.method} kappa {'-' if f.kappa is None else f'{f.kappa:.2f}'} "
        f"({f.items} items, {f.raters} reviewers each)"
        for f in figures
    )
