"""Alembic environment: the caller (``hullscan.jobs.migrate``) passes a connection."""

from alembic import context

from hullscan.jobs.store import METADATA

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=METADATA,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
