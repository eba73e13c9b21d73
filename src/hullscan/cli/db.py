"""``hullscan db``: import, update and describe the local vulnerability database."""

from __future__ import annotations

from pathlib import Path

import click

from hullscan.cli.common import cache_dir_option, db_option, db_path


@click.group()
def db() -> None:
    """The local vulnerability database (OSV advisories in SQLite)."""


@db.command("import")
@click.argument("paths", nargs=-1, required=True,
                type=click.Path(exists=True, path_type=Path))
@db_option
@cache_dir_option
def db_import(paths: tuple[Path, ...], db_path_: Path | None, cache_dir: Path | None) -> None:
    """Import OSV advisories: directories of OSV JSON files, all.zip exports, or
    directories of those. Adds to what the database holds (newer records win)."""
    from hullscan.vulndb.build import import_paths

    dest = db_path(db_path_, cache_dir)
    stats = import_paths(list(paths), dest)
    click.echo(f"imported into {dest}: {stats.summary()}")


@db.command("update")
@click.option("--source", metavar="URL|DIR", envvar="HULLSCAN_DB_SOURCE", show_envvar=True,
              help="Mirror with <Ecosystem>/all.zip files (https://, file:// or a directory; "
                   "default: OSV's public export).")
@click.option("--ecosystem", "ecosystems", multiple=True,
              help="Ecosystems to fetch (repeatable; default: those already in the database).")
@click.option("--offline", is_flag=True, help="Refuse to touch the network.")
@db_option
@cache_dir_option
def db_update(source: str | None, ecosystems: tuple[str, ...], offline: bool,
              db_path_: Path | None, cache_dir: Path | None) -> None:
    """Fetch the per-ecosystem all.zip exports that changed and rebuild the database.

    Unchanged exports are not downloaded again (conditional requests); a failed
    update leaves the previous database in place."""
    from hullscan.vulndb.update import DEFAULT_SOURCE, update

    dest = db_path(db_path_, cache_dir)
    stats = update(dest, source or DEFAULT_SOURCE, list(ecosystems) or None, offline=offline)
    click.echo(f"{dest}: {stats.summary()}")


@db.command("status")
@db_option
@cache_dir_option
def db_status(db_path_: Path | None, cache_dir: Path | None) -> None:
    """Ecosystems, advisory counts and the age of the data."""
    from hullscan.vulndb import age_warning, open_db

    vdb = open_db(db_path(db_path_, cache_dir))
    try:
        click.echo(vdb.describe())
        if warning := age_warning(vdb, 7):
            click.echo(f"warning: {warning}")
    finally:
        vdb.close()
