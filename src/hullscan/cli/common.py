"""What every command shares: the options defined once (--cache-dir, --db, --config,
the common image options), the settings file, progress on a terminal, the reporters,
and writing the output."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from hullscan.atomicfile import write_atomically, write_error
from hullscan.cachedir import database_path, default_cache_dir
from hullscan.cli.registry import registry_options

if TYPE_CHECKING:
    from hullscan.model import ScanReport, Severity
    from hullscan.pipeline import ProgressHook
    from hullscan.settings import Settings

EXIT_OK, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2

IMAGE_HELP = """IMAGE is an image reference:

\b
  docker-archive:PATH[:TAG|:@N]  a `docker save` tar (TAG picks one of several images)
  oci:DIR[:TAG]                  an OCI image layout directory
  oci-archive:PATH[:TAG]         a tar of an OCI image layout
  dir:PATH                       an unpacked root filesystem
  registry:HOST/REPO[:TAG|@DIG]  pulled from a registry (digest-checked, cached)
  docker:NAME[:TAG]              from the local Docker (or Podman) engine's API socket
  NAME[:TAG]                     a registry image, e.g. debian:12 (Docker Hub)
  PATH                           any of the local forms, detected from its content
"""

SBOM_FORMATS = ["table", "json", "cyclonedx", "spdx", "html"]
SCAN_FORMATS = ["table", "json", "sarif", "junit", "cyclonedx", "spdx", "html"]

cache_dir_option = click.option(
    "--cache-dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="HULLSCAN_CACHE_DIR",
    show_envvar=True,
    help=f"Cache directory: layer analyses, registry blobs, the database "
    f"(default: {default_cache_dir()}).",
)
db_option = click.option(
    "--db",
    "db_path_",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="HULLSCAN_DB",
    show_envvar=True,
    help="Vulnerability database (default: <cache dir>/db/osv.sqlite).",
)
config_option = click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Settings file (default: ./hullscan.yaml or ./.hullscan.yaml if present): "
    "registries, checks, secrets, trust, licenses.",
)


def db_path(db: Path | None, cache_dir: Path | None) -> Path:
    """``--db``, else the database in ``--cache-dir``, else the default cache's."""
    return db if db is not None else database_path(cache_dir)


def load_settings(config_file: Path | None) -> Settings:
    from hullscan.settings import Settings

    return Settings.load(config_file)


def renderer(
    fmt: str,
    findings: bool,
    columns: tuple[str, ...] | None = None,
    fail_on: Severity | None = None,
    fail_on_kev: bool = False,
) -> Callable[[ScanReport, bool], str]:
    """The reporter for a format; ``findings`` picks the scan flavour of table/CycloneDX;
    ``columns`` those of the inventory table; the HTML page shows the verdict against
    ``fail_on`` and ``fail_on_kev``."""
    if fmt == "html":
        from hullscan.report.html import render_html_report

        return lambda r, _color: render_html_report(r, fail_on, fail_on_kev)
    if fmt == "json":
        from hullscan.report.json_report import render_json

        return lambda r, _color: render_json(r)
    if fmt == "cyclonedx":
        if findings:
            from hullscan.report.cyclonedx import render_cyclonedx_report

            return lambda r, _color: render_cyclonedx_report(r)
        from hullscan.report.cyclonedx import render_cyclonedx

        return lambda r, _color: render_cyclonedx(r.inventory)
    if fmt == "spdx":
        from hullscan.report.spdx import render_spdx

        return lambda r, _color: render_spdx(r.inventory)
    if fmt == "sarif":
        from hullscan.report.sarif import render_sarif

        return lambda r, _color: render_sarif(r)
    if fmt == "junit":
        from hullscan.report.junit import render_junit

        return lambda r, _color: render_junit(r)
    from hullscan.report.table import DEFAULT_COLUMNS, render_findings_table, render_table

    if findings:
        return lambda r, color: render_findings_table(r, color=color)
    return lambda r, color: render_table(r, color=color, columns=columns or DEFAULT_COLUMNS)


def emit_report(
    report: ScanReport,
    fmt: str,
    output: Path | None,
    findings: bool,
    columns: tuple[str, ...] | None = None,
    fail_on: Severity | None = None,
    fail_on_kev: bool = False,
) -> None:
    text = renderer(fmt, findings, columns, fail_on, fail_on_kev)(
        report, output is None and sys.stdout.isatty()
    )
    emit(text, output)


def emit(text: str, output: Path | None) -> None:
    if output is None:
        click.echo(text, nl=False)
        return
    try:  # whole or not at all: a full disk leaves no half report
        if output.exists() and not output.is_file():  # /dev/stdout, a pipe
            output.write_text(text, encoding="utf-8")
        else:
            write_atomically(output, text.encode("utf-8"))
    except OSError as e:
        raise write_error(output, e) from None


@contextmanager
def progress(enabled: bool) -> Iterator[ProgressHook | None]:
    """A layer progress bar on an interactive terminal; nothing otherwise."""
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
        task = bar.add_task("analyzing layers", total=None)

        def hook(index: int, total: int, cached: bool) -> None:
            bar.update(task, total=total, advance=1)

        yield hook


def image_command(
    formats: list[str], format_help: str
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """IMAGE, --format and the options of every command that reads an image."""

    def decorate(f: Callable[..., Any]) -> Callable[..., Any]:
        f = click.pass_context(f)
        for option in reversed(
            [
                click.option(
                    "-o",
                    "--output",
                    type=click.Path(dir_okay=False, path_type=Path),
                    help="Write the report to this file instead of standard output.",
                ),
                click.option(
                    "--platform",
                    metavar="OS/ARCH[/VARIANT]",
                    help="Image to pick from a multi-platform index (default: this host's).",
                ),
                cache_dir_option,
                click.option(
                    "--no-cache", is_flag=True, help="Analyze every layer afresh and store nothing."
                ),
                click.option("-q", "--quiet", is_flag=True, help="No progress display."),
                config_option,
            ]
        ):
            f = option(f)
        f = registry_options(f)
        f = click.option(
            "-f",
            "--format",
            "fmt",
            default="table",
            show_default=True,
            type=click.Choice(formats),
            help=format_help,
        )(f)
        return click.argument("image")(f)

    return decorate
