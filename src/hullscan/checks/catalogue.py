"""One catalogue for every check: a stable id, severity, title, remediation, and the
ids of the same rule in the CIS Docker Benchmark, Hadolint (``DLxxxx``) and Trivy
(``DSxxx``), so users coming from those tools find their rules.

Image checks use ``HS-IMG-nnn`` ids, Dockerfile checks ``HS-DF-nnn``; an id never
changes meaning once released.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hullscan.errors import HullscanError
from hullscan.model import Finding, FindingKind, Severity


@dataclass(frozen=True)
class Check:
    id: str
    severity: Severity
    title: str
    remediation: str
    standards: tuple[str, ...] = ()
    #: off unless enabled in the configuration (opinionated or noisy checks)
    default_enabled: bool = True
    description: str = ""

    def finding(
        self,
        evidence: str,
        *,
        path: str | None = None,
        line: int | None = None,
        layer: str | None = None,
        severity: Severity | None = None,
        details: dict[str, Any] | None = None,
    ) -> Finding:
        return Finding(
            kind=FindingKind.MISCONFIGURATION,
            id=self.id,
            severity=severity or self.severity,
            title=self.title,
            path=path,
            line=line,
            layer=layer,
            evidence=evidence,
            remediation=self.remediation,
            standards=self.standards,
            description=self.description,
            details=details or {},
        )


@dataclass
class Catalogue:
    checks: dict[str, Check] = field(default_factory=dict)

    def add(self, *checks: Check) -> None:
        for c in checks:
            if c.id in self.checks:
                raise ValueError(f"duplicate check id {c.id}")
            self.checks[c.id] = c

    def __getitem__(self, check_id: str) -> Check:
        return self.checks[check_id]


@dataclass(frozen=True)
class CheckSettings:
    """Per-rule configuration from ``.hullscan.yaml``::

    checks:
      disable: [HS-DF-012]          # never report these
      enable: [HS-DF-020]           # turn on checks that are off by default
      severity: {HS-IMG-003: LOW}   # override a severity
      trusted_registries: [registry.example.com, docker.io/library]
    """

    disabled: frozenset[str] = frozenset()
    enabled: frozenset[str] = frozenset()
    severity: dict[str, Severity] = field(default_factory=dict)
    trusted_registries: tuple[str, ...] = ()

    def active(self, check: Check) -> bool:
        if check.id in self.disabled:
            return False
        return check.default_enabled or check.id in self.enabled

    def apply(self, findings: list[Finding]) -> list[Finding]:
        """Drop disabled checks and apply severity overrides."""
        from dataclasses import replace

        out = []
        for f in findings:
            if f.id in self.disabled:
                continue
            if f.id in self.severity:
                f = replace(f, severity=self.severity[f.id])
            out.append(f)
        return out

    @classmethod
    def from_section(cls, section: Any) -> CheckSettings:
        """The ``checks:`` section of hullscan.yaml (None: the defaults)."""
        section = section or {}
        if not isinstance(section, dict):
            raise HullscanError("checks must be a mapping")

        def ids(key: str) -> frozenset[str]:
            value = section.get(key) or []
            if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
                raise HullscanError(f"checks.{key} must be a list of check ids")
            return frozenset(value)

        unknown = set(section) - {"disable", "enable", "severity", "trusted_registries"}
        if unknown:
            raise HullscanError(f"checks: unknown setting(s) {', '.join(sorted(unknown))}")
        sev = section.get("severity") or {}
        if not isinstance(sev, dict):
            raise HullscanError("checks.severity must map check ids to severities")
        trusted = section.get("trusted_registries") or []
        if not isinstance(trusted, list) or not all(isinstance(x, str) for x in trusted):
            raise HullscanError("checks.trusted_registries must be a list of registries")
        return cls(
            disabled=ids("disable"),
            enabled=ids("enable"),
            severity={k: _severity(k, v) for k, v in sev.items()},
            trusted_registries=tuple(trusted),
        )


def _severity(check_id: str, value: Any) -> Severity:
    try:
        return Severity.parse(str(value))
    except HullscanError as e:
        raise HullscanError(f"checks.severity.{check_id}: {e}") from None
