"""The reviewer judges refusal too.

- escalations.decision_refusal: the reviewer's reading of whether a response-mode item's
  response refuses its prompt (NULL: not judged, or a prompt-mode item), so that an
  exported training pair's ``Refusal:`` line need not rely on the model alone.

Revision ID: 0003_review_refusal
Revises: 0002_review_queue
Create Date: 2026-11-24 10:05:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_review_refusal"
down_revision: str | Sequence[str] | None = "0002_review_queue"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nullable and without a default: existing decisions were made without judging refusal.
    with op.batch_alter_table("escalations") as batch:
        batch.add_column(sa.Column("decision_refusal", sa.Boolean(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("escalations") as batch:
        batch.drop_column("decision_refusal")
