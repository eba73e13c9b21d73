"""``hullscan scan``, ``sbom`` and ``lint``: flags in, the library called, a report out."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import click

from hullscan.cli.common import (
    IMAGE_HELP,
    SBOM_FORMATS,
    SCAN_FORMATS,
    config_option,
    db_option,
    db_path,
    emit_report,
    image_command,
    load_settings,
    progress,
)
from hullscan.cli.registry import RegistryFlags, registry_settings
from hullscan.errors import HullscanError
from hullscan.model import Severity
from hullscan.policy import IGNORE_FILE, Policy
from hullscan.scanners import DEFAULT_SCANNERS, SCANNERS
from hullscan.vuln.risk import SORT_ORDERS, sort_findings

_severity_choice = click.Choice([s.name for s in Severity], case_sensitive=False)


def policy_options(f: click.decorators.FC) -> click.decorators.FC:
    """What to report and when to fail: the same step for images and Dockerfiles."""
    for option in reversed(
        [
            click.option(
                "--severity",
                default="UNKNOWN,LOW,MEDIUM,HIGH,CRITICAL",
                show_default=True,
                help="Report only findings of these severities.",
            ),
            click.option(
                "--fail-on",
                type=_severity_choice,
                help="Exit 1 when a reported finding is at or above this severity.",
            ),
            click.option(
                "--ignore-file",
                type=click.Path(dir_okay=False, path_type=Path),
                help=f"Ignore rules (YAML; default: ./{IGNORE_FILE} if present). Each "
                "needs an id and a reason; an expired rule stops applying.",
            ),
        ]
    ):
        f = option(f)
    return f


def build_policy(
    severity: str,
    fail_on: str | None,
    ignore_file: Path | None,
    vex_files: tuple[Path, ...] = (),
    ignore_unfixed: bool = False,
    show_not_affected: bool = False,
) -> Policy:
    from hullscan.policy import load_ignore_file, parse_severities
    from hullscan.vex import load_vex

    if ignore_file is None and Path(IGNORE_FILE).is_file():
        ignore_file = Path(IGNORE_FILE)
    return Policy(
        severities=parse_severities(severity),
        fail_on=Severity.parse(fail_on) if fail_on else None,
        ignore_unfixed=ignore_unfixed,
        show_not_affected=show_not_affected,
        ignore_rules=load_ignore_file(ignore_file) if ignore_file else (),
        vex=[s for f in vex_files for s in load_vex(f)],
    )


@click.command(
    epilog=IMAGE_HELP
    + """
