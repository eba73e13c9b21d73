"""``--scanners binary``: hardening of the executables and libraries that ship, and
end-of-life runtimes found inside binaries.

The layer walk already ran the hardening analyzer (cached per layer); here only
the binaries still in the final image count, each once. Binaries that an OS
package owns were built by the distribution: their hardening is the
distribution's choice and is left out of the findings unless asked for
(``include_os_owned``), but they still count in the summary.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from hullscan.checks.image import unowned_setuid
from hullscan.model import Finding
from hullscan.pipeline import AnalyzedImage

ANALYZER = "binary-hardening"


def hardening_findings(
    analyzed: AnalyzedImage, include_os_owned: bool = False, setuid_checks: bool = True
) -> tuple[list[Finding], dict[str, Any]]:
    """Hardening findings and the per-image table. ``setuid_checks=False`` leaves setuid
    files no package owns to the config scanner (which reports every such file)."""
    fs = analyzed.fs
    owned = fs.owners()
    out: list[Finding] = []
    counts: Counter[str] = Counter()
    for path, layer, name, result in fs.final_results():
        if name != ANALYZER:
            continue
        is_owned = fs.canonical(path) in owned
        record = result.facts.get("binary") if result.facts else None
        if (
            setuid_checks
            and not is_owned
            and isinstance(record, dict)
            and (record.get("setuid") or record.get("setgid"))
        ):
            # a setuid/setgid binary no package owns is high, however well hardened: the
            # config scanner's check, with its evidence
            out.append(
                unowned_setuid(path, fs.final[path][1], layer, analyzed.analyses[layer].diff_id)
            )
        for f in result.findings:
            counts["os-owned" if is_owned else "other"] += 1
            if is_owned and not include_os_owned:
                continue
            details = {**f.details, "os_owned": is_owned}
            out.append(
                replace(f, path=path, layer=analyzed.analyses[layer].diff_id, details=details)
            )
    summary = {"binaries_lacking_protections": dict(counts), **census(analyzed, owned)}
    return out, summary


#: the protections counted in the per-image table, by checksec's names
_PROTECTIONS = ("pie", "nx", "canary", "fortify")


def census(analyzed: AnalyzedImage, owned: Mapping[str, str]) -> dict[str, Any]:
    """Executables in the final image by kind, and how many ELF files have each
    protection (split by OS-owned and not): the per-image hardening table."""
    fs = analyzed.fs
    kinds: Counter[str] = Counter()
    table: dict[str, Counter[str]] = {"os-owned": Counter(), "other": Counter()}
    for path, _layer, name, result in fs.final_results():
        if name != ANALYZER or not result.facts:
            continue
        kind = str(result.facts.get("kind", "other"))
        kinds[kind.split(":", 1)[0] if kind.startswith("script") else kind] += 1
        record = result.facts.get("binary")
        if not isinstance(record, dict) or record.get("format") != "ELF":
            continue
        row = table["os-owned" if fs.canonical(path) in owned else "other"]
        row["elf"] += 1
        for prop in _PROTECTIONS:
            row[prop] += bool(record.get(prop))
        row[f"relro_{record.get('relro', 'none')}"] += 1
    return {
        "executables": dict(sorted(kinds.items())),
        "elf_hardening": {k: dict(v) for k, v in table.items() if v},
    }


def eol_findings(analyzed: AnalyzedImage, today: dt.date | None = None) -> list[Finding]:
    from hullscan.binaries.eol import eol_findings as runtime_eol_findings

    packages = [
        p
        for p in analyzed.inventory.packages
        if not p.owner and p.type not in ("deb", "apk", "rpm")
    ]
    return runtime_eol_findings(packages, today or dt.date.today())
