"""Local accounts: ``etc/passwd``, ``etc/shadow`` and ``etc/group``, checked one file at a
time during the layer walk (so results are cached per layer like any analyzer's).

Only what a single file can tell is judged here: empty password fields, duplicate
ids and names, a second UID-0 account. Password hashes are never copied into a finding.
"""

from __future__ import annotations

from typing import IO

from hullscan.analyzer import Analyzer, AnalyzerResult, MiB
from hullscan.checks.catalogue import Check
from hullscan.model import FileInfo, Severity

PASSWD, SHADOW, GROUP = "etc/passwd", "etc/shadow", "etc/group"
#: fields per line (passwd(5), shadow(5), group(5)); shadow may have fewer trailing fields
_FIELDS = {PASSWD: 7, SHADOW: 9, GROUP: 4}

EMPTY_PASSWORD = Check(
    "HS-IMG-022",
    Severity.HIGH,
    "Account without a password",
    "Lock the account (passwd -l, or '!' / '*' in the password field) or remove it; "
    "never ship an account that logs in without a password.",
    ("DKL-LI-0001",),
    description="An empty password field lets anyone log in as this account wherever "
    "password logins are accepted (su, login, sshd with PermitEmptyPasswords).",
)
DUPLICATE_ID = Check(
    "HS-IMG-023",
    Severity.MEDIUM,
    "Duplicate user or group id or name",
    "Give every account and group its own id and name (useradd/groupadd without -o).",
    ("DKL-LI-0002",),
    description="Accounts sharing a UID (or groups sharing a GID) share every file and "
    "permission; audit logs cannot tell them apart.",
)
EXTRA_ROOT = Check(
    "HS-IMG-024",
    Severity.HIGH,
    "Account other than root with UID 0",
    "Remove the account or give it an unprivileged UID: only root should have UID 0.",
    ("DKL-LI-0002",),
    description="A second UID-0 account is a full root account under another name, a "
    "classic backdoor.",
)
ACCOUNT_CHECKS = (EMPTY_PASSWORD, DUPLICATE_ID, EXTRA_ROOT)


def _lines(text: str, path: str, result: AnalyzerResult) -> list[tuple[int, list[str]]]:
    """(line number, fields) of the well-formed entries; a warning per malformed line."""
    want = _FIELDS[path]
    out = []
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        # comments, and NIS compat entries (+user, -user, +) which hold no local account
        if not line or line.startswith(("#", "+", "-")):
            continue
        fields = raw.split(":")
        ok = fields[0] != "" and (
            len(fields) == want or (path == SHADOW and 2 <= len(fields) <= want)
        )
        if ok and path in (PASSWD, GROUP):
            ok = fields[2].isdigit() and (path == GROUP or fields[3].isdigit())
        if not ok:
            result.warnings.append(f"line {n}: malformed entry skipped")
            continue
        out.append((n, fields))
    return out


def _duplicates(
    path: str, entries: list[tuple[int, list[str]]], what: str, column: int, result: AnalyzerResult
) -> None:
    """A finding per entry reusing the id (``column`` 2) or name (``column`` 0) of an
    earlier one."""
    seen: dict[str, tuple[int, str]] = {}
    for n, fields in entries:
        value, name = fields[column], fields[0]
        if value in seen:
            first_line, first = seen[value]
            if column == 2 and path == PASSWD and value == "0":
                continue  # reported as a second root account instead
            label = f"{what} {value}" if column == 2 else f"name {value!r}"
            result.findings.append(
                DUPLICATE_ID.finding(
                    f"{path}:{n}: {name!r} reuses {label} of {first!r} (line {first_line})",
                    path=path,
                    line=n,
                    details={"file": path, "value": value, "entries": [first, name]},
                )
            )
        else:
            seen[value] = (n, name)


class AccountsAnalyzer(Analyzer):
    """Account database checks that need one file only (findings carry path and line)."""

    name = "accounts"
    version = 1
    max_size = 4 * MiB

    def required(self, path: str, info: FileInfo) -> bool:
        return path in _FIELDS and info.is_regular

    def analyze(self, path: str, info: FileInfo, stream: IO[bytes]) -> AnalyzerResult | None:
        data = stream.read(self.max_size + 1)
        result = AnalyzerResult()
        if len(data) > self.max_size:
            result.warnings.append(f"larger than {self.max_size} bytes; read the first part")
            data = data[: self.max_size].rsplit(b"\n", 1)[0]
        entries = _lines(data.decode("utf-8", "replace"), path, result)
        if path in (PASSWD, SHADOW):
            for n, fields in entries:
                if fields[1] == "":
                    where = "shadow" if path == SHADOW else "passwd (no shadow entry needed)"
                    result.findings.append(
                        EMPTY_PASSWORD.finding(
                            f"{path}:{n}: account {fields[0]!r} has an empty password field in "
                            f"{where}",
                            path=path,
                            line=n,
                            details={"account": fields[0]},
                        )
                    )
        if path == PASSWD:
            _duplicates(path, entries, "UID", 2, result)
            _duplicates(path, entries, "name", 0, result)
            roots = [(n, f[0]) for n, f in entries if f[2] == "0"]
            for n, name in roots:
                if name != "root":
                    result.findings.append(
                        EXTRA_ROOT.finding(
                            f"{path}:{n}: account {name!r} has UID 0",
                            path=path,
                            line=n,
                            details={"account": name, "uid0_accounts": [r for _, r in roots]},
                        )
                    )
        elif path == GROUP:
            _duplicates(path, entries, "GID", 2, result)
            _duplicates(path, entries, "name", 0, result)
        elif path == SHADOW:
            _duplicates(path, entries, "name", 0, result)
        return None if result.is_empty() else result
