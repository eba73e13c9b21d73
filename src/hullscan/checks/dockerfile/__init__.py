"""The Dockerfile linter: ``lint_text`` / ``lint_file`` give ``HS-DF-nnn`` findings.

Inline suppressions: a comment on the line before an instruction,
``# hullscan ignore=HS-DF-003,DL3008`` (or hadolint's ``# hadolint ignore=DL3008``),
silences those rules (by hullscan id or by any id in the rule's ``standards``) for that
instruction; ``# hullscan global ignore=…`` anywhere silences them for the whole file.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from hullscan.checks.catalogue import Catalogue, CheckSettings
from hullscan.checks.dockerfile.parser import Dockerfile, Instruction, Stage, parse
from hullscan.checks.dockerfile.rules import ALL_CHECKS, run_rules
from hullscan.errors import HullscanError
from hullscan.model import Finding

__all__ = ["CATALOGUE", "Dockerfile", "Instruction", "Stage", "lint_file", "lint_text", "parse"]

CATALOGUE = Catalogue()
CATALOGUE.add(*ALL_CHECKS)

_IGNORE = re.compile(
    r"^#\s*(?:hullscan|hadolint)\s+(global\s+)?ignore\s*=\s*([\w\-, ]+)", re.IGNORECASE
)


def _suppressions(df: Dockerfile) -> tuple[dict[int, set[str]], set[str]]:
    """Ids ignored per instruction start line, and ids ignored in the whole file."""
    per_line: dict[int, set[str]] = {}
    global_ids: set[str] = set()
    starts = {i.line for i in df.instructions}
    for line, text in df.comments.items():
        m = _IGNORE.match(text)
        if not m:
            continue
        ids = {x.strip().upper() for x in m.group(2).split(",") if x.strip()}
        if m.group(1):
            global_ids |= ids
        elif line + 1 in starts:
            per_line.setdefault(line + 1, set()).update(ids)
    return per_line, global_ids


def _suppressed(f: Finding, ids: set[str]) -> bool:
    return bool(ids) and (f.id.upper() in ids or any(s.upper() in ids for s in f.standards))


def lint_text(text: str, path: str, settings: CheckSettings | None = None) -> list[Finding]:
    """Lint Dockerfile ``text``; ``path`` is reported as given. Raises ``HullscanError``
    (``path:line: …``) only for a file BuildKit could not build at all (no FROM)."""
    settings = settings or CheckSettings()
    df = parse(text, path)
    findings = run_rules(df, path, settings)
    per_line, global_ids = _suppressions(df)
    kept = [
        f for f in findings if not _suppressed(f, global_ids | per_line.get(f.line or 0, set()))
    ]
    kept.sort(key=lambda f: (f.line or 0, f.id))
    return settings.apply(kept)


def lint_file(path: str, settings: CheckSettings | None = None) -> list[Finding]:
    """Lint the Dockerfile at ``path`` (``-`` reads standard input)."""
    if path == "-":
        return lint_text(sys.stdin.read(), "-", settings)
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise HullscanError(f"cannot read {path}: {e.strerror or e}") from None
    return lint_text(data.decode("utf-8", errors="replace"), path, settings)
