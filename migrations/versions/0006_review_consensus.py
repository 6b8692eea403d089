"""Review at scale: consensus decisions, the lead role, deadlines.

- review_decisions: every reviewer's decision on an escalation, one per reviewer
  (UNIQUE escalation_id, reviewer_key_id); ``settles`` marks a lead's on a disputed item.
- escalations.decisions_required / decisions_made / disputed / agreed_count: how many
  independent decisions must agree, how many were made, whether they disagreed, and at
  resolution how many gave the settled label. Existing rows need one decision (made
  already when resolved, so their agreed_count is 1).
- escalations.due_at: the policy's deadline for the escalation's reason (NULL for rows
  opened before it; they sort last in ``order=due``).
- api_keys.role admits "lead".

Revision ID: 0006_review_consensus
Revises: 0005_limits_alerts
Create Date: 2026-12-02 13:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_review_consensus"
down_revision: str | Sequence[str] | None = "0005_limits_alerts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_ROLES = ("producer", "reviewer", "admin")
NEW_ROLES = ("producer", "reviewer", "lead", "admin")


def _roles(roles: tuple[str, ...]) -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_constraint(op.f("ck_api_keys_role"), type_="check")
    with op.batch_alter_table("api_keys") as batch:
        batch.create_check_constraint(op.f("ck_api_keys_role"), sa.column("role").in_(roles))


def upgrade() -> None:
    _roles(NEW_ROLES)
    with op.batch_alter_table("escalations") as batch:
        batch.add_column(
            sa.Column("decisions_required", sa.Integer(), server_default="1", nullable=False)
        )
        batch.add_column(
            sa.Column("decisions_made", sa.Integer(), server_default="0", nullable=False)
        )
        batch.add_column(
            sa.Column("disputed", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch.add_column(sa.Column("agreed_count", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("due_at", sa.DateTime(timezone=True), nullable=True))
        batch.create_index(batch.f("ix_escalations_due_at"), ["due_at"], unique=False)
    escalations = sa.table(
        "escalations",
        sa.column("status", sa.String),
        sa.column("decisions_made", sa.Integer),
        sa.column("agreed_count", sa.Integer),
    )
    op.execute(
        escalations.update()
        .where(escalations.c.status == "resolved")
        .values(decisions_made=1, agreed_count=1)
    )
    op.create_table(
        "review_decisions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("escalation_id", sa.Uuid(), nullable=False),
        sa.Column("reviewer_key_id", sa.Uuid(), nullable=False),
        sa.Column(
            "decision",
            sa.Enum(
                "Safe",
                "Controversial",
                "Unsafe",
                name="decision",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("categories", sa.JSON(), nullable=False),
        sa.Column("refusal", sa.Boolean(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("settles", sa.Boolean(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["escalation_id"],
            ["escalations.id"],
            name=op.f("fk_review_decisions_escalation_id_escalations"),
        ),
        sa.ForeignKeyConstraint(
            ["reviewer_key_id"],
            ["api_keys.id"],
            name=op.f("fk_review_decisions_reviewer_key_id_api_keys"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_decisions")),
        sa.UniqueConstraint(
            "escalation_id",
            "reviewer_key_id",
            name=op.f("uq_review_decisions_escalation_id_reviewer_key_id"),
        ),
    )
    op.create_index(
        op.f("ix_review_decisions_escalation_id"),
        "review_decisions",
        ["escalation_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_review_decisions_escalation_id"), table_name="review_decisions")
    op.drop_table("review_decisions")
    with op.batch_alter_table("escalations") as batch:
        batch.drop_index(batch.f("ix_escalations_due_at"))
        batch.drop_column("due_at")
        batch.drop_column("agreed_count")
        batch.drop_column("disputed")
        batch.drop_column("decisions_made")
        batch.drop_column("decisions_required")
    # A lead goes back to reviewing: it keeps reviewing, and there is nothing to settle.
    api_keys = sa.table("api_keys", sa.column("role", sa.String))
    op.execute(api_keys.update().where(api_keys.c.role == "lead").values(role="reviewer"))
    _roles(OLD_ROLES)
