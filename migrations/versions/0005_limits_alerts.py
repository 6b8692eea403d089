"""Rate limits per API key, and an alert URL per job.

- api_keys.rpm, api_keys.ipm: requests and items per minute the key may send (NULL: no
  limit); enforced by every API process through Redis (api.ratelimit).
- jobs.alert_url: where events for the job's blocked items are POSTed, signed
  (NULL: the deployment's GUARDQ_ALERT_URL, if any).

Revision ID: 0005_limits_alerts
Revises: 0004_lists_authors
Create Date: 2026-12-02 13:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_limits_alerts"
down_revision: str | Sequence[str] | None = "0004_lists_authors"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nullable, no default: existing keys stay unlimited, existing jobs alert nowhere new.
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("rpm", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("ipm", sa.Integer(), nullable=True))
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("alert_url", sa.String(length=2048), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("alert_url")
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("ipm")
        batch.drop_column("rpm")
