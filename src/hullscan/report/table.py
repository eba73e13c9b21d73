"""Terminal tables: the inventory (``sbom``) and the findings (``scan``)."""

from __future__ import annotations

import io
import shutil
from collections import Counter
from collections.abc import Callable

from rich.console import Console
from rich.table import Table

from hullscan.licenses import combined
from hullscan.model import Finding, Inventory, ScanReport, Severity

SEVERITY_STYLE = {
    Severity.CRITICAL: "bold red",
    Severity.HIGH: "red",
    Severity.MEDIUM: "yellow",
    Severity.LOW: "cyan",
    Severity.UNKNOWN: "dim",
}


def _console(buf: io.StringIO, color: bool, width: int | None) -> Console:
    # on a terminal, its width; in a pipe or file, wide enough that paths stay on one line
    return Console(
        file=buf,
        force_terminal=color,
        no_color=not color,
        width=width or (shutil.get_terminal_size().columns if color else 200),
        highlight=False,
    )


def _render(color: bool, width: int | None, body: Callable[[Console], None]) -> str:
    buf = io.StringIO()
    body(_console(buf, color, width))
    return "".join(line.rstrip() + "\n" for line in buf.getvalue().splitlines())


def _header(console: Console, inv: Inventory) -> None:
    img = inv.image
    if img.transport == "dockerfile":
        console.print(f"[bold]{img.ref}[/bold]  Dockerfile")
        return
    os_text = inv.os.pretty_name or f"{inv.os.id} {inv.os.version_id}" if inv.os else "unknown"
    if inv.os and inv.os.release and inv.os.release not in os_text:
        os_text += f" ({inv.os.release})"
    if inv.os and inv.os.distroless:
        os_text += ", distroless"
    console.print(f"[bold]{img.name}[/bold]  {img.transport}")
    console.print(f"  digest {img.digest or '-'}  config {img.config_digest or '-'}")
    console.print(f"  os {os_text}  platform {img.platform or '-'}  layers {len(img.layers)}")


def _warnings(console: Console, warnings: tuple[str, ...]) -> None:
    for w in warnings:
        console.print(f"[yellow]warning:[/yellow] {w}")


#: the inventory table's columns, and the default selection
COLUMNS = ("type", "name", "version", "source", "layer", "path", "license")
DEFAULT_COLUMNS = ("type", "name", "version", "source", "layer", "path")


def render_table(
    report: ScanReport,
    color: bool = False,
    width: int | None = None,
    columns: tuple[str, ...] = DEFAULT_COLUMNS,
) -> str:
    """The inventory, one package a row, with the chosen ``columns``."""
    inv = report.inventory

    def body(console: Console) -> None:
        _header(console, inv)
        layer_index = {layer.diff_id: layer.index for layer in inv.image.layers}
        table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
        for col in columns:
            table.add_column(col.upper(), overflow="fold")
        for p in inv.packages:
            loc = p.locations[0] if p.locations else None
            source = p.source_name if p.source_name and p.source_name != p.name else ""
            if p.owner:
                source = f"(owned by {p.owner})"
            cells = {
                "type": p.type,
                "name": p.name,
                "version": p.version,
                "source": source,
                "layer": str(layer_index.get(loc.layer, "-")) if loc and loc.layer else "-",
                "path": loc.path if loc else "",
                "license": combined(p.licenses) if p.licenses else "",
            }
            table.add_row(*(cells[c] for c in columns))
        console.print(table)
        counts = Counter(p.type for p in inv.packages)
        summary = ", ".join(f"{n} {t}" for t, n in sorted(counts.items())) or "no packages"
        console.print(f"{len(inv.packages)} packages: {summary}")
        _warnings(console, inv.warnings + report.warnings)

    return _render(color, width, body)


def _package_key(f: Finding) -> tuple[str, str, str]:
    p = f.package
    return (p.type, p.name, p.version) if p else ("", "", "")


