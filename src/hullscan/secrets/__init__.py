"""Secrets in file contents: rules as data (``rules.yaml``), a keyword prefilter,
entropy and stop-word filters, masking (see ``engine``), and the layer analyzer."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from hullscan.analyzer import Analyzer
from hullscan.secrets.analyzer import SecretAnalyzer
from hullscan.secrets.engine import SecretEngine, SecretMatch, mask
from hullscan.secrets.rules import Allowlist, Rule, RuleSet, builtin_rules, load_rules

if TYPE_CHECKING:
    from hullscan.settings import SecretSettings


@functools.lru_cache(maxsize=1)
def _builtin_engine() -> SecretEngine:
    return SecretEngine(load_rules(None))


def redact(text: str, engine: SecretEngine | None = None) -> str:
    """``text`` with every secret the rules find replaced by its masked form: for history
    lines and other image metadata that reports print (build arguments leak there)."""
    engine = engine or _builtin_engine()
    for m in engine.scan_text(text, "Dockerfile"):
        text = text.replace(m.secret, m.masked)
    return text


def secret_analyzers(settings: SecretSettings | None = None) -> tuple[SecretEngine, list[Analyzer]]:
    """The engine for config and history text, and the layer analyzers of the secret
    scanner (file contents by rules; certificates and keystores by structure)."""
    from hullscan.secrets.certs import CertificateAnalyzer
    from hullscan.settings import SecretSettings

    settings = settings or SecretSettings()
    analyzer = SecretAnalyzer(
        settings.rules() if settings.section else None, cache_token=settings.token
    )
    return analyzer.engine, [analyzer, CertificateAnalyzer()]


__all__ = [
    "Allowlist",
    "Rule",
    "RuleSet",
    "SecretAnalyzer",
    "SecretEngine",
    "SecretMatch",
    "builtin_rules",
    "load_rules",
    "mask",
    "redact",
    "secret_analyzers",
]
