"""The lists a worker process matches with, recompiled when the store's token moves.

``compiled_lists(session)`` reads the version token (one indexed row) and returns the
matchers compiled for it: one for all deployment-scoped lists, one per job-scoped list.
A process keeps one set per database, so a change made through the API or the CLI is
seen at the worker's next batch, without a restart.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from guardq.lists.matcher import Matcher
from guardq.store.enums import ListScope
from guardq.store.lists import lists_version, load_lists

log = logging.getLogger(__name__)

_UNREAD = object()


@dataclass
class CompiledLists:
    version: object = _UNREAD
    deployment: Matcher = field(default_factory=lambda: Matcher.compile(()))
    by_name: dict[str, Matcher] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return self.deployment.empty and not self.by_name

    def matchers(self, names: Iterable[str] | None) -> list[Matcher]:
        """The deployment's matcher and those of the job-scoped lists ``names``."""
        found = [self.by_name[name] for name in names or () if name in self.by_name]
        return [m for m in (self.deployment, *found) if not m.empty]


_compiled: dict[str, CompiledLists] = {}
_lock = threading.Lock()


def compiled_lists(session: Session) -> CompiledLists:
    """The matchers for the store's current lists (recompiled only when they changed)."""
    key = str(session.get_bind().url)
    version = lists_version(session=session)
    current = _compiled.get(key)
    if current is not None and current.version == version:
        return current
    with _lock:
        specs = load_lists(session=session)
        deployment = [s for s in specs if s.scope is ListScope.DEPLOYMENT]
        fresh = CompiledLists(
            version=version,
            deployment=Matcher.compile(deployment),
            by_name={s.name: Matcher.compile([s]) for s in specs if s.scope is ListScope.JOB},
        )
        _compiled[key] = fresh
    log.info(
        "term lists %s: %d list(s), %d entries compiled",
        version,
        len(specs),
        sum(len(s.entries) for s in specs),
    )
    return fresh
