"""Secret rules as data: the built-in ``rules.yaml`` plus the user's configuration.

A rule (built-in or user) is a mapping::

    id: github-pat                   # kebab-case, unique; gitleaks' id where one exists
    title: GitHub personal access token
    severity: CRITICAL               # CRITICAL | HIGH | MEDIUM | LOW
    category: github
    keywords: ["ghp_"]               # lowercase literals, at least one: the prefilter
    regex: '(?P<secret>ghp_[0-9a-zA-Z]{36})'   # Python re, one group, named "secret"
    entropy: 3.0                     # optional: minimum Shannon entropy of the secret
    path: '(?:^|/)\\.netrc$'          # optional: the rule applies only to matching paths
    generic: false                   # optional: tried after the specific rules
    stopwords: false                 # optional: filter through the stop-word list
                                     #   (default: the value of ``generic``)

User configuration (``hullscan.yaml``) follows the shape of gitleaks' config::

    secrets:
      use_default: true              # keep the built-in rules (default)
      rules: [ {rule}, ... ]         # added; a rule with a built-in id replaces it
      disable: [jwt, generic-password]
      allowlist:
        paths: ['^app/tests/']       # regexes searched in the normalized path
        regexes: ['^dev-']           # regexes searched in the secret
        stopwords: ['localdev']      # substrings (case-insensitive) of the secret

User rules default to severity HIGH, category ``custom`` and title = id; title,
severity and category may be omitted, keywords may not (a rule without keywords
would run its regex on every file). Anything malformed raises ``HullscanError``
naming the rule.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

from hullscan.errors import HullscanError
from hullscan.model import Severity
from hullscan.yamltext import parse_yaml

_ID_RE = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_SEVERITIES = ("CRITICAL", "HIGH", "MEDIUM", "LOW")
_KNOWN_KEYS = frozenset(
    {
        "id",
        "title",
        "severity",
        "category",
        "keywords",
        "regex",
        "entropy",
        "path",
        "generic",
        "stopwords",
    }
)


@dataclass(frozen=True)
class Rule:
    """One secret rule; its regex is compiled on first use (``regex``)."""

    id: str
    title: str
    severity: Severity
    category: str
    keywords: tuple[str, ...]
    #: the regular expression, as written
    pattern: str
    entropy: float | None = None
    path: re.Pattern[str] | None = None
    generic: bool = False
    stopwords: bool = False

    @functools.cached_property
    def regex(self) -> re.Pattern[str]:
        """Compiled when a rule first runs: a scan runs only the rules whose keywords its
        files contain, and compiling all ~120 built-in regexes up front cost every secret
        scan ~20 ms (a rescan from the cache, most of its work)."""
        return re.compile(self.pattern)


@dataclass(frozen=True)
class Allowlist:
    """Matches to drop: by file path, by a regex on the secret, or by a stop word in it."""

    paths: tuple[re.Pattern[str], ...] = ()
    regexes: tuple[re.Pattern[str], ...] = ()
    stopwords: tuple[str, ...] = ()

    def path_allowed(self, path: str | None) -> bool:
        return path is not None and any(p.search(path) for p in self.paths)

    def secret_allowed(self, secret: str) -> bool:
        if any(r.search(secret) for r in self.regexes):
            return True
        low = secret.lower()
        return any(w in low for w in self.stopwords)


@dataclass(frozen=True)
class RuleSet:
    rules: tuple[Rule, ...]
    allowlist: Allowlist = Allowlist()


def _compile(text: Any, what: str) -> re.Pattern[str]:
    if not isinstance(text, str) or not text:
        raise HullscanError(f"{what}: must be a non-empty string")
    try:
        return re.compile(text)
    except re.error as e:
        raise HullscanError(f"{what}: invalid regular expression: {e}") from None


def parse_rule(raw: Any, origin: str = "config", *, user: bool = True) -> Rule:
    """Validate one rule mapping. A user's regex is compiled here, so that a mistake is
    reported when the settings are read; the built-in ones are compiled when first used
    (tests/test_secrets_engine.py compiles and checks every one)."""
    if not isinstance(raw, Mapping):
        raise HullscanError(f"secret rule in {origin}: must be a mapping, not {type(raw).__name__}")
    rid = raw.get("id")
    if not isinstance(rid, str) or not _ID_RE.fullmatch(rid):
        raise HullscanError(
            f"secret rule {rid!r} in {origin}: id must be kebab-case "
            "(lowercase letters, digits, dashes)"
        )
    where = f"secret rule {rid!r} in {origin}"
    unknown = set(raw) - _KNOWN_KEYS
    if unknown:
        raise HullscanError(f"{where}: unknown keys {sorted(unknown)}")
    missing = [k for k in ("regex", "keywords") if k not in raw]
    if not user:
        missing += [k for k in ("title", "severity", "category") if k not in raw]
    if missing:
        raise HullscanError(f"{where}: missing {', '.join(missing)}")

    sev = str(raw.get("severity", "HIGH")).upper()
    if sev not in _SEVERITIES:
        raise HullscanError(f"{where}: severity must be one of {', '.join(_SEVERITIES)}")
    keywords = raw["keywords"]
    if (
        not isinstance(keywords, list)
        or not keywords
        or not all(isinstance(k, str) and k for k in keywords)
    ):
        raise HullscanError(f"{where}: keywords must be a non-empty list of non-empty strings")
    if any(k != k.lower() for k in keywords):
        raise HullscanError(f"{where}: keywords must be lowercase (the prefilter lowercases text)")
    if user:
        regex = _compile(raw["regex"], f"{where}: regex")
        if regex.groups != 1 or "secret" not in regex.groupindex:
            raise HullscanError(
                f"{where}: regex must have exactly one capture group, named "
                "'secret' (use (?:...) for the others)"
            )
    elif not isinstance(raw["regex"], str) or not raw["regex"]:
        raise HullscanError(f"{where}: regex: must be a non-empty string")
    path = _compile(raw["path"], f"{where}: path") if raw.get("path") is not None else None
    entropy = raw.get("entropy")
    if entropy is not None and (
        isinstance(entropy, bool) or not isinstance(entropy, int | float) or entropy < 0
    ):
        raise HullscanError(f"{where}: entropy must be a non-negative number")
    generic = raw.get("generic", False)
    stopwords = raw.get("stopwords", generic)
    if not isinstance(generic, bool) or not isinstance(stopwords, bool):
        raise HullscanError(f"{where}: generic and stopwords must be true or false")
    title = raw.get("title", rid)
    category = raw.get("category", "custom")
    if not isinstance(title, str) or not isinstance(category, str):
        raise HullscanError(f"{where}: title and category must be strings")
    return Rule(
        id=rid,
        title=title,
        severity=Severity[sev],
        category=category,
        keywords=tuple(dict.fromkeys(keywords)),
        pattern=raw["regex"],
        entropy=float(entropy) if entropy is not None else None,
        path=path,
        generic=generic,
        stopwords=stopwords,
    )


@functools.lru_cache(maxsize=1)
def builtin_rules() -> tuple[Rule, ...]:
    """The rules shipped in ``rules.yaml``, parsed once per process."""
    text = resources.files("hullscan.secrets").joinpath("rules.yaml").read_text("utf-8")
    doc = parse_yaml(text)
    rules = tuple(parse_rule(r, "built-in rules.yaml", user=False) for r in doc["rules"])
    _check_unique(rules, "built-in rules.yaml")
    return rules


def _check_unique(rules: Sequence[Rule], origin: str) -> None:
    seen: set[str] = set()
    for r in rules:
        if r.id in seen:
            raise HullscanError(f"secret rule {r.id!r} in {origin}: duplicate id")
        seen.add(r.id)


def _str_list(value: Any, what: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise HullscanError(f"{what}: must be a list of strings")
    return value


def load_rules(section: Mapping[str, Any] | None = None) -> RuleSet:
    """Built-in rules merged with the ``secrets:`` section of hullscan.yaml (see above)."""
    section = section or {}
    if not isinstance(section, Mapping):
        raise HullscanError("secrets: must be a mapping")
    unknown = set(section) - {"rules", "disable", "allowlist", "use_default"}
    if unknown:
        raise HullscanError(f"secrets: unknown setting(s) {', '.join(sorted(unknown))}")
    raw_rules = section.get("rules")
    raw_rules = [] if raw_rules is None else raw_rules
    if not isinstance(raw_rules, list):
        raise HullscanError("secrets.rules: must be a list")
    user = [parse_rule(r, "secrets.rules") for r in raw_rules]
    _check_unique(user, "secrets.rules")

    base = list(builtin_rules()) if section.get("use_default", True) else []
    by_id = {r.id: r for r in user}
    merged = [by_id.pop(r.id, r) for r in base]  # a user rule with a built-in id replaces it
    merged.extend(by_id.values())

    disable = set(_str_list(section.get("disable"), "secrets.disable"))
    known = {r.id for r in merged}
    missing = sorted(disable - known)
    if missing:
        raise HullscanError(f"secrets.disable: unknown rule ids {missing}")
    rules = tuple(r for r in merged if r.id not in disable)

    al: Any = section.get("allowlist") or {}
    if not isinstance(al, Mapping):
        raise HullscanError("secrets.allowlist: must be a mapping")
    allowlist = Allowlist(
        paths=tuple(
            _compile(p, f"secrets.allowlist.paths {p!r}")
            for p in _str_list(al.get("paths"), "secrets.allowlist.paths")
        ),
        regexes=tuple(
            _compile(p, f"secrets.allowlist.regexes {p!r}")
            for p in _str_list(al.get("regexes"), "secrets.allowlist.regexes")
        ),
        stopwords=tuple(
            w.lower() for w in _str_list(al.get("stopwords"), "secrets.allowlist.stopwords")
        ),
    )
    return RuleSet(rules, allowlist)
