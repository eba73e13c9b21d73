"""fleet and admission on the one store: report origins, platform manifests, verdicts,
the queue that carries each job, the last match of each inventory, and what each
rematch changed

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("jobs") as jobs:
        jobs.add_column(sa.Column("origin", sa.String(16), nullable=False, server_default="scan"))
        jobs.add_column(sa.Column("manifest_digest", sa.String(100), nullable=True))
        jobs.add_column(sa.Column("verdict", JSON, nullable=True))
        jobs.add_column(sa.Column("queue", sa.String(16), nullable=True))
        jobs.create_index("ix_jobs_manifest_digest", ["manifest_digest"])
    with op.batch_alter_table("inventories") as inventories:
        inventories.add_column(sa.Column("finding_keys", JSON, nullable=True))
        inventories.add_column(sa.Column("db_version", sa.String(100), nullable=True))
        inventories.add_column(sa.Column("matched_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "rematch_changes",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_at", sa.DateTime(timezone=True), nullable=False, index=True),
        sa.Column("digest", sa.String(100), nullable=False),
        sa.Column("ref", sa.Text, nullable=False),
        sa.Column("db_version", sa.String(100), nullable=True),
        sa.Column("added", JSON, nullable=False),
        sa.Column("removed", JSON, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("rematch_changes")
    with op.batch_alter_table("inventories") as inventories:
        inventories.drop_column("matched_at")
        inventories.drop_column("db_version")
        inventories.drop_column("finding_keys")
    with op.batch_alter_table("jobs") as jobs:
        jobs.drop_index("ix_jobs_manifest_digest")
        jobs.drop_column("queue")
        jobs.drop_column("verdict")
        jobs.drop_column("manifest_digest")
        jobs.drop_column("origin")
