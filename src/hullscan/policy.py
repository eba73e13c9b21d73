"""What to report and when to fail: severity filter, ignore rules with expiry, VEX.

The exit code is decided here, after ignores and VEX, so a suppressed finding
never fails a pipeline and an expired ignore rule stops protecting it.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hullscan.errors import HullscanError
from hullscan.model import Finding, Severity, Suppressed
from hullscan.settings import read_yaml

IGNORE_FILE = ".hullscanignore"


@dataclass(frozen=True)
class IgnoreRule:
    id: str
    reason: str
    package: str = ""
    purl: str = ""
    path: str = ""
    expires: dt.date | None = None

    def expired(self, today: dt.date) -> bool:
        return self.expires is not None and today > self.expires

    def applies(self, f: Finding) -> bool:
        if self.id not in f.all_ids:
            return False
        p = f.package
        if self.package and (p is None or self.package not in (p.name, p.source_name)):
            return False
        if self.purl and (p is None or not _purl_matches(self.purl, p.purl)):
            return False
        return not self.path or (
            f.path is not None and fnmatch.fnmatch(f.path.lstrip("/"), self.path.lstrip("/"))
        )


def _purl_matches(rule: str, purl: str) -> bool:
    """A rule's purl without version or qualifiers covers every version of the package."""
    if rule == purl:
        return True
    base = purl.split("?", 1)[0]
    return rule == base or ("@" not in rule and base.split("@", 1)[0] == rule)


def load_ignore_file(path: Path) -> list[IgnoreRule]:
    doc = read_yaml(path)
    entries = doc.get("ignore", doc.get("vulnerabilities")) if isinstance(doc, dict) else doc
    if doc is None:
        return []
    if not isinstance(entries, list):
        raise HullscanError(f"{path}: expected a list of rules (or a mapping with 'ignore:')")
    return [_rule(path, i, e) for i, e in enumerate(entries, 1)]


def _rule(path: Path, n: int, e: Any) -> IgnoreRule:
    where = f"{path}: rule {n}"
    if isinstance(e, str):
        raise HullscanError(
            f"{where}: {e!r} has no reason; write it as {{id: {e}, reason: why it does not apply}}"
        )
    if not isinstance(e, dict) or not isinstance(e.get("id"), str):
        raise HullscanError(f"{where}: needs an 'id'")
    reason = e.get("reason") or e.get("statement")
    if not isinstance(reason, str) or not reason.strip():
        raise HullscanError(f"{where} ({e['id']}): a 'reason' is required")
    expires = e.get("expires")
    if isinstance(expires, str):
        try:
            expires = dt.date.fromisoformat(expires)
        except ValueError:
            raise HullscanError(
                f"{where}: expires {expires!r} is not a date (YYYY-MM-DD)"
            ) from None
    elif isinstance(expires, dt.datetime):
        expires = expires.date()
    elif expires is not None and not isinstance(expires, dt.date):
        raise HullscanError(f"{where}: expires must be a date (YYYY-MM-DD)")
    fields = {k: e.get(k, "") for k in ("package", "purl", "path")}
    for k, v in fields.items():
        if not isinstance(v, str):
            raise HullscanError(f"{where}: {k} must be a string")
    return IgnoreRule(id=e["id"], reason=reason.strip(), expires=expires, **fields)


@dataclass
class Policy:
    severities: frozenset[Severity] = frozenset(Severity)
    fail_on: Severity | None = None
    ignore_unfixed: bool = False
    show_not_affected: bool = False
    ignore_rules: Sequence[IgnoreRule] = ()
    vex: Sequence[Any] = ()
    today: dt.date = field(default_factory=dt.date.today)


@dataclass
class PolicyResult:
    findings: list[Finding]
    suppressed: list[Suppressed]
    warnings: list[str]

    def exit_code(self, fail_on: Severity | None) -> int:
        if fail_on is None:
            return 0
        return 1 if any(f.severity >= fail_on for f in self.findings) else 0


def apply(
    policy: Policy, findings: Iterable[Finding], not_affected: Iterable[Finding] = ()
) -> PolicyResult:
    from hullscan.vex import vex_suppresses

    out = PolicyResult([], [], [])
    active = [r for r in policy.ignore_rules if not r.expired(policy.today)]
    for r in policy.ignore_rules:
        if r.expired(policy.today):
            out.warnings.append(
                f"ignore rule for {r.id} expired on {r.expires}; it no longer applies"
            )
    candidates = list(findings)
    if policy.show_not_affected:
        candidates += list(not_affected)
    for f in candidates:
        if f.severity not in policy.severities:
            continue
        if policy.ignore_unfixed and f.kind == "vulnerability" and not f.fixed_version:
            continue
        rule = next((r for r in active if r.applies(f)), None)
        if rule is not None:
            until = f" (until {rule.expires})" if rule.expires else ""
            out.suppressed.append(Suppressed(f, rule.reason + until, IGNORE_FILE))
            continue
        statement = vex_suppresses(policy.vex, f) if policy.vex else None
        if statement is not None:
            why = statement.justification or statement.status
            if statement.detail:
                why += f": {statement.detail}"
            out.suppressed.append(Suppressed(f, why, "vex"))
            continue
        out.findings.append(f)
    return out


def parse_severities(text: str) -> frozenset[Severity]:
    return frozenset(Severity.parse(s) for s in text.split(",") if s.strip())
