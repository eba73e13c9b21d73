"""``hullscan db``: import, update and describe the local vulnerability database."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from hullscan.cli.common import cache_dir_option, db_option, db_path


@click.group()
def db() -> None:
    """The local vulnerability database (OSV advisories in SQLite)."""


_quiet_option = click.option("-q", "--quiet", is_flag=True, help="No progress display.")


@contextmanager
def _progress(enabled: bool) -> Iterator[Callable[[str, int, int | None], None] | None]:
    """Records imported per source, on an interactive terminal; nothing otherwise."""
    if not enabled or not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        tasks: dict[str, Any] = {}

        def hook(label: str, done: int, total: int | None) -> None:
            if label not in tasks:
                tasks[label] = bar.add_task(Path(label).name or label, total=total)
            bar.update(tasks[label], completed=done, total=total)

        yield hook


@db.command("import")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@db_option
@cache_dir_option
@_quiet_option
def db_import(
    paths: tuple[Path, ...], db_path_: Path | None, cache_dir: Path | None, quiet: bool
) -> None:
    """Import OSV advisories (directories of OSV JSON files, all.zip exports, or
    directories of those), CISA's KEV catalog (known_exploited_vulnerabilities.json)
    and FIRST's EPSS scores (epss_scores-*.csv.gz). Adds to what the database holds
    (newer records win; a KEV or EPSS file replaces the previous one).

    \b
    Examples:
      hullscan db import ../shared/vulndata
      hullscan db import Debian/all.zip known_exploited_vulnerabilities.json \\
          epss_scores-current.csv.gz
    """
    from hullscan.vulndb.build import import_paths

    dest = db_path(db_path_, cache_dir)
    with _progress(not quiet) as hook:
        stats = import_paths(list(paths), dest, hook)
    click.echo(f"imported into {dest}: {stats.summary()}")


@db.command("update")
@click.option(
    "--source",
    metavar="URL|DIR",
    envvar="HULLSCAN_DB_SOURCE",
    show_envvar=True,
    help="Mirror with <Ecosystem>/all.zip files (https://, file:// or a directory; "
    "default: OSV's public export).",
)
@click.option(
    "--ecosystem",
    "ecosystems",
    multiple=True,
    help="Ecosystems to fetch (repeatable; default: those already in the database).",
)
@click.option("--offline", is_flag=True, help="Refuse to touch the network.")
@click.option(
    "--kev-url",
    metavar="URL|FILE|off",
    envvar="HULLSCAN_KEV_URL",
    show_envvar=True,
    help="CISA KEV catalog (default: CISA's feed, or <mirror>/kev/"
    "known_exploited_vulnerabilities.json with --source).",
)
@click.option(
    "--epss-url",
    metavar="URL|FILE|off",
    envvar="HULLSCAN_EPSS_URL",
    show_envvar=True,
    help="FIRST EPSS scores, gzip CSV (default: FIRST's daily file, or "
    "<mirror>/epss/epss_scores-current.csv.gz with --source).",
)
@db_option
@cache_dir_option
@_quiet_option
def db_update(
    source: str | None,
    ecosystems: tuple[str, ...],
    offline: bool,
    kev_url: str | None,
    epss_url: str | None,
    db_path_: Path | None,
    cache_dir: Path | None,
    quiet: bool,
) -> None:
    """Fetch the per-ecosystem all.zip exports, the CISA KEV catalog and the EPSS
    scores that changed, and rebuild the database with them in one step.

    Unchanged files are not downloaded again (conditional requests); a failed
    update leaves the previous database in place. Without --ecosystem: the
    ecosystems already in the database, or on a first update every one hullscan
    matches (Debian, Ubuntu, Alpine, Red Hat, AlmaLinux, Rocky Linux, SUSE,
    openSUSE, Wolfi, Chainguard, Azure Linux and the language ecosystems).

    \b
    Examples:
      hullscan db update --ecosystem Debian --ecosystem PyPI
      hullscan db update --source /srv/osv-mirror          # air-gapped
    """
    from hullscan.vulndb.update import DEFAULT_SOURCE, update

    dest = db_path(db_path_, cache_dir)
    with _progress(not quiet) as hook:
        stats = update(
            dest,
            source or DEFAULT_SOURCE,
            list(ecosystems) or None,
            offline=offline,
            kev_source=kev_url,
            epss_source=epss_url,
            cache_dir=cache_dir,
            progress=hook,
        )
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
