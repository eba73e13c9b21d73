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
from hullscan.cli_registry import RegistryFlags, registry_options, registry_settings
from hullscan.errors import HullscanError
from hullscan.model import ScanReport, Severity
from hullscan.pipeline import ProgressHook, ScanOptions, inventory
from hullscan.policy import IGNORE_FILE
from hullscan.scan import DEFAULT_SCANNERS, SCANNERS
from hullscan.sources import Platform
from hullscan.sources.registry_settings import RegistrySettings

EXIT_OK, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2

IMAGE_HELP = """IMAGE is an image reference:

\b
  docker-archive:PATH[:TAG|:@N]  a `docker save` tar (TAG picks one of several images)
  oci:DIR[:TAG]                  an OCI image layout directory
  oci-archive:PATH[:TAG]         a tar of an OCI image layout
  dir:PATH                       an unpacked root filesystem
  registry:HOST/REPO[:TAG|@DIG]  pulled from a registry (digest-checked, cached)
  NAME[:TAG]                     a registry image, e.g. debian:12 (Docker Hub)
  PATH                           any of the local forms, detected from its content
"""


SBOM_FORMATS = ["table", "json", "cyclonedx", "spdx"]
SCAN_FORMATS = ["table", "json", "sarif", "junit", "cyclonedx", "spdx"]


def _renderer(fmt: str, findings: bool) -> Callable[[ScanReport, bool], str]:
    """The reporter for a format; ``findings`` picks the scan flavour of table/CycloneDX."""
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
    from hullscan.report.table import render_findings_table, render_table
    table = render_findings_table if findings else render_table
    return lambda r, color: table(r, color=color)


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


