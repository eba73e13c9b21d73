"""The ``hullscan`` command line: parse, call the library, pick a reporter.

Each command is a module of this package; the library (``hullscan.api``) does the work.
Exit codes: 0 done; 1 findings at or above --fail-on (or not verified); 2 could not do
what was asked, with one line on stderr and never a traceback (unless --debug).
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import os
import sys
import threading
from typing import NoReturn

import click

from hullscan import __version__
from hullscan.cli.common import EXIT_ERROR, EXIT_OK
from hullscan.errors import HullscanError

#: every command: (module, attribute, its summary as ``hullscan --help`` lists it). Listed
#: here, not imported, so that ``hullscan --help`` and each command load only their own
#: module (importing them all was most of the start-up time); tests/test_cli.py checks
#: that each summary is the command's own.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "cache": ("cache", "cache", "The cache directory: per-layer analyses and downloaded blobs."),
    "db": ("db", "db", "The local vulnerability database (OSV advisories in SQLite)."),
    "fleet": ("fleet", "fleet", "Every image of a registry, and every stored result."),
    "keygen": (
        "provenance",
        "keygen",
        "Create a cosign key pair: ECDSA P-256, the private key encrypted with a "
        "password ($COSIGN_PASSWORD, or asked for twice on a terminal; may be empty).",
    ),
    "lint": ("scan", "lint", "Check Dockerfiles against build best practices, before the build."),
    "pin": (
        "pin",
        "pin",
        "Pin each FROM image:tag in DOCKERFILES to image:tag@sha256:… (written in place).",
    ),
    "sbom": (
        "scan",
        "sbom",
        "List every package in IMAGE (OS and language packages, Go and Rust binaries, "
        "jars), with the licences each declares as SPDX expressions.",
    ),
    "scan": (
        "scan",
        "scan",
        "Scan IMAGE for known vulnerabilities and secrets (every layer, config, history).",
    ),
    "server": (
        "server",
        "server",
        "Serve Harbor's Pluggable Scanner API v1.2 and hullscan's REST API.",
    ),
    "sign": (
        "provenance",
        "sign",
        "Sign IMAGE's manifest digest with a key and store the signature where cosign does.",
    ),
    "squash": (
        "squash",
        "squash",
        "Write IMAGE as one layer holding exactly its final filesystem.",
    ),
    "verify": (
        "provenance",
        "verify",
        "Check IMAGE's signatures with public keys and/or its digests against a release.",
    ),
    "worker": (
        "server",
        "worker",
        "Run scans from a Celery queue (Redis or RabbitMQ), one at a time.",
    ),
}


class LazyGroup(click.Group):
    """A group whose commands are imported when one is run (or asked for its help)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module, attr, _ = COMMANDS[cmd_name]
        command: click.Command = getattr(importlib.import_module(f"hullscan.cli.{module}"), attr)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list from ``COMMANDS``, laid out as click lays out its own."""
        names = self.list_commands(ctx)
        limit = formatter.width - 6 - max(len(name) for name in names)
        # a bare command of the same summary shortens it exactly as the real one would
        rows = [
            (name, click.Command(name, help=COMMANDS[name][2]).get_short_help_str(limit))
            for name in names
        ]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(
    cls=LazyGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
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
        click.echo(
            f"hullscan: internal error: {type(e).__name__}: {e} (rerun with --debug for details)",
            err=True,
        )
        return EXIT_ERROR
    return code if isinstance(code, int) else EXIT_OK


def run() -> NoReturn:
    """The ``hullscan`` command: ``main()``, then its exit without the interpreter's
    teardown. Freeing every object and module one by one took 0.07-0.1 s after a cold
    scan of the largest corpus image (a quarter of a rescan from the cache); the system
    frees a process's memory at once. The exit handlers (``atexit``: logging, temporary
    files, multiprocessing) still run and the standard streams are flushed; when a thread
    other than this one is still running, Python's own exit waits for it as usual."""
    code = main()
    if any(
        t.is_alive() and not t.daemon
        for t in threading.enumerate()
        if t is not threading.main_thread()
    ):
        sys.exit(code)
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):  # a closed pipe: nothing more can be said
            stream.flush()
    os._exit(code)
