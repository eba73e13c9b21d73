"""``hullscan cache``: the cache directory's own maintenance."""

from __future__ import annotations

from pathlib import Path

import click

from hullscan.cachedir import default_cache_dir


@click.group()
def cache() -> None:
    """The cache directory: per-layer analyses and downloaded blobs."""


@cache.command("verify")
@click.option(
    "--cache-dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="HULLSCAN_CACHE_DIR",
    show_envvar=True,
    help=f"Cache directory (default: {default_cache_dir()}).",
)
@click.option("-v", "--verbose", is_flag=True, help="List every entry dropped.")
def cache_verify(cache_dir: Path | None, verbose: bool) -> None:
    """Re-read every cached layer analysis and re-hash every cached blob; drop what is
    damaged (a disk error, a file edited by hand, a download a killed scan left behind),
    so the next scan computes or downloads it again. Safe while scans run.

    \b
    Exit codes: 0 checked (damaged entries, if any, were dropped); 2 could not check.
    """
    from hullscan.cache_verify import verify_cache

    directory = cache_dir or default_cache_dir()
    result = verify_cache(directory)
    click.echo(f"{directory}: {result.summary()}")
    if verbose:
        for what in result.dropped:
            click.echo(f"  dropped {what}")
