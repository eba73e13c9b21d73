"""jobs, scans and inventories

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("digest", sa.String(100), nullable=True, index=True),
        sa.Column("scanners", sa.String(200), nullable=False),
        sa.Column("sbom", sa.Boolean, nullable=False),
        sa.Column("db_version", sa.String(100), nullable=True),
        sa.Column("status", sa.String(16), nullable=False, index=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("report", JSON, nullable=True),
        sa.Column("sboms", JSON, nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("duration", sa.Float, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True, index=True),
    )
    op.create_table(
        "scans",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("job_key", sa.String(64), sa.ForeignKey("jobs.key"), nullable=False, index=True),
        sa.Column("ref", sa.Text, nullable=False),
        sa.Column("artifact", JSON, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, index=True),
    )
    op.create_table(
        "inventories",
        sa.Column("digest", sa.String(100), primary_key=True),
        sa.Column("ref", sa.Text, nullable=False),
        sa.Column("inventory", JSON, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("inventories")
    op.drop_table("scans")
    op.drop_table("jobs")
