"""The admission policy: the ``admission:`` section of ``hullscan.yaml``, read once into
typed settings (a bad value is one clear error, before the webhook serves anything).

```yaml
admission:
  mode: enforce              # enforce | warn (warn: allowed, with warnings)
  require_digest: true       # an image given by tag alone is refused
  trust_policy: trust.yaml   # signatures checked with that policy's keys (default: trust:)
  deny_severity: HIGH        # refuse when the digest's latest report has a finding >= it
  deny_kev: true             # refuse when that report has a known-exploited finding
  unscanned: deny            # allow | warn | deny | scan (deny and enqueue a scan)
  exempt_namespaces: [kube-system]
  exempt_images: ['registry.k8s.io/*']
  budget_seconds: 2          # answer within this, failing closed (or open: fail_open: true)
  fail_open: false
  signature_cache_seconds: 300
```
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hullscan.errors import HullscanError
from hullscan.model import Severity
from hullscan.references import canonical_name
from hullscan.supplychain.trust import TrustPolicy

MODES = ("enforce", "warn")
UNSCANNED = ("allow", "warn", "deny", "scan")
#: the API server waits at most 30 s (timeoutSeconds); leave it time to hear the answer
MAX_BUDGET = 25.0
_KEYS = {
    "mode",
    "require_digest",
    "trust_policy",
    "deny_severity",
    "deny_kev",
    "unscanned",
    "exempt_namespaces",
    "exempt_images",
    "budget_seconds",
    "fail_open",
    "signature_cache_seconds",
}


@dataclass(frozen=True)
class AdmissionPolicy:
    mode: str = "enforce"
    require_digest: bool = True
    trust: TrustPolicy | None = None
    #: None: the stored report's severities do not matter
    deny_severity: Severity | None = Severity.HIGH
    deny_kev: bool = True
    unscanned: str = "deny"
    exempt_namespaces: tuple[str, ...] = ()
    exempt_images: tuple[str, ...] = ()
    budget_seconds: float = 2.0
    fail_open: bool = False
    #: how long a verified signature check is reused (a failed one: a tenth of it)
    signature_cache_seconds: float = 300.0

    def namespace_exempt(self, namespace: str) -> bool:
        return namespace in self.exempt_namespaces

    def image_exempt(self, image: str, name: str | None) -> bool:
        """``image`` as written in the pod spec; ``name``: its canonical HOST/REPO."""
        candidates = [image] + ([name] if name else [])
        return any(
            fnmatch.fnmatchcase(c, pattern) for c in candidates for pattern in self.exempt_images
        )

    @classmethod
    def from_section(
        cls,
        doc: Any,
        source: str = "hullscan.yaml",
        base_dir: Path = Path("."),
        trust: TrustPolicy | None = None,
    ) -> AdmissionPolicy:
        """The ``admission:`` section (None: every default). ``trust``: the settings'
        ``trust:`` section, used unless ``trust_policy`` names a file of its own."""
        doc = doc or {}
        where = "admission"
        if not isinstance(doc, dict):
            raise HullscanError(f"{where}: expected a mapping of settings")
        unknown = set(doc) - _KEYS
        if unknown:
            raise HullscanError(f"{where}: unknown setting(s) {', '.join(sorted(unknown))}")
        mode = _choice(doc, "mode", MODES, "enforce", where)
        unscanned = _choice(doc, "unscanned", UNSCANNED, "deny", where)
        severity = doc.get("deny_severity", "HIGH")
        try:
            deny_severity = (
                None if severity in (None, "none", "NONE") else Severity.parse(str(severity))
            )
        except HullscanError as e:
            raise HullscanError(f"{where}.deny_severity: {e}") from None
        budget = _number(doc, "budget_seconds", 2.0, where)
        if not 0 < budget <= MAX_BUDGET:
            raise HullscanError(
                f"{where}.budget_seconds must be above 0 and at most "
                f"{MAX_BUDGET:g} (the API server waits 30 s at most)"
            )
        cache_seconds = _number(doc, "signature_cache_seconds", 300.0, where)
        if cache_seconds < 0:
            raise HullscanError(f"{where}.signature_cache_seconds must not be negative")
        trust_file = doc.get("trust_policy")
        if trust_file is not None and not isinstance(trust_file, str):
            raise HullscanError(f"{where}.trust_policy must be a file name")
        if trust_file:
            from hullscan.settings import load_trust_policy_file

            path = Path(trust_file)
            path = path if path.is_absolute() else base_dir / path
            if not path.is_file():
                raise HullscanError(f"{where}.trust_policy: {path} not found")
            trust = load_trust_policy_file(path)
        return cls(
            mode=mode,
            require_digest=_flag(doc, "require_digest", True, where),
            trust=trust,
            deny_severity=deny_severity,
            deny_kev=_flag(doc, "deny_kev", True, where),
            unscanned=unscanned,
            exempt_namespaces=_names(doc, "exempt_namespaces", where),
            exempt_images=tuple(
                p if "/" not in p or p.startswith("*") else canonical_name(p, repository=False)
                for p in _names(doc, "exempt_images", where)
            ),
            budget_seconds=budget,
            fail_open=_flag(doc, "fail_open", False, where),
            signature_cache_seconds=cache_seconds,
        )


def _choice(
    doc: dict[str, Any], key: str, allowed: tuple[str, ...], default: str, where: str
) -> str:
    value = doc.get(key, default)
    if value not in allowed:
        raise HullscanError(f"{where}.{key} must be one of {', '.join(allowed)}")
    return str(value)


def _flag(doc: dict[str, Any], key: str, default: bool, where: str) -> bool:
    value = doc.get(key, default)
    if not isinstance(value, bool):
        raise HullscanError(f"{where}.{key} must be true or false")
    return value


def _number(doc: dict[str, Any], key: str, default: float, where: str) -> float:
    value = doc.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise HullscanError(f"{where}.{key} must be a number of seconds")
    return float(value)


def _names(doc: dict[str, Any], key: str, where: str) -> tuple[str, ...]:
    value = doc.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise HullscanError(f"{where}.{key} must be a list of names")
    return tuple(value)


__all__ = ["AdmissionPolicy"]
