"""End of life of runtimes and libraries, from the dated table in ``runtimes_eol.yaml``.

Only components no distribution maintains are judged: binary-classifier results (a
Python or Node.js copied into /usr/local, a vendored OpenSSL) and the Go standard
library compiled into Go binaries. OS packages, and files an OS package owns, get
security fixes from their distribution (whose own end of life is HS-IMG-019): Debian's
python3.11 is supported as long as Debian 12 is, whatever python.org says.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, replace
from functools import cache
from importlib import resources

from hullscan.checks.catalogue import Catalogue, Check
from hullscan.checks.eol import iso_date
from hullscan.model import Finding, FindingKind, Package, Severity
from hullscan.yamltext import parse_yaml

CLASSIFIER = "binary-classifier"

EOL_RUNTIME = Check(
    "HS-BIN-010",
    Severity.HIGH,
    "End-of-life runtime or library",
    "Upgrade to a supported release line of the component (or rebuild on a base image "
    "that ships one): no security fixes are published for this one any more.",
    ("CIS-Docker-4.4",),
)

BINARY_EOL_CHECKS = Catalogue()
BINARY_EOL_CHECKS.add(EOL_RUNTIME)


@dataclass(frozen=True)
class Cycle:
    component: str
    cycle: str
    eol: dt.date
    lts: bool = False


@dataclass(frozen=True)
class RuntimeEolTable:
    written: dt.date
    source: str
    cycles: dict[tuple[str, str], Cycle]


@cache
def runtime_eol_table() -> RuntimeEolTable:
    """The built-in table, parsed once per process."""
    text = resources.files("hullscan.binaries").joinpath("runtimes_eol.yaml").read_text("utf-8")
    doc = parse_yaml(text)
    cycles: dict[tuple[str, str], Cycle] = {}
    for component, entries in doc["components"].items():
        for cycle, d in entries.items():
            where = f"runtimes_eol.yaml {component} {cycle}"
            cycles[(component, str(cycle))] = Cycle(
                component, str(cycle), iso_date(d["eol"], where), bool(d.get("lts"))
            )
    return RuntimeEolTable(
        iso_date(doc["written"], "runtimes_eol.yaml written"),
        " ".join(str(doc["source"]).split()),
        cycles,
    )


_NUM = re.compile(r"[0-9]+")


def _numeric_parts(component: str, version: str) -> list[str]:
    """``3.0.11`` → [3, 0, 11]; ``1.1.1w`` → [1, 1, 1]; OpenJDK ``1.8.0_392`` → [8, 0]."""
    version = version.strip().lstrip("vV")
    if component == "go":
        version = version.removeprefix("go")
    parts = []
    for piece in version.split("."):
        m = _NUM.match(piece)
        if not m:
            break
        parts.append(str(int(m.group())))
        if m.end() != len(piece):  # "1w", "0_392", "2rc1": nothing after this counts
            break
    if component == "openjdk" and len(parts) >= 2 and parts[0] == "1":
        parts = parts[1:]  # the pre-9 "1.8" scheme
    return parts


def runtime_eol(component: str, version: str, today: dt.date) -> tuple[dt.date, str] | None:
    """(end-of-life date, cycle) for a component version the table knows, else None.

    ``today`` is accepted for symmetry with the callers (the lookup is date-free): compare
    the date with it to know whether the cycle is past its end."""
    del today
    table = runtime_eol_table()
    parts = _numeric_parts(component, version)
    for n in range(len(parts), 0, -1):
        cycle = table.cycles.get((component, ".".join(parts[:n])))
        if cycle is not None:
            return cycle.eol, cycle.cycle
    return None


def component_of(pkg: Package) -> str | None:
    """The table component a package stands for, or None when it is not judged here."""
    if pkg.owner:  # a file an OS package owns: the distribution patches it
        return None
    if pkg.found_by == CLASSIFIER:
        return pkg.name
    if pkg.type == "golang" and pkg.name == "stdlib":
        return "go"
    return None


def eol_findings(packages: list[Package] | tuple[Package, ...], today: dt.date) -> list[Finding]:
    """HS-BIN-010 for each non-OS component whose release line is past its end of life."""
    table = runtime_eol_table()
    out: list[Finding] = []
    seen: set[tuple[str, str, tuple[str, ...]]] = set()
    for pkg in packages:
        component = component_of(pkg)
        if component is None or not pkg.version:
            continue
        hit = runtime_eol(component, pkg.version, today)
        if hit is None:
            continue
        eol, cycle = hit
        if today <= eol:
            continue
        paths = tuple(loc.path for loc in pkg.locations)
        key = (component, pkg.version, paths)
        if key in seen:
            continue
        seen.add(key)
        lts = table.cycles[(component, cycle)].lts
        evidence = (
            f"{component} {pkg.version} (release line {cycle}{', LTS' if lts else ''})"
            f": end of life {eol.isoformat()}; table of {table.written.isoformat()}"
        )
        f = EOL_RUNTIME.finding(
            evidence,
            path=paths[0] if paths else None,
            layer=pkg.locations[0].layer if pkg.locations else None,
            details={
                "component": component,
                "version": pkg.version,
                "cycle": cycle,
                "eol": eol.isoformat(),
                "lts": lts,
                "found_by": pkg.found_by,
                "paths": list(paths),
                "table_written": table.written.isoformat(),
                "source": table.source,
            },
        )
        out.append(replace(f, kind=FindingKind.BINARY, package=pkg, installed_version=pkg.version))
    return out