def _image_command(formats: list[str],
                   format_help: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """IMAGE, --format and the common options, for every command that reads an image."""
    def decorate(f: Callable[..., Any]) -> Callable[..., Any]:
        f = click.pass_context(f)
        f = _common_options(f)
        f = registry_options(f)
        f = click.option("-f", "--format", "fmt", default="table", show_default=True,
                         type=click.Choice(formats), help=format_help)(f)
        return click.argument("image")(f)
    return decorate


def _options(cache_dir: Path | None, no_cache: bool, platform: str | None,
             debug: bool, registry: RegistrySettings | None = None) -> ScanOptions:
    return ScanOptions(cache_dir=cache_dir or default_cache_dir(), use_cache=not no_cache,
                       platform=Platform.parse(platform) if platform else None, debug=debug,
                       registry=registry or RegistrySettings())


def _emit(text: str, output: Path | None) -> None:
    if output is None:
        click.echo(text, nl=False)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as e:
        raise HullscanError(f"cannot write {output}: {e.strerror}") from None


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
    """
    ctx.obj = {"debug": debug}


@cli.command(epilog=IMAGE_HELP + """
\b
Exit codes: 0 nothing at or above --fail-on; 1 findings at or above it (after
.hullscanignore and VEX); 2 the scan could not run (bad image, no database).
""")
@_image_command(SCAN_FORMATS, "Report format (SARIF 2.1.0 for code scanning, JUnit for CI "
                "test views, CycloneDX 1.6 with vulnerabilities).")
@click.option("--scanners", default=",".join(DEFAULT_SCANNERS), show_default=True,
              help=f"Comma-separated scanners to run ({', '.join(SCANNERS)}).")
@click.option("--severity", default="UNKNOWN,LOW,MEDIUM,HIGH,CRITICAL", show_default=True,
              help="Report only findings of these severities.")
@click.option("--fail-on", type=click.Choice([s.name for s in Severity], case_sensitive=False),
              help="Exit 1 when a reported finding is at or above this severity.")
@click.option("--ignore-unfixed", is_flag=True,
              help="Leave out vulnerabilities that have no fixed version yet.")
@click.option("--show-not-affected", is_flag=True,
              help="Also report what the distribution marks as not affecting this release.")
@click.option("--ignore-file", type=click.Path(dir_okay=False, path_type=Path),
              help=f"Ignore rules (YAML; default: ./{IGNORE_FILE} if present). Each needs an "
                   "id and a reason; an expired rule stops applying.")
@click.option("--vex", "vex_files", multiple=True, type=click.Path(dir_okay=False, path_type=Path),
              help="OpenVEX or CycloneDX VEX document; 'not_affected'/'fixed' statements "
                   "suppress findings (repeatable).")
@click.option("--db", "db_path", type=click.Path(dir_okay=False, path_type=Path),
              envvar="HULLSCAN_DB", show_envvar=True,
              help="Vulnerability database (default: <cache dir>/db/osv.sqlite).")
@click.option("--max-db-age", default=7, show_default=True, metavar="DAYS",
              help="Warn when the vulnerability data is older than this.")
@click.option("--layers", type=click.Choice(["all", "final"]), default="all", show_default=True,
              help="Look for secrets in every layer (files a later layer deleted still ship "
                   "in the image) or in the final filesystem only.")
@click.option("--config", "config_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Settings file (default: ./hullscan.yaml or ./.hullscan.yaml if present): "
                   "user secret rules and allowlists under 'secrets:'.")
@click.option("--trust-policy", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Trust policy for the supplychain scanner: trusted registries and the "
                   "keys that must have signed their images (default: trust: in the "
                   "settings file).")
def scan(ctx: click.Context, /, image: str, fmt: str, output: Path | None,
         platform: str | None, cache_dir: Path | None, no_cache: bool, quiet: bool,
         scanners: str, severity: str, fail_on: str | None, ignore_unfixed: bool,
         show_not_affected: bool, ignore_file: Path | None, vex_files: tuple[Path, ...],
         db_path: Path | None, max_db_age: int, layers: str,
         config_file: Path | None, trust_policy: Path | None,
         registry_flags: RegistryFlags) -> None:
    """Scan IMAGE for known vulnerabilities and secrets (every layer, config, history).

    \b
    Examples:
      hullscan scan app.tar --fail-on HIGH
      hullscan scan oci:./layout --format sarif -o hullscan.sarif --ignore-unfixed
    """
    from hullscan.config import load_config
    from hullscan.policy import Policy, load_ignore_file, parse_severities
    from hullscan.scan import ScanRequest, parse_scanners, run_scan
    from hullscan.vex import load_vex

    if ignore_file is None and Path(IGNORE_FILE).is_file():
        ignore_file = Path(IGNORE_FILE)
    config = load_config(config_file)
    options = _options(cache_dir, no_cache, platform, ctx.obj["debug"],
                       registry_settings(registry_flags, config))
    threshold = Severity.parse(fail_on) if fail_on else None
    policy = Policy(severities=parse_severities(severity), fail_on=threshold,
                    ignore_unfixed=ignore_unfixed, show_not_affected=show_not_affected,
                    ignore_rules=load_ignore_file(ignore_file) if ignore_file else (),
                    vex=[s for f in vex_files for s in load_vex(f)])
    if db_path is None and cache_dir is not None:
        db_path = cache_dir / "db" / "osv.sqlite"
    request = ScanRequest(image, parse_scanners(scanners), db_path, max_db_age, layers,
                          config, trust_policy,
                          config_file.parent if config_file else Path("."))
    with _progress(not quiet) as hook:
        report, result = run_scan(request, options, policy, hook)
    _emit(_renderer(fmt, findings=True)(report, output is None and sys.stdout.isatty()),
          output)
    ctx.exit(result.exit_code(threshold))


@cli.command(epilog=IMAGE_HELP)
@_image_command(SBOM_FORMATS,
                "SBOM format: CycloneDX 1.6 JSON, SPDX 2.3 JSON, hullscan JSON, or a table.")
def sbom(ctx: click.Context, /, image: str, fmt: str, output: Path | None,
         platform: str | None, cache_dir: Path | None, no_cache: bool, quiet: bool,
         registry_flags: RegistryFlags) -> None:
    """List every package in IMAGE (OS and language packages, Go and Rust binaries, jars)."""
    from hullscan.config import load_config

    options = _options(cache_dir, no_cache, platform, ctx.obj["debug"],
                       registry_settings(registry_flags, load_config()))
    with _progress(not quiet) as hook:
        inv = inventory(image, options, progress=hook)
    _emit(_renderer(fmt, findings=False)(ScanReport(inv), output is None and
                                         sys.stdout.isatty()), output)


@cli.command()
@click.argument("dockerfiles", nargs=-1, required=True)
@click.option("-f", "--format", "fmt", default="table", show_default=True,
              type=click.Choice(["table", "json", "sarif", "junit"]), help="Report format.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the report to this file instead of standard output.")
@click.option("--fail-on", type=click.Choice([s.name for s in Severity], case_sensitive=False),
              help="Exit 1 when a finding is at or above this severity (as for scan).")
@click.option("--config", "config_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Settings file (default: ./hullscan.yaml or ./.hullscan.yaml): 'checks:' "
                   "disables, enables or re-rates rules.")
def lint(dockerfiles: tuple[str, ...], fmt: str, output: Path | None, fail_on: str | None,
         config_file: Path | None) -> None:
    """Check Dockerfiles against build best practices, before the build.

    DOCKERFILES are paths, or - for standard input. Suppress a rule for one
    instruction with a comment on the line before it: `# hullscan ignore=HS-DF-003`
    (Hadolint's `# hadolint ignore=DL3008` is honoured too).
    """
    from hullscan.checks.catalogue import CheckSettings
    from hullscan.checks.dockerfile import lint_file
    from hullscan.config import load_config
    from hullscan.model import ImageMeta, Inventory

    settings = CheckSettings.from_config(load_config(config_file))
    findings = [f for path in dockerfiles for f in lint_file(path, settings)]
    meta = ImageMeta(ref=", ".join(dockerfiles), transport="dockerfile", digest=None,
                     config_digest=None)
    report = ScanReport(Inventory(meta, None, ()), findings=tuple(findings),
                        scanners=("dockerfile",))
    _emit(_renderer(fmt, findings=True)(report, output is None and sys.stdout.isatty()),
          output)
    threshold = Severity.parse(fail_on) if fail_on else None
    failed = threshold is not None and any(f.severity >= threshold for f in findings)
    raise click.exceptions.Exit(1 if failed else 0)


@cli.command()
@click.argument("dockerfiles", nargs=-1, required=True,
                type=click.Path(exists=True, dir_okay=False))
@click.option("--check", is_flag=True,
              help="Change nothing: list base images not pinned by digest and exit 1 if "
                   "there are any (no network).")
@click.option("--layout", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Resolve digests from this OCI layout (its ref.name annotations) instead "
                   "of the registries.")
@registry_options
def pin(dockerfiles: tuple[str, ...], check: bool, layout: Path | None,
        registry_flags: RegistryFlags) -> None:
    """Pin each FROM image:tag in DOCKERFILES to image:tag@sha256:… (written in place).

    Stage references, scratch and images already pinned stay as they are; FROM $VAR is
    pinned in the default of its global ARG. Multi-platform images are pinned to their
    index digest, so every platform keeps building.

    \b
    Examples:
      hullscan pin Dockerfile
      hullscan pin --check Dockerfile build/*.Dockerfile   # in CI
    """
    from hullscan.config import load_config
    from hullscan.streams import Limits
    from hullscan.supplychain.pin import (
        pin_dockerfile,
        resolve_from_layout,
        resolve_from_registry,
        unpinned,
        write_atomically,
    )

    if check:
        missing = [(path, b) for path in dockerfiles for b in unpinned(path)]
        for path, b in missing:
            why = "not pinned by digest" if b.status == "unpinned" else \
                "built from variables; cannot be pinned here"
            click.echo(f"{path}:{b.line}: {b.written}: {why}")
        if not missing:
            click.echo(f"{len(dockerfiles)} Dockerfile(s): every base image is pinned",
                       err=True)
        click.get_current_context().exit(EXIT_FINDINGS if missing else EXIT_OK)
    settings = registry_settings(registry_flags, load_config())
    limits = Limits()
    cache: dict[str, str] = {}

    def resolve(image: str) -> str:
        if image not in cache:
            cache[image] = (resolve_from_layout(image, layout, limits) if layout
                            else resolve_from_registry(image, settings, limits))
        return cache[image]

    results = [pin_dockerfile(path, resolve) for path in dockerfiles]  # resolve all first
    for result in results:
        for b in result.images:
            if b.stage in result.pins:
                click.echo(f"{result.path}:{b.line}: {b.written} -> {result.pins[b.stage]}")
            elif b.status == "unresolved":
                click.echo(f"{result.path}:{b.line}: {b.written}: built from variables; "
                           "left as it is", err=True)
        if result.pins:
            write_atomically(result.path, result.text)


def _db_path(db_path: Path | None, cache_dir: Path | None) -> Path:
    from hullscan.vulndb import default_db_path

    if db_path is not None:
        return db_path
    return cache_dir / "db" / "osv.sqlite" if cache_dir is not None else default_db_path()


_db_option = click.option("--db", "db_path", type=click.Path(dir_okay=False, path_type=Path),
                          envvar="HULLSCAN_DB", show_envvar=True,
                          help="Database file (default: <cache dir>/db/osv.sqlite).")
_cache_option = click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path),
                             envvar="HULLSCAN_CACHE_DIR", show_envvar=True,
                             help=f"Cache directory (default: {default_cache_dir()}).")


@cli.group()
def db() -> None:
    """The local vulnerability database (OSV advisories in SQLite)."""


@db.command("import")
@click.argument("paths", nargs=-1, required=True,
                type=click.Path(exists=True, path_type=Path))
@_db_option
@_cache_option
def db_import(paths: tuple[Path, ...], db_path: Path | None, cache_dir: Path | None) -> None:
    """Import OSV advisories: directories of OSV JSON files, all.zip exports, or
    directories of those. Adds to what the database holds (newer records win)."""
    from hullscan.vulndb.build import import_paths

    dest = _db_path(db_path, cache_dir)
    stats = import_paths(list(paths), dest)
    click.echo(f"imported into {dest}: {stats.summary()}")


@db.command("update")
@click.option("--source", metavar="URL|DIR", envvar="HULLSCAN_DB_SOURCE", show_envvar=True,
              help="Mirror with <Ecosystem>/all.zip files (https://, file:// or a directory; "
                   "default: OSV's public export).")
@click.option("--ecosystem", "ecosystems", multiple=True,
              help="Ecosystems to fetch (repeatable; default: those already in the database).")
@click.option("--offline", is_flag=True, help="Refuse to touch the network.")
@_db_option
@_cache_option
def db_update(source: str | None, ecosystems: tuple[str, ...], offline: bool,
              db_path: Path | None, cache_dir: Path | None) -> None:
    """Fetch the per-ecosystem all.zip exports that changed and rebuild the database.

    Unchanged exports are not downloaded again (conditional requests); a failed
    update leaves the previous database in place."""
    from hullscan.vulndb.update import DEFAULT_SOURCE, update

    dest = _db_path(db_path, cache_dir)
    stats = update(dest, source or DEFAULT_SOURCE, list(ecosystems) or None, offline=offline)
    click.echo(f"{dest}: {stats.summary()}")


@db.command("status")
@_db_option
@_cache_option
def db_status(db_path: Path | None, cache_dir: Path | None) -> None:
    """Ecosystems, advisory counts and the age of the data."""
    from hullscan.vulndb import age_warning, open_db

    path = _db_path(db_path, cache_dir)
    vdb = open_db(path)
    try:
        click.echo(vdb.describe())
        if warning := age_warning(vdb, 7):
            click.echo(f"warning: {warning}")
    finally:
        vdb.close()


from hullscan.cli_provenance import keygen, sign, verify  # noqa: E402

cli.add_command(keygen)
cli.add_command(sign)
cli.add_command(verify)


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


if __name__ == "__main__":
    sys.exit(main())
