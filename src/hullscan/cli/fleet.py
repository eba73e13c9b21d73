"""``hullscan fleet scan|report|rematch``: every image of a registry, and every stored
result, on the server's store and queue."""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from hullscan.cli.common import (
    cache_dir_option,
    config_option,
    db_option,
    db_path,
    load_settings,
)
from hullscan.cli.registry import RegistryFlags, registry_options, registry_settings
from hullscan.errors import HullscanError

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import TaskID

    from hullscan.fleet.plan import FleetProgress

_store_option = click.option(
    "--store",
    "store_url",
    metavar="URL",
    envvar="HULLSCAN_STORE",
    show_envvar=True,
    help="Result store: sqlite:///PATH (default: the server's, under the cache directory) "
    "or postgresql://USER@HOST/DB (the one `hullscan server` and its workers use).",
)
_format_option = click.option(
    "-f",
    "--format",
    "fmt",
    default="table",
    show_default=True,
    type=click.Choice(["table", "json"]),
    help="Output format.",
)


def _open_store(url: str | None, cache_dir: Path | None) -> Any:
    from hullscan.jobs.store import Store, default_store_url

    return Store(url or default_store_url(cache_dir))


def _say(text: str) -> None:
    click.echo(text, err=True)


@contextmanager
def _progress() -> Iterator[FleetProgress]:
    """Bars on an interactive terminal (repositories listed, images scanned, with the time
    left); a line per step otherwise (logs, pipes, CI)."""
    from hullscan.fleet.plan import FleetProgress

    if not sys.stderr.isatty():
        yield FleetProgress(_say)
        return
    from rich.console import Console

    with fleet_bars(Console(stderr=True)) as bars:
        yield bars