def _exploitation(f: Finding) -> str:
    """``KEV`` for a known exploited vulnerability, and its EPSS score as a percentage."""
    parts = ["[bold red]KEV[/bold red]"] if f.kev is not None else []
    if f.epss is not None:
        parts.append(f"EPSS {f.epss.score * 100:.1f}%")
    return " ".join(parts)


def render_findings_table(report: ScanReport, color: bool = False, width: int | None = None) -> str:
    """Findings grouped by package: severity, id, KEV/EPSS, fixed version, title.
    Packages and findings keep the report's order (the CLI sorts by risk or severity)."""

    def body(console: Console) -> None:
        _header(console, report.inventory)
        by_package: dict[tuple[str, str, str], list[Finding]] = {}
        others: list[Finding] = []
        for f in report.findings:
            if f.package is None or f.kind != "vulnerability":
                others.append(f)
            else:
                by_package.setdefault(_package_key(f), []).append(f)
        for group in by_package.values():
            p = group[0].package
            assert p is not None
            source = (
                f" (source {p.source_name} {p.source_version})"
                if (p.source_name and p.source_name != p.name)
                else ""
            )
            where = f"  {group[0].path}" if group[0].path else ""
            console.print(f"\n[bold]{p.name} {p.version}[/bold] [dim]{p.type}{source}{where}[/dim]")
            table = Table(show_header=False, box=None, pad_edge=False, padding=(0, 1))
            exploit = [_exploitation(f) for f in group]
            for _ in range(4 + any(exploit)):
                table.add_column(overflow="fold")
            for f, e in zip(group, exploit, strict=True):
                style = SEVERITY_STYLE[f.severity]
                fix = (
                    f"→ {f.fixed_version}"
                    if f.fixed_version
                    else ("not affected" if f.status == "not_affected" else "no fix yet")
                )
                cells = [
                    f"  [{style}]{f.severity.name}[/{style}]",
                    f.id,
                    *([e] if any(exploit) else []),
                    fix,
                    f.title,
                ]
                table.add_row(*cells)
            console.print(table)
        if others:
            table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
            for col in ("SEVERITY", "ID", "WHERE", "LAYER", "MATCH"):
                table.add_column(col, overflow="fold")
            for f in sorted(others, key=lambda f: (-f.severity, f.path or "", f.line or 0)):
                style = SEVERITY_STYLE[f.severity]
                where = (
                    f"{f.path}:{f.line}"
                    if f.path and f.line
                    else (f.path or str(f.details.get("where", "")))
                )
                layer = f.details.get("layer_index")
                layer_text = "" if layer is None else str(layer)
                if f.details.get("in_final_image") is False:
                    gone = f.details.get("removed_in_layer")
                    layer_text += (
                        f" (removed in {gone}, still shipped)"
                        if gone is not None
                        else " (not in final image)"
                    )
                match = f.details.get("match") or f.evidence
                table.add_row(
                    f"[{style}]{f.severity.name}[/{style}]", f.id, where, layer_text, str(match)
                )
            console.print()
            console.print(table)
        counts = Counter(f.severity for f in report.findings)
        parts = [f"{counts[s]} {s.name}" for s in sorted(Severity, reverse=True) if counts[s]]
        total = len(report.findings)
        places = [f"{len(by_package)} packages"] if by_package else []
        if others:
            places.append(f"{len(others)} elsewhere")
        line = (
            f"\n{total} finding{'s' if total != 1 else ''} ({', '.join(parts)}): "
            f"{', '.join(places)}"
            if total
            else "\nno findings"
        )
        if kev := sum(1 for f in report.findings if f.kev is not None):
            line += f"; {kev} known exploited (CISA KEV)"
        if report.suppressed:
            line += f"; {len(report.suppressed)} suppressed by ignore rules or VEX"
        if report.inventory.image.transport != "dockerfile":
            line += (
                f"  [{len(report.inventory.packages)} packages scanned, "
                f"scanners: {','.join(report.scanners) or 'none'}]"
            )
        console.print(line)
        _warnings(console, report.inventory.warnings + report.warnings)

    return _render(color, width, body)