\b
Exit codes: 0 nothing at or above --fail-on; 1 findings at or above it (after
.hullscanignore and VEX); 2 the scan could not run (bad image, no database).
"""
)
@image_command(
    SCAN_FORMATS,
    "Report format (SARIF 2.1.0 for code scanning, JUnit for CI "
    "test views, CycloneDX 1.6 with vulnerabilities, html: one self-contained "
    "page to open offline or attach to a CI run).",
)
@click.option(
    "--scanners",
    default=",".join(DEFAULT_SCANNERS),
    show_default=True,
    help=f"Comma-separated scanners to run ({', '.join(SCANNERS)}).",
)
@policy_options
@click.option(
    "--fail-on-kev",
    is_flag=True,
    help="Exit 1 when a reported vulnerability is in CISA's Known Exploited "
    "Vulnerabilities catalog.",
)
@click.option(
    "--sort",
    "sort_order",
    type=click.Choice(SORT_ORDERS),
    help="Order of findings: risk (known exploited first, then EPSS, then "
    "severity; the table's default) or severity.",
)
@click.option(
    "--ignore-unfixed",
    is_flag=True,
    help="Leave out vulnerabilities that have no fixed version yet.",
)
@click.option(
    "--show-not-affected",
    is_flag=True,
    help="Also report what the distribution marks as not affecting this release.",
)
@click.option(
    "--vex",
    "vex_files",
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="OpenVEX or CycloneDX VEX document; 'not_affected'/'fixed' statements "
    "suppress findings (repeatable).",
)
@db_option
@click.option(
    "--max-db-age",
    default=7,
    show_default=True,
    metavar="DAYS",
    help="Warn when the vulnerability data is older than this.",
)
@click.option(
    "--layers",
    type=click.Choice(["all", "final"]),
    default="all",
    show_default=True,
    help="Look for secrets in every layer (files a later layer deleted still ship "
    "in the image) or in the final filesystem only.",
)
@click.option(
    "--trust-policy",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Trust policy for the supplychain scanner: trusted registries and the "
    "keys that must have signed their images (default: trust: in the "
    "settings file).",
)
def scan(
    ctx: click.Context,
    /,
    image: str,
    fmt: str,
    output: Path | None,
    platform: str | None,
    cache_dir: Path | None,
    no_cache: bool,
    quiet: bool,
    config_file: Path | None,
    scanners: str,
    severity: str,
    fail_on: str | None,
    ignore_file: Path | None,
    fail_on_kev: bool,
    sort_order: str | None,
    ignore_unfixed: bool,
    show_not_affected: bool,
    vex_files: tuple[Path, ...],
    db_path_: Path | None,
    max_db_age: int,
    layers: str,
    trust_policy: Path | None,
    registry_flags: RegistryFlags,
) -> None:
    """Scan IMAGE for known vulnerabilities and secrets (every layer, config, history).

    Vulnerabilities carry the distribution's severity (OS packages) or the CVSS
    score (language packages), whether CISA lists them as known exploited (KEV)
    and their EPSS probability of exploitation; the table puts KEV first.

    \b
    Examples:
      hullscan scan app.tar --fail-on HIGH --fail-on-kev
      hullscan scan oci:./layout --format sarif -o hullscan.sarif --ignore-unfixed
      hullscan scan app.tar --scanners license --fail-on HIGH   # policy: licenses: in hullscan.yaml
    """
    from hullscan import api
    from hullscan.scanners import parse_scanners
    from hullscan.settings import load_trust_policy_file

    settings = load_settings(config_file)
    policy = build_policy(
        severity, fail_on, ignore_file, vex_files, ignore_unfixed, show_not_affected
    )
    with progress(not quiet) as hook:
        report = api.scan(
            image,
            parse_scanners(scanners),
            cache_dir=cache_dir,
            db=db_path(db_path_, cache_dir),
            settings=settings,
            policy=policy,
            platform=platform,
            use_cache=not no_cache,
            layers="final" if layers == "final" else "all",
            max_db_age_days=max_db_age,
            trust_policy=load_trust_policy_file(trust_policy) if trust_policy else None,
            registry=registry_settings(registry_flags, settings),
            progress=hook,
            debug=ctx.obj["debug"],
        )
    if sort_order or fmt == "table":
        report = replace(
            report, findings=tuple(sort_findings(report.findings, sort_order or "risk"))
        )
    emit_report(report, fmt, output, findings=True, fail_on=policy.fail_on, fail_on_kev=fail_on_kev)
    ctx.exit(1 if report.exceeds(policy.fail_on, kev=fail_on_kev) else 0)


@click.command(epilog=IMAGE_HELP)
@image_command(
    SBOM_FORMATS,
    "SBOM format: CycloneDX 1.6 JSON, SPDX 2.3 JSON, hullscan JSON, a table, or a "
    "self-contained HTML page.",
)
@click.option(
    "--columns",
    metavar="LIST",
    help="Table columns, comma-separated, from: type, name, version, source, layer, "
    "path, license (default: all but license).",
)
def sbom(
    ctx: click.Context,
    /,
    image: str,
    fmt: str,
    output: Path | None,
    platform: str | None,
    cache_dir: Path | None,
    no_cache: bool,
    quiet: bool,
    config_file: Path | None,
    columns: str | None,
    registry_flags: RegistryFlags,
) -> None:
    """List every package in IMAGE (OS and language packages, Go and Rust binaries, jars),
    with the licences each declares as SPDX expressions.

    \b
    Examples:
      hullscan sbom image.tar --columns name,version,license
      hullscan sbom image.tar --format spdx -o sbom.spdx.json
    """
    from hullscan import api

    chosen = None
    if columns is not None:
        from hullscan.report.table import COLUMNS  # rich: only for the table

        chosen = tuple(c.strip().lower() for c in columns.split(",") if c.strip())
        if not chosen or any(c not in COLUMNS for c in chosen):
            raise HullscanError(
                f"--columns: {columns!r} is not a list of columns from: {', '.join(COLUMNS)}"
            )

    settings = load_settings(config_file)
    with progress(not quiet) as hook:
        report = api.sbom(
            image,
            cache_dir=cache_dir,
            settings=settings,
            platform=platform,
            use_cache=not no_cache,
            registry=registry_settings(registry_flags, settings),
            progress=hook,
            debug=ctx.obj["debug"],
        )
    emit_report(report, fmt, output, findings=False, columns=chosen)


@click.command()
@click.argument("dockerfiles", nargs=-1, required=True)
@click.option(
    "-f",
    "--format",
    "fmt",
    default="table",
    show_default=True,
    type=click.Choice(["table", "json", "sarif", "junit"]),
    help="Report format.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the report to this file instead of standard output.",
)
@policy_options
@config_option
def lint(
    dockerfiles: tuple[str, ...],
    fmt: str,
    output: Path | None,
    severity: str,
    fail_on: str | None,
    ignore_file: Path | None,
    config_file: Path | None,
) -> None:
    """Check Dockerfiles against build best practices, before the build.

    DOCKERFILES are paths, or - for standard input. Suppress a rule for one
    instruction with a comment on the line before it: `# hullscan ignore=HS-DF-003`
    (Hadolint's `# hadolint ignore=DL3008` is honoured too), or for every file with
    a rule in .hullscanignore. The settings file's 'checks:' disables, enables or
    re-rates rules.
    """
    from hullscan.checks.dockerfile import lint_file
    from hullscan.model import ImageMeta, Inventory, ScanReport
    from hullscan.policy import apply

    settings = load_settings(config_file)
    policy = build_policy(severity, fail_on, ignore_file)
    found = [f for path in dockerfiles for f in lint_file(path, settings.checks)]
    outcome = apply(policy, found)
    meta = ImageMeta(
        ref=", ".join(dockerfiles), transport="dockerfile", digest=None, config_digest=None
    )
    report = ScanReport(
        Inventory(meta, None, ()),
        findings=tuple(outcome.findings),
        suppressed=tuple(outcome.suppressed),
        scanners=("dockerfile",),
        warnings=tuple(outcome.warnings),
    )
    emit_report(report, fmt, output, findings=True)
    raise click.exceptions.Exit(1 if report.exceeds(policy.fail_on) else 0)
