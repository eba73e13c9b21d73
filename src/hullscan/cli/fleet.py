"""``hullscan fleet scan|report|rematch`` (every image of a registry, and every stored
result) and ``hullscan webhook`` (the Kubernetes admission webhook, over HTTPS)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

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

_store_option = click.option(
    "--store", "store_url", metavar="URL", envvar="HULLSCAN_STORE", show_envvar=True,
    help="Result store: sqlite:///PATH (default: results.sqlite in the cache directory) "
         "or postgresql://USER@HOST/DB.")
_format_option = click.option("-f", "--format", "fmt", default="table", show_default=True,
                              type=click.Choice(["table", "json"]), help="Output format.")


def _open_store(url: str | None, cache_dir: Path | None) -> Any:
    from hullscan.fleet.store import ResultStore, default_store_url

    return ResultStore(url or default_store_url(cache_dir))


def _say(text: str) -> None:
    click.echo(text, err=True)


@click.group()
def fleet() -> None:
    """Every image of a registry, and every stored result.

    \b
      hullscan fleet scan registry:HOST[/PREFIX]   scan each distinct digest once
      hullscan fleet report                        what the stored results add up to
      hullscan fleet rematch                       after `db update`: who is newly affected

    Results go to a store (--store; SQLite under the cache directory by default, or
    PostgreSQL) that `hullscan webhook` reads for admission decisions.
    """


@fleet.command("scan")
@click.argument("target", metavar="registry:HOST[/PREFIX]")
@_store_option
@click.option("--queue", "queue_url", default="embedded", show_default=True, metavar="URL",
              help="Where jobs go: 'embedded' runs them here, --workers at a time.")
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64),
              help="Scans at a time (embedded queue).")
@click.option("--scanners", default="vuln,secret", show_default=True,
              help="Scanners each job runs (as for `hullscan scan`).")
@click.option("--since", metavar="db|YYYY-MM-DD",
              help="Skip digests already scanned: 'db' with the current database, or a "
                   "date at or after which they were scanned.")
@click.option("--state", "state_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Resumable state file (default: <cache dir>/fleet/<target>.json). An "
                   "interrupted scan started again resumes from it.")
@db_option
@cache_dir_option
@config_option
@_format_option
@registry_options
def fleet_scan_command(target: str, store_url: str | None, queue_url: str, workers: int,
                       scanners: str, since: str | None, state_path: Path | None,
                       db_path_: Path | None, cache_dir: Path | None,
                       config_file: Path | None, fmt: str,
                       registry_flags: RegistryFlags) -> None:
    """List every repository (under PREFIX) and tag of a registry, resolve each tag to
    its digest, and scan every distinct digest once.

    \b
    Examples:
      hullscan fleet scan registry:registry.example.com
      hullscan fleet scan registry:registry.example.com/team --since db --workers 4

    Signature and attestation tags (sha256-<hex>.sig, .att) are skipped. Progress goes
    to stderr; the summary to stdout. Exit 2 when a job failed: run the same command
    again to retry only what is missing.
    """
    from hullscan.cache import default_cache_dir
    from hullscan.fleet.catalog import parse_target
    from hullscan.fleet.plan import default_state_path, fleet_scan
    from hullscan.fleet.queue import EmbeddedQueue
    from hullscan.fleet.scanning import JobSettings, db_version, scan_report
    from hullscan.scanners import parse_scanners

    if queue_url != "embedded":
        raise click.UsageError("--queue: only 'embedded' is available to fleet scan")
    if since is not None and since != "db":
        import datetime as dt

        try:
            dt.date.fromisoformat(since)
        except ValueError:
            raise click.UsageError("--since: 'db' or a date YYYY-MM-DD") from None
    fleet_target = parse_target(target)
    loaded = load_settings(config_file)
    settings = JobSettings(parse_scanners(scanners), db_path(db_path_, cache_dir), cache_dir,
                           registry_settings(registry_flags, loaded), loaded)
    current = db_version(settings.db_path) if "vuln" in settings.scanners else "none"
    cache = cache_dir or default_cache_dir()
    store = _open_store(store_url, cache_dir)
    queue = EmbeddedQueue(store, lambda image: scan_report(image, settings),
                          lambda: current, workers)
    try:
        result = fleet_scan(fleet_target, queue, store,
                            state_path or default_state_path(cache, fleet_target),
                            registry=settings.registry, since=since, current_db=current,
                            progress=_say)
    finally:
        queue.close()
        store.close()
    if fmt == "json":
        click.echo(json.dumps(result.to_dict(), indent=2))
    else:
        click.echo(f"{result.repositories} repositories, {result.tags} tags, "
                   f"{result.digests} distinct digests: {result.done} scanned, "
                   f"{result.skipped} skipped, {result.resumed} done earlier, "
                   f"{len(result.failed)} failed")
        for where, why in result.tag_errors.items():
            click.echo(f"  tag {where}: {why}")
        for digest, why in result.failed.items():
            click.echo(f"  failed {digest}: {why}")
    if result.failed:
        raise HullscanError(f"{len(result.failed)} of {result.digests} images could not be "
                            "scanned; run the same command again to retry them")


@fleet.command("report")
@_store_option
@cache_dir_option
@click.option("-f", "--format", "fmt", default="table", show_default=True,
              type=click.Choice(["table", "json", "html"]),
              help="Output format (html: one self-contained page).")
@click.option("--top", default=10, show_default=True, type=click.IntRange(1, 1000),
              help="How many vulnerabilities and images to list.")
def fleet_report_command(store_url: str | None, cache_dir: Path | None, fmt: str,
                         top: int) -> None:
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
@db_option
@cache_dir_option
@_format_option
def fleet_rematch_command(store_url: str | None, db_path_: Path | None,
                          cache_dir: Path | None, fmt: str) -> None:
    """Match every stored inventory against the vulnerability database again, without
    pulling or reading any image, and list the images that gained or lost findings.

    \b
    Run it after `hullscan db update`:
      hullscan db update && hullscan fleet rematch --format json

    Changed images get a new stored report, so admission decisions follow at once.
    """
    from hullscan.fleet.rematch import rematch
    from hullscan.vulndb import open_db

    store = _open_store(store_url, cache_dir)
    try:
        with open_db(db_path(db_path_, cache_dir)) as db:
            result = rematch(store, db, db.meta().built_at)
    finally:
        store.close()
    if fmt == "json":
        click.echo(json.dumps(result.to_dict(), indent=2))
        return
    click.echo(f"{result.inventories} inventories matched in {result.seconds:.2f} s; "
               f"{len(result.changed)} images changed")
    for c in result.changed:
        added = f" +{', +'.join(c.added)}" if c.added else ""
        removed = f" -{', -'.join(c.removed)}" if c.removed else ""
        click.echo(f"  {c.image}:{added}{removed}")


@click.command("webhook")
@click.option("--listen", default="127.0.0.1:8443", show_default=True, metavar="HOST:PORT",
              help="Address to serve HTTPS on.")
@click.option("--tls-cert", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="PEM certificate (its SAN must name the Service the API server calls).")
@click.option("--tls-key", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="PEM private key of the certificate.")
@_store_option
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64),
              help="Scans at a time for `unscanned: scan`.")
@click.option("--rematch-every", type=click.FloatRange(min=1), metavar="SECONDS",
              help="Check the vulnerability database this often; when `db update` has "
                   "brought a new one, rematch every stored inventory (as `fleet "
                   "rematch`), so decisions follow new advisories.")
@db_option
@cache_dir_option
@config_option
@registry_options
def webhook_command(listen: str, tls_cert: Path, tls_key: Path, store_url: str | None,
                    workers: int, rematch_every: float | None, db_path_: Path | None,
                    cache_dir: Path | None, config_file: Path | None,
                    registry_flags: RegistryFlags) -> None:
    """Serve the Kubernetes admission webhook over HTTPS.

    \b
      POST /v1/admission          ValidatingWebhookConfiguration (AdmissionReview v1)
      POST /v1/admission/mutate   MutatingWebhookConfiguration: pins tags by digest

    Decisions follow the admission: section of hullscan.yaml and are made from stored
    results (see `hullscan fleet scan`) and cached signature checks, within
    budget_seconds; an image is never scanned while the API server waits.
    """
    from hullscan.admission.app import create_app, serve
    from hullscan.admission.evaluate import Evaluator
    from hullscan.admission.webhook import AdmissionWebhook
    from hullscan.fleet.queue import EmbeddedQueue
    from hullscan.fleet.scanning import JobSettings, db_version, scan_report

    loaded = load_settings(config_file)
    policy = loaded.admission
    registry = registry_settings(registry_flags, loaded)
    store = _open_store(store_url, cache_dir)
    queue = None
    if policy.unscanned == "scan":
        settings = JobSettings(db_path=db_path(db_path_, cache_dir), cache_dir=cache_dir,
                               registry=registry, settings=loaded)
        current = db_version(settings.db_path)
        queue = EmbeddedQueue(store, lambda image: scan_report(image, settings),
                              lambda: current, workers)
    watcher = None
    if rematch_every is not None:
        from hullscan.fleet.rematch import RematchWatcher

        watcher = RematchWatcher(store, db_path(db_path_, cache_dir), rematch_every,
                                 lambda r: _say(f"rematch: {r.inventories} inventories, "
                                                f"{len(r.changed)} images changed"))
        watcher.start()
    webhook = AdmissionWebhook(Evaluator(policy, store, registry=registry, queue=queue))
    _say(f"hullscan webhook: https://{listen}/v1/admission (mode {policy.mode}, budget "
         f"{policy.budget_seconds:g} s, fail_open {str(policy.fail_open).lower()})")
    try:
        serve(create_app(webhook), listen, tls_cert, tls_key)
    finally:
        if watcher is not None:
            watcher.stop()
        if queue is not None:
            queue.close()
        store.close()
        sys.stderr.flush()


__all__ = ["fleet", "webhook_command"]
