"""The reviewer queue: decisions as severities, the producer's retention choice.

- escalations.decision: "allow"/"block" become the model's own terms (Safe,
  Controversial, Unsafe), so that a decision is also a training label.
- escalations.retained_prompt: a response-mode item's prompt, kept with its response
  (a reviewer, and a training pair, need both); purged with it.
- escalations.purged_at: when the purge cleared the text.
- jobs.retain_text: the producer's choice to keep escalated text (true for old jobs).

Revision ID: 0002_review_queue
Revises: 0001_initial
Create Date: 2026-11-23 14:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_review_queue"
down_revision: str | Sequence[str] | None = "0001_initial"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_DECISIONS = ("allow", "block")
NEW_DECISIONS = ("Safe", "Controversial", "Unsafe")
# Old to new is exact; new to old has no "Controversial", which goes back as "block"
# (fail closed: a downgrade must not turn a doubtful item into an allowed one).
UPGRADE_MAP = {"allow": "Safe", "block": "Unsafe"}
DOWNGRADE_MAP = {"Safe": "allow", "Controversial": "block", "Unsafe": "block"}


def _swap_decisions(new: tuple[str, ...], mapping: dict[str, str]) -> None:
    # The CHECK constraint goes first, so that rows can hold the new values meanwhile;
    # the recreated one (batch mode copies the table on SQLite) admits only the new set.
    with op.batch_alter_table("escalations") as batch:
        batch.drop_constraint(op.f("ck_escalations_decision"), type_="check")
    escalations = sa.table("escalations", sa.column("decision", sa.String))
    for before, after in mapping.items():
        op.execute(
            escalations.update().where(escalations.c.decision == before).values(decision=after)
        )
    # The column stays VARCHAR(16): only the admitted set changes.
    with op.batch_alter_table("escalations") as batch:
        batch.create_check_constraint(
            op.f("ck_escalations_decision"), sa.column("decision").in_(new)
        )


def upgrade() -> None:
    _swap_decisions(NEW_DECISIONS, UPGRADE_MAP)
    with op.batch_alter_table("escalations") as batch:
        batch.add_column(sa.Column("retained_prompt", sa.Text(), nullable=True))
        batch.add_column(sa.Column("purged_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(
            sa.Column("retain_text", sa.Boolean(), server_default=sa.true(), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("retain_text")
    with op.batch_alter_table("escalations") as batch:
        batch.drop_column("purged_at")
        batch.drop_column("retained_prompt")
    _swap_decisions(OLD_DECISIONS, DOWNGRADE_MAP)
