"""Alembic, driven from code: the migrations ship inside the package
(``hullscan/jobs/migrations``), so ``hullscan server`` and ``hullscan worker`` bring any
store to the current schema without an ``alembic.ini``."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

MIGRATIONS = Path(__file__).with_name("migrations")


def config(connection: sa.Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def upgrade(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        command.upgrade(config(conn), "head")
