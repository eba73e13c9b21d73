"""The ``hullscan`` command line: parse, call the library, pick a reporter.

Exit codes (DESIGN.md): 0 done; 1 findings at or above --fail-on; 2 could not do
what was asked, with one line on stderr and never a traceback (unless --debug).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from hullscan import __version__
from hullscan.cache import default_cache_dir
from hullscan.model import HullscanError, Inventory
from hullscan.pipeline import ProgressHook, ScanOptions, inventory
from hullscan.sources import Platform

EXIT_OK, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2

IMAGE_HELP = """IMAGE is an image reference:

\b
  docker-archive:PATH[:TAG|:@N]  a `docker save` tar (TAG picks one of several images)
  oci:DIR[:TAG]                  an OCI image layout directory
  oci-archive:PATH[:TAG]         a tar of an OCI image layout
  dir:PATH                       an unpacked root filesystem
  PATH                           any of the above, detected from its content
"""


def _renderer(fmt: str) -> Callable[[Inventory, bool], str]:
    if fmt == "json":
        from hullscan.report.json_report import render_json
        return lambda inv, _color: render_json(inv)
    if fmt == "cyclonedx":
        from hullscan.report.cyclonedx import render_cyclonedx
        return lambda inv, _color: render_cyclonedx(inv)
    if fmt == "spdx":
        from hullscan.report.spdx import render_spdx
        return lambda inv, _color: render_spdx(inv)
    from hullscan.report.table import render_table
    return lambda inv, color: render_table(inv, color=color)


@contextmanager
def _progress(enabled: bool) -> Iterator[ProgressHook | None]:
    """A layer progress bar on an interactive terminal; nothing otherwise."""
    if not enabled or not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("analyzing layers", total=None)

        def hook(index: int, total: int, cached: bool) -> None:
            bar.update(task, total=total, advance=1)

        yield hook


def _common_options(f: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
                     help="Write the report to this file instead of standard output."),
        click.option("--platform", metavar="OS/ARCH[/VARIANT]",
                     help="Image to pick from a multi-platform index (default: this host's)."),
        click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path),
                     envvar="HULLSCAN_CACHE_DIR", show_envvar=True,
                     help=f"Where layer analyses are cached (default: {default_cache_dir()})."),
        click.option("--no-cache", is_flag=True,
                     help="Analyze every layer afresh and store nothing."),
        click.option("-q", "--quiet", is_flag=True, help="No progress display."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def _image_command(format_help: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """IMAGE, --format and the common options, for every command that reads an image."""
    def decorate(f: Callable[..., Any]) -> Callable[..., Any]:
        f = click.pass_context(f)
        f = _common_options(f)
        f = click.option("-f", "--format", "fmt", default="table", show_default=True,
                         type=click.Choice(["table", "json", "cyclonedx", "spdx"]),
                         help=format_help)(f)
        return click.argument("image")(f)
    return decorate


def _run(image: str, fmt: str, output: Path | None, platform: str | None,
         cache_dir: Path | None, no_cache: bool, quiet: bool, debug: bool) -> int:
    options = ScanOptions(cache_dir=cache_dir or default_cache_dir(), use_cache=not no_cache,
                          platform=Platform.parse(platform) if platform else None, debug=debug)
    with _progress(not quiet) as hook:
        inv = inventory(image, options, progress=hook)
    color = output is None and sys.stdout.isatty()
    text = _renderer(fmt)(inv, color)
    if output is None:
        click.echo(text, nl=False)
    else:
        try:
            output.write_text(text, encoding="utf-8")
        except OSError as e:
            raise HullscanError(f"cannot write {output}: {e.strerror}") from None
    return EXIT_OK


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="hullscan")
@click.option("--debug", is_flag=True, help="Show tracebacks for internal errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Inventory and check container images offline, without a Docker engine.

    Nothing leaves this machine: images are read from archives, OCI layouts or
    root filesystems, and every layer is verified against its digest.

    \b
    Examples:
      hullscan sbom image.tar --format cyclonedx -o sbom.json
      hullscan scan oci:./layout:1.2 --platform linux/arm64
    """
    ctx.obj = {"debug": debug}


@cli.command(epilog=IMAGE_HELP)
@_image_command("Report format.")
def scan(ctx: click.Context, /, image: str, fmt: str, **kw: Any) -> None:
    """Scan IMAGE and report what is in it (findings come from the enabled scanners)."""
    ctx.exit(_run(image, fmt, debug=ctx.obj["debug"], **kw))


@cli.command(epilog=IMAGE_HELP)
@_image_command("SBOM format: CycloneDX 1.6 JSON, SPDX 2.3 JSON, hullscan JSON, or a table.")
def sbom(ctx: click.Context, /, image: str, fmt: str, **kw: Any) -> None:
    """List every package in IMAGE (OS and language packages, Go and Rust binaries, jars)."""
    ctx.exit(_run(image, fmt, debug=ctx.obj["debug"], **kw))


def main(argv: list[str] | None = None) -> int:
    """Entry point: maps every failure to exit code 2 with a single line on stderr."""
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        cli.main(args=argv, prog_name="hullscan", standalone_mode=False)
    except click.exceptions.Exit as e:
        return int(e.exit_code)
    except click.ClickException as e:
        e.show()
        return EXIT_ERROR
    except click.exceptions.Abort:
        click.echo("hullscan: aborted", err=True)
        return EXIT_ERROR
    except HullscanError as e:
        click.echo(f"hullscan: error: {e}", err=True)
        return EXIT_ERROR
    except KeyboardInterrupt:
        click.echo("hullscan: interrupted", err=True)
        return 130
    except Exception as e:  # never a traceback for the user, but say it is our bug
        if debug:
            import traceback

            traceback.print_exc()
        click.echo(f"hullscan: internal error: {type(e).__name__}: {e} "
                   "(rerun with --debug for details)", err=True)
        return EXIT_ERROR
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
