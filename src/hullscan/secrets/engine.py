"""Find secrets in text: one keyword prefilter, then only the rules that can apply.

How a text is scanned:

1. **Prefilter.** One multi-pattern matcher (``keywords.KeywordIndex``: Hyperscan,
   else pyahocorasick) holds the keywords of every rule without a ``path``; a single
   pass over the bytes yields the rules whose keywords occur (ASCII case ignored).
   Rules with a ``path`` are first gated by the path (a handful of path regexes),
   then by a plain substring test of their keywords: their keywords may be very
   common (``:`` in ``.pgpass``), which would flood the shared matcher with hits.
   Only the selected rules' regexes run. The secret analyzer asks the prefilter
   before it decodes a file at all (``worth_decoding``).
2. **Rules in order**, specific before ``generic``; a match whose secret overlaps one
   already reported is dropped, so ``GITHUB_TOKEN = "ghp_…"`` is reported once, as
   ``github-pat``, not again as ``generic-api-key``.
3. **Filters** on each secret: minimum entropy; template/reference markers for every
   rule (``${VAR}``, ``{{ x }}``, ``<password>``, ``$VAR``, ``xxxxx``, ``*****``,
   ``example``, case-sensitive letters; only for secrets up to 256 characters, never
   key bodies); for rules with ``stopwords`` (generic assignments, URLs, command
   lines) the stop-word list (placeholders such as ``changeme``, ``your_password``,
   ``dummy``, ``test``, ``null``, ``true``/``false``) and values that are clearly
   code (``self.token``, ``get_password()``) or file paths; the built-in allowlist of
   known public values; the user's allowlist.

Known public values (deliberate decision): the documentation credentials that AWS
publishes (``AKIAIOSFODNN7EXAMPLE`` / ``wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY``
and ``AKIAI44QH8DHBEXAMPLE`` / ``je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY``) and
Stripe's, Slack's and similar documentation samples are skipped. They grant access
to nothing, ship in countless SDKs and docs inside images, and reporting them would
teach users to ignore the scanner; anything with ``EXAMPLE`` in it is treated the
same way (a template marker). The cost in recall is negligible: a random 20- or
40-character key contains that exact word with odds below one in 10^11.

Masking (``mask``): at most 4 leading and 4 trailing characters are shown and never
more than a third of the secret; secrets shorter than 12 characters are fully
masked; the number of stars is capped at 16 so long secrets do not leak their
length. ``SecretMatch.secret`` holds the raw value for callers that must compare
it (it is left out of ``repr``); never print it.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from hullscan.secrets.keywords import KeywordIndex
from hullscan.secrets.rules import Allowlist, Rule, RuleSet

#: stop at this many matches in one text (a dump of tokens is one problem, not 10 000)
MAX_MATCHES_PER_TEXT = 200

#: published documentation credentials (see the module docstring)
KNOWN_PUBLIC_VALUES = frozenset(
    {
        "AKIAIOSFODNN7EXAMPLE",
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "AKIAI44QH8DHBEXAMPLE",
        "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY",
        "sk_live_4eC39HqLyjWDarjtT1zdp7dc",  # Stripe docs (the live-looking twin of sk_test_)
        "xoxb-263594206564-2343594206574-FGqddMF8t08v8N7Oq4i57vs1",  # Slack docs sample
    }
)

#: substrings that make any (short) secret a template or reference, not a value;
#: letters are case-sensitive so that random tokens hit them with negligible odds
_MARKERS = (
    "${",
    "{{",
    "}}",
    "<%",
    "%(",
    "#{",
    "xxxxx",
    "XXXXX",
    "*****",
    "example",
    "EXAMPLE",
    "Example",
    "process.env",
    "os.environ",
    "getenv(",
)
_MARKER_RE = re.compile(r"<[A-Za-z_ -]+>|^\$(?:[A-Za-z_]\w*$|[({])|^%[A-Za-z_]+%$")
#: longer secrets (key bodies) are never templates
_MARKER_MAX_LEN = 256

#: placeholder values, compared whole (lowercased, quotes stripped) — stop-word rules
_STOP_EXACT = frozenset(
    {
        "",
        "null",
        "none",
        "nil",
        "true",
        "false",
        "yes",
        "no",
        "on",
        "off",
        "undefined",
        "empty",
        "blank",
        "n/a",
        "na",
        "tbd",
        "todo",
        "fixme",
        "unset",
        "default",
        "secret",
        "password",
        "passwd",
        "token",
        "pass",
        "key",
        "apikey",
        "api_key",
        "admin",
        "root",
        "user",
        "username",
        "guest",
        "letmein",
        "qwerty",
    }
)
#: placeholder substrings — stop-word rules
_STOP_SUBSTR = (
    "changeme",
    "change_me",
    "change-me",
    "changeit",
    "change_this",
    "changethis",
    "example",
    "sample",
    "dummy",
    "placeholder",
    "redacted",
    "replace",
    "insert_",
    "insert-",
    "your_",
    "your-",
    "yourpass",
    "yoursecret",
    "yourtoken",
    "my_secret",
    "mysecret",
    "mypassword",
    "my_password",
    "password123",
    "secret123",
    "test",
    "fake",
    "mock",
    "notasecret",
    "not_a_secret",
    "not-a-secret",
    "insecure",
    "foobar",
    "123456",
    "abcdef",
    "aaaaaa",
    "000000",
    "12345678",
    "qwerty",
    "localhost",
    "dev_",
    "s3cr3t",
    "p@ssw0rd",
    "passw0rd",
    "hunter2",
)
#: generic values that are code or file references, not literals
_CODE_RE = re.compile(
    r"^[A-Za-z_][\w]*(?:\.[A-Za-z_][\w]*)+(?:\(|$)"  # self.token, settings.SECRET_KEY
    r"|^[A-Za-z_][\w.]*\("  # get_password(
    r"|^(?:/|\./|\.\./|~/|[A-Za-z]:\\)"  # a file path
    r"|://"  # a URL (DB URLs have their own rules)
    r"|^[a-z]+(?:[_-][a-z]+)+$"  # snake/kebab-case words
    r"|^[A-Z]+(?:_[A-Z]+)+$"  # ENV_VAR_NAME
    r"|^(?i:true|false|yes|no|on|off|null|none)\b"  # true|false, none;...
)


def shannon_entropy(text: str) -> float:
    """Bits per character of ``text`` (0 for the empty string)."""
    n = len(text)
    if not n:
        return 0.0
    return -sum(c / n * math.log2(c / n) for c in Counter(text).values())


def mask(secret: str) -> str:
    """The secret with all but at most 4+4 characters (and at most a third) hidden."""
    n = len(secret)
    if n < 12:
        return "*" * max(n, 4)
    reveal = min(8, n // 3)
    head = (reveal + 1) // 2
    tail = reveal - head
    stars = "*" * min(n - reveal, 16)
    return secret[:head] + stars + (secret[n - tail :] if tail else "")


@dataclass(frozen=True)
class SecretMatch:
    """One secret found in a text. ``secret`` is the raw value: never print it."""

    rule: Rule
    line: int
    secret: str = field(repr=False)
    masked: str


def _is_placeholder(secret: str) -> bool:
    if len(secret) > _MARKER_MAX_LEN:
        return False
    return any(m in secret for m in _MARKERS) or bool(_MARKER_RE.search(secret))


def _is_stopword(secret: str) -> bool:
    low = secret.lower().strip("\"'`")
    if low in _STOP_EXACT or any(w in low for w in _STOP_SUBSTR):
        return True
    return bool(_CODE_RE.search(secret)) or len(set(low)) <= 2


class SecretEngine:
    """Scans text with a fixed set of rules. Build once, reuse for every file."""

    def __init__(self, rules: Sequence[Rule] | RuleSet, allowlist: Allowlist | None = None) -> None:
        if isinstance(rules, RuleSet):
            allowlist = allowlist or rules.allowlist
            rules = rules.rules
        # specific rules first; stable, so the file order decides among equals
        self.rules: tuple[Rule, ...] = tuple(sorted(rules, key=lambda r: r.generic))
        self.allowlist = allowlist or Allowlist()
        #: how many rule regexes ran (the prefilter's effect is measurable)
        self.regex_runs = 0
        self._path_rules = [i for i, r in enumerate(self.rules) if r.path is not None]
        by_keyword: dict[str, list[int]] = {}
        for i, r in enumerate(self.rules):
            if r.path is None:
                for k in r.keywords:
                    by_keyword.setdefault(k, []).append(i)
        self._keyword_rules = list(by_keyword.values())
        self._keywords = KeywordIndex(list(by_keyword))

    def candidates(
        self, text: str, path: str | None = None, generic: bool = True, data: bytes | None = None
    ) -> list[int]:
        """Indices (into ``self.rules``) of the rules whose regex should run on ``text``
        (``data``: the bytes ``text`` was decoded from, when there were any)."""
        if data is None:
            data = text.encode("utf-8", "surrogatepass")
        found: set[int] = set()
        for k in self._keywords.find(data, text):
            found.update(self._keyword_rules[k])
        if path is not None:
            lowered = None
            for i in self._path_rules:
                r = self.rules[i]
                assert r.path is not None
                if r.path.search(path):
                    lowered = lowered if lowered is not None else text.lower()
                    if any(k in lowered for k in r.keywords):
                        found.add(i)
        if not generic:
            found = {i for i in found if not self.rules[i].generic}
        return sorted(found)

    def worth_decoding(self, data: bytes, path: str | None = None) -> bool:
        """False when no rule can match ``data``: no keyword occurs in it and no rule is
        gated by its path (the prefilter, on bytes, before any decoding)."""
        if self._keywords.find(data):
            return True
        return path is not None and any(self.rules[i].path.search(path) for i in self._path_rules)  # type: ignore[union-attr]

    def scan_text(
        self, text: str, path: str | None = None, *, generic: bool = True, data: bytes | None = None
    ) -> list[SecretMatch]:
        """Every secret in ``text`` (from the file at ``path``, if it is one), by line.

        ``generic=False`` leaves out the ``generic`` rules (the analyzer does so for
        files of third-party packages, where such assignments are the package's own).
        """
        if not text or self.allowlist.path_allowed(path):
            return []
        out: list[SecretMatch] = []
        spans: list[tuple[int, int]] = []
        for i in self.candidates(text, path, generic, data):
            rule = self.rules[i]
            self.regex_runs += 1
            for m in rule.regex.finditer(text):
                raw = m.group("secret")
                if not raw:
                    continue
                secret = raw.strip()
                start, end = m.span("secret")
                if any(start < e and s < end for s, e in spans) or not self._keep(rule, secret):
                    continue
                spans.append((start, end))
                pos = m.start()
                while pos < start and text[pos].isspace():
                    pos += 1
                out.append(SecretMatch(rule, text.count("\n", 0, pos) + 1, secret, mask(secret)))
                if len(out) >= MAX_MATCHES_PER_TEXT:
                    return sorted(out, key=lambda x: x.line)
        return sorted(out, key=lambda x: x.line)

    def _keep(self, rule: Rule, secret: str) -> bool:
        if rule.entropy is not None and shannon_entropy(secret) < rule.entropy:
            return False
        if _is_placeholder(secret) or (rule.stopwords and _is_stopword(secret)):
            return False
        return secret not in KNOWN_PUBLIC_VALUES and not self.allowlist.secret_allowed(secret)
