"""The ``hullscan`` command line: parse, call the library, pick a reporter.

Each command is a module of this package; the library (``hullscan.api``) does the work.
Exit codes: 0 done; 1 findings at or above --fail-on (or not verified); 2 could not do
what was asked, with one line on stderr and never a traceback (unless --debug).
"""

from __future__ import annotations

import sys

import click

from hullscan import __version__
from hullscan.cli.common import EXIT_ERROR, EXIT_OK
from hullscan.errors import HullscanError


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="hullscan")
@click.option("--debug", is_flag=True, help="Show tracebacks for internal errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Inventory and check container images offline, without a Docker engine.

    Nothing leaves this machine: images are read from archives, OCI layouts, root
    filesystems or the registries you name, and every blob is verified against its
    digest.

    \b
    Examples:
      hullscan sbom image.tar --format cyclonedx -o sbom.json
      hullscan scan oci:./layout:1.2 --platform linux/arm64
      hullscan scan registry:ghcr.io/org/app:1.4 --scanners vuln,supplychain
      hullscan verify ghcr.io/org/app:1.4 --key cosign.pub
      hullscan pin --check Dockerfile
      hullscan squash docker:myapp:dev oci:./flat:1.0
    """
    ctx.obj = {"debug": debug}


def _register() -> None:
    from hullscan.cli.cache import cache
    from hullscan.cli.db import db
    from hullscan.cli.fleet import fleet
    from hullscan.cli.pin import pin
    from hullscan.cli.provenance import keygen, sign, verify
    from hullscan.cli.scan import lint, sbom, scan
    from hullscan.cli.server import server, worker
    from hullscan.cli.squash import squash

    for command in (scan, sbom, lint, pin, db, cache, keygen, sign, verify, squash, fleet,
                    server, worker):
        cli.add_command(command)


_register()


def main(argv: list[str] | None = None) -> int:
    """Entry point: maps every failure to exit code 2 with a single line on stderr."""
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        # without standalone mode, click returns ctx.exit()'s code instead of raising
        code = cli.main(args=argv, prog_name="hullscan", standalone_mode=False)
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
    return code if isinstance(code, int) else EXIT_OK