@contextmanager
def fleet_bars(console: Console) -> Iterator[FleetProgress]:
    """A fleet scan's progress as rich bars on ``console``; news and failures are printed
    above them and stay."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from hullscan.fleet.plan import FleetProgress

    class Bars(FleetProgress):
        def __init__(self, bar: Progress) -> None:
            # plain text: an error may hold brackets that rich would take for markup
            super().__init__(lambda text: bar.console.print(text, markup=False, highlight=False))
            self._bar = bar
            self._repos: TaskID | None = None
            self._jobs: TaskID | None = None

        def listed(self, repo: str, tags: int, done: int, total: int) -> None:
            if self._repos is None:
                self._repos = self._bar.add_task("listing tags", total=total)
            self._bar.update(
                self._repos,
                completed=done,
                description="listed tags" if done == total else "listing tags",
            )

        def submitted(self, jobs: int) -> None:
            self._jobs = self._bar.add_task("scanning images", total=jobs)

        def finished(self, image: str, error: str | None, done: int, total: int) -> None:
            if error is not None:
                self.say(f"failed {image}: {error}")
            if self._jobs is not None:
                self._bar.update(self._jobs, completed=done)

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
    ) as bar:
        yield Bars(bar)


@click.group()
def fleet() -> None:
    """Every image of a registry, and every stored result.

    \b
      hullscan fleet scan registry:HOST[/PREFIX]   scan each distinct digest once
      hullscan fleet report                        what the stored results add up to
      hullscan fleet rematch                       after `db update`: who is newly affected

    Results go to the server's store (--store; SQLite under the cache directory by
    default, or PostgreSQL), which `hullscan server` reads for reports, its pages and
    admission decisions. Jobs go through its queue (--queue): run here, or by
    `hullscan worker` processes through Redis or RabbitMQ.
    """


@fleet.command("scan")
@click.argument("target", metavar="registry:HOST[/PREFIX]")
@_store_option
@click.option(
    "--queue",
    "queue_url",
    default="embedded",
    show_default=True,
    metavar="URL",
    envvar="HULLSCAN_QUEUE",
    show_envvar=True,
    help="Where jobs go: 'embedded' runs them here, --workers at a time; "
    "redis://HOST:PORT/N or amqp://USER:PASS@HOST/VHOST sends them to the "
    "server's `hullscan worker` processes (give the server's --store).",
)
@click.option(
    "--queue-name",
    default="hullscan",
    show_default=True,
    help="Celery queue name (the server's and its workers').",
)
@click.option(
    "--server",
    "server_url",
    metavar="URL",
    envvar="HULLSCAN_SERVER",
    show_envvar=True,
    help="Submit the jobs to a running `hullscan server` through its API (POST "
    "/v1/scans) instead of its store and queue; the key is read from "
    "$HULLSCAN_API_KEY or --api-key-file.",
)
@click.option(
    "--api-key-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="File holding the server's API key (--server).",
)
@click.option(
    "--server-ca",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="PEM CA bundle that signed the server's certificate (--server).",
)
@click.option(
    "--workers",
    default=2,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Scans at a time (embedded queue).",
)
@click.option(
    "--scanners",
    default="vuln,secret",
    show_default=True,
    help="Scanners each job runs (as for `hullscan scan`).",
)
@click.option(
    "--since",
    metavar="db|YYYY-MM-DD",
    help="Skip digests already scanned: 'db' with the current database, or a "
    "date at or after which they were scanned.",
)
@click.option(
    "--state",
    "state_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Resumable state file (default: <cache dir>/fleet/<target>.json). An "
    "interrupted scan started again resumes from it.",
)
@db_option
@cache_dir_option
@config_option
@_format_option
@registry_options
def fleet_scan_command(
    target: str,
    store_url: str | None,
    queue_url: str,
    queue_name: str,
    server_url: str | None,
    api_key_file: Path | None,
    server_ca: Path | None,
    workers: int,
    scanners: str,
    since: str | None,
    state_path: Path | None,
    db_path_: Path | None,
    cache_dir: Path | None,
    config_file: Path | None,
    fmt: str,
    registry_flags: RegistryFlags,
) -> None:
    """List every repository (under PREFIX) and tag of a registry, resolve each tag to
    its digest, and scan every distinct digest once.

    \b
    Examples:
      hullscan fleet scan registry:registry.example.com
      hullscan fleet scan registry:registry.example.com/team --since db --workers 4
      hullscan fleet scan registry:registry.example.com \\
          --store postgresql://hullscan@db/hullscan --queue redis://redis:6379/0
      HULLSCAN_API_KEY=… hullscan fleet scan registry:registry.example.com \\
          --server https://hullscan.example.com

    Each digest is one request on the server's store, as `POST /v1/scans` makes it: a
    digest already scanned with the same database and scanners is not scanned again.
    Signature and attestation tags (sha256-<hex>.sig, .att) are skipped. Progress goes
    to stderr (bars on a terminal, a line per step otherwise); the summary to stdout.
    Exit 2 when a job failed: run the same command again to retry only what is missing.
    """
    from hullscan.cachedir import default_cache_dir
    from hullscan.fleet.catalog import parse_target
    from hullscan.fleet.jobs import StoreJobs
    from hullscan.fleet.plan import default_state_path, fleet_scan
    from hullscan.jobs.queue import open_queue
    from hullscan.jobs.runner import WorkerContext
    from hullscan.jobs.scanning import db_version
    from hullscan.scanners import parse_scanners

    if since is not None and since != "db":
        import datetime as dt

        try:
            dt.date.fromisoformat(since)
        except ValueError:
            raise click.UsageError("--since: 'db' or a date YYYY-MM-DD") from None
    fleet_target = parse_target(target)
    loaded = load_settings(config_file)
    registry = registry_settings(registry_flags, loaded)
    selected = parse_scanners(scanners)
    database = db_path(db_path_, cache_dir)
    current = db_version(database) if "vuln" in selected else None
    if "vuln" in selected and current is None and queue_url == "embedded" and server_url is None:
        raise HullscanError(
            f"{database}: no vulnerability database; run `hullscan db update` first"
        )
    cache = cache_dir or default_cache_dir()
    state = state_path or default_state_path(cache, fleet_target)
    if server_url is not None:
        if store_url is not None or queue_url != "embedded":
            raise click.UsageError("--server: the server has its own --store and --queue")
        jobs = _server_jobs(server_url, api_key_file, server_ca, selected)
        try:
            with _progress() as progress:
                result = fleet_scan(
                    fleet_target,
                    jobs,
                    state,
                    registry=registry,
                    since=since,
                    current_db=current,
                    progress=progress,
                )
        finally:
            jobs.close()
    else:
        store = _open_store(store_url, cache_dir)
        queue = open_queue(
            queue_url,
            queue_name,
            WorkerContext(store, cache, database, dataclasses.replace(loaded, registries=registry)),
            workers,
        )
        local = StoreJobs(
            store,
            queue,
            selected,
            lambda: current,
            insecure=tuple(registry.insecure),
            username=registry.username,
            password=registry.password,
        )
        try:
            with _progress() as progress:
                result = fleet_scan(
                    fleet_target,
                    local,
                    state,
                    registry=registry,
                    since=since,
                    current_db=current,
                    progress=progress,
                )
        finally:
            queue.close()
            store.close()
    if fmt == "json":
        click.echo(json.dumps(result.to_dict(), indent=2))
    else:
        click.echo(
            f"{result.repositories} repositories, {result.tags} tags, "
            f"{result.digests} distinct digests: {result.done} scanned, "
            f"{result.skipped} skipped, {result.resumed} done earlier, "
            f"{len(result.failed)} failed"
        )
        for where, why in result.tag_errors.items():
            click.echo(f"  tag {where}: {why}")
        for digest, why in result.failed.items():
            click.echo(f"  failed {digest}: {why}")
    if result.failed:
        raise HullscanError(
            f"{len(result.failed)} of {result.digests} images could not be "
            "scanned; run the same command again to retry them"
        )


def _server_jobs(
    url: str, key_file: Path | None, ca: Path | None, scanners: tuple[str, ...]
) -> Any:
    import os
    import ssl

    from hullscan.fleet.jobs import ServerJobs

    if not url.startswith(("https://", "http://")):
        raise click.UsageError(f"--server {url!r}: expected https://HOST[:PORT]")
    key = key_file.read_text().strip() if key_file else os.environ.get("HULLSCAN_API_KEY")
    verify: ssl.SSLContext | bool = ssl.create_default_context(cafile=str(ca)) if ca else True
    jobs = ServerJobs(url, key or None, scanners, verify=verify)
    try:
        jobs.check()
    except HullscanError:
        jobs.close()
        raise
    return jobs


@fleet.command("report")
@_store_option
@cache_dir_option
@click.option(
    "-f",
    "--format",
    "fmt",
    default="table",
    show_default=True,
    type=click.Choice(["table", "json", "html"]),
    help="Output format (html: one self-contained page).",
)
@click.option(
    "--top",
    default=10,
    show_default=True,
    type=click.IntRange(1, 1000),
    help="How many vulnerabilities and images to list.",
)
def fleet_report_command(store_url: str | None, cache_dir: Path | None, fmt: str, top: int) -> None:
    """Summarise the latest stored report of every image: images by worst severity, the
    vulnerabilities that affect the most images, known-exploited (KEV) exposure, and
    images on end-of-life distribution releases."""
    from hullscan.fleet.report import render_table, summarize

    store = _open_store(store_url, cache_dir)
    try:
        summary = summarize(store, top=top)
    finally:
        store.close()
    if fmt == "html":
        from hullscan.report.html import fleet_page

        click.echo(fleet_page(summary, base=None), nl=False)
        return
    click.echo(json.dumps(summary, indent=2) if fmt == "json" else render_table(summary))


@fleet.command("rematch")
@_store_option
@click.option(
    "--all",
    "everything",
    is_flag=True,
    help="Match every inventory, also those already matched with the current "
    "database (after upgrading hullscan).",
)
@db_option
@cache_dir_option
@_format_option
def fleet_rematch_command(
    store_url: str | None, everything: bool, db_path_: Path | None, cache_dir: Path | None, fmt: str
) -> None:
    """Match the stored inventories against the vulnerability database again, without
    pulling or reading any image, and list the images that gained or lost findings.
    Inventories already matched with this very database are skipped (--all: not).

    \b
    Run it after `hullscan db update`:
      hullscan db update && hullscan fleet rematch --format json

    Changed images get a new stored report, so admission decisions follow at once.
    """
    from hullscan.fleet.rematch import rematch
    from hullscan.jobs.store import REMATCH_LOCK
    from hullscan.vulndb import open_db

    store = _open_store(store_url, cache_dir)
    try:
        with open_db(db_path(db_path_, cache_dir)) as db, store.exclusive(REMATCH_LOCK, wait=True):
            result = rematch(store, db, db.meta().built_at, everything=everything)
    finally:
        store.close()
    if fmt == "json":
        click.echo(json.dumps(result.to_dict(), indent=2))
        return
    click.echo(
        f"{result.inventories} inventories matched in {result.seconds:.2f} s "
        f"({result.up_to_date} already matched with this database); "
        f"{len(result.changed)} images changed"
    )
    for c in result.changed:
        added = f" +{', +'.join(c.added)}" if c.added else ""
        removed = f" -{', -'.join(c.removed)}" if c.removed else ""
        click.echo(f"  {c.image}:{added}{removed}")


__all__ = ["fleet"]
