"""Term lists, and authors' strikes and holds.

- term_lists, term_list_entries: named block / allow lists of phrases and regular
  expressions (guardq.lists); term_list_state: the token workers compare per batch.
- jobs.lists: the job-scoped lists a job names.
- items.author_hash, items.author_hash_previous: the HMAC of the producer's author id
  (never the id), under the current and, while rotating, the previous secret.
- verdicts.list_hits: which list entries matched, with spans (never the matched text).
- author_events: the trail of author holds (an admin lifting one).

Revision ID: 0004_lists_authors
Revises: 0003_review_refusal
Create Date: 2026-12-02 13:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_lists_authors"
down_revision: str | Sequence[str] | None = "0003_review_refusal"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _kind(name: str, values: tuple[str, ...]) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=16)


def upgrade() -> None:
    op.create_table(
        "term_lists",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("kind", _kind("kind", ("block", "allow")), nullable=False),
        sa.Column("scope", _kind("scope", ("deployment", "job")), nullable=False),
        sa.Column("skip_model", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_term_lists")),
        sa.UniqueConstraint("name", name=op.f("uq_term_lists_name")),
    )
    op.create_table(
        "term_list_entries",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("list_id", sa.Uuid(), nullable=False),
        sa.Column("kind", _kind("kind", ("phrase", "regex")), nullable=False),
        sa.Column("pattern", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["list_id"],
            ["term_lists.id"],
            name=op.f("fk_term_list_entries_list_id_term_lists"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_term_list_entries")),
        sa.UniqueConstraint(
            "list_id", "kind", "pattern", name=op.f("uq_term_list_entries_list_id_kind_pattern")
        ),
        # An id named in a stored reason is never reused (SQLite reuses them otherwise).
        sqlite_autoincrement=True,
    )
    op.create_index(
        op.f("ix_term_list_entries_list_id"), "term_list_entries", ["list_id"], unique=False
    )
    op.create_table(
        "term_list_state",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("version", sa.Uuid(), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_term_list_state")),
    )
    op.create_table(
        "author_events",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("author_hash", sa.String(length=64), nullable=False),
        sa.Column("author_hash_previous", sa.String(length=64), nullable=True),
        sa.Column("actor_key_id", sa.Uuid(), nullable=True),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("before", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("after", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_key_id"], ["api_keys.id"], name=op.f("fk_author_events_actor_key_id_api_keys")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_author_events")),
    )
    op.create_index(
        "ix_author_events_author_hash_at", "author_events", ["author_hash", "at"], unique=False
    )
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("lists", sa.JSON(none_as_null=True), nullable=True))
    with op.batch_alter_table("items") as batch:
        batch.add_column(sa.Column("author_hash", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("author_hash_previous", sa.String(length=64), nullable=True))
        batch.create_index(op.f("ix_items_author_hash"), ["author_hash"], unique=False)
        batch.create_index(
            op.f("ix_items_author_hash_previous"), ["author_hash_previous"], unique=False
        )
    with op.batch_alter_table("verdicts") as batch:
        batch.add_column(sa.Column("list_hits", sa.JSON(none_as_null=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("verdicts") as batch:
        batch.drop_column("list_hits")
    with op.batch_alter_table("items") as batch:
        batch.drop_index(op.f("ix_items_author_hash_previous"))
        batch.drop_index(op.f("ix_items_author_hash"))
        batch.drop_column("author_hash_previous")
        batch.drop_column("author_hash")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("lists")
    op.drop_index("ix_author_events_author_hash_at", table_name="author_events")
    op.drop_table("author_events")
    op.drop_table("term_list_state")
    op.drop_index(op.f("ix_term_list_entries_list_id"), table_name="term_list_entries")
    op.drop_table("term_list_entries")
    op.drop_table("term_lists")
