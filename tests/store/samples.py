"""Verdicts, decisions and a job maker shared by the store tests."""

from guardq.policy import Action, Decision
from guardq.store.db import session_scope
from guardq.store.jobs import NewItem, create_job
from guardq.verdict import Category, Mode, Severity, SeverityScores, Span, Verdict


def make_job(factory, texts, mode=Mode.PROMPT, **kwargs):
    with session_scope(factory) as session:
        return create_job(
            session=session,
            mode=mode,
            items=[NewItem(text=text) for text in texts],
            model_id="demo",
            **kwargs,
        )


UNSAFE = Verdict(
    severity=Severity.UNSAFE,
    categories=(Category.VIOLENT,),
    scores=SeverityScores(safe=0.01, controversial=0.04, unsafe=0.95),
    span=Span(0, 12),
)
CONTROVERSIAL = Verdict(severity=Severity.CONTROVERSIAL, categories=(Category.POLITICAL,))
SAFE = Verdict(severity=Severity.SAFE)
BLOCK = Decision(Action.BLOCK, "severity Unsafe")
REVIEW = Decision(Action.REVIEW, "severity Controversial")
ALLOW = Decision(Action.ALLOW, "severity Safe")
