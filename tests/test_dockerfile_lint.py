"""The Dockerfile linter: parser, shell parsing, every rule firing and not firing, the
corpus's bad Dockerfile, and an accounting against hadolint when it is installed."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from hullscan.checks.catalogue import CheckSettings
from hullscan.checks.dockerfile import CATALOGUE, lint_file, lint_text, parse
from hullscan.checks.dockerfile.parser import substitute
from hullscan.checks.dockerfile.shell import parse_shell
from hullscan.errors import HullscanError
from hullscan.model import Severity

from conftest import SHARED

FIXTURES = Path(__file__).parent / "fixtures" / "dockerfiles"
CORPUS_DOCKERFILE = SHARED / "corpus" / "files" / "misconfig" / "Dockerfile"
TRUTH = (
    Path(os.environ.get("HULLSCAN_CORPUS", Path.home() / ".cache" / "hullscan-corpus"))
    / "secrets-and-misconfig"
    / "truth.json"
)
ALL_ON = CheckSettings(enabled=frozenset(CATALOGUE.checks))


def ids(text: str, settings: CheckSettings | None = None) -> set[str]:
    return {f.id for f in lint_text(text, "Dockerfile", settings)}


def at(text: str, settings: CheckSettings | None = None) -> set[tuple[str, int | None]]:
    return {(f.id, f.line) for f in lint_text(text, "Dockerfile", settings)}


# name -> (Dockerfile, the ids expected with the default settings — exactly these)
CASES: dict[str, tuple[str, set[str]]] = {
    "from-no-tag": ("FROM debian\nUSER 1000\n", {"HS-DF-001"}),
    "from-latest": ("FROM debian:latest\nUSER 1000\n", {"HS-DF-002"}),
    "from-tag-ok": ("FROM debian:12.5-slim\nUSER 1000\n", set()),
    "from-digest-only-ok": ("FROM debian@sha256:" + "a" * 64 + "\nUSER 1000\n", set()),
    "from-registry-port": ("FROM registry.local:5000/team/app\nUSER 1000\n", {"HS-DF-001"}),
    "from-scratch-user": ('FROM scratch\nCOPY app /app\nUSER 65534\nENTRYPOINT ["/app"]\n', set()),
    "from-arg-substitution": (
        "ARG BASE=alpine\nARG VER=3.20\nFROM ${BASE}:${VER}\nUSER 1000\n",
        set(),
    ),
    "from-arg-default-latest": ("ARG TAG\nFROM alpine:${TAG:-latest}\nUSER 1000\n", {"HS-DF-002"}),
    "from-arg-unset": ("ARG IMAGE\nFROM $IMAGE\nUSER 1000\n", set()),
    "user-root-last": ("FROM alpine:3.20\nUSER app\nUSER root\n", {"HS-DF-004"}),
    "user-root-then-drop": (
        "FROM alpine:3.20\nUSER root\nRUN apk add --no-cache curl\nUSER 10001\n",
        set(),
    ),
    "user-missing": ('FROM alpine:3.20\nCMD ["sh"]\n', {"HS-DF-004"}),
    "user-inherited-from-stage": (
        'FROM alpine:3.20 AS base\nUSER 10001\nFROM base\nCMD ["sh"]\n',
        set(),
    ),
    "apt-good": (
        "FROM debian:12\nRUN apt-get update && apt-get install -y "
        "--no-install-recommends curl && rm -rf /var/lib/apt/lists/*\nUSER 1000\n",
        set(),
    ),
    "apt-no-yes": (
        "FROM debian:12\nRUN apt-get update && apt-get install "
        "--no-install-recommends curl && rm -rf /var/lib/apt/lists/*\nUSER 1000\n",
        {"HS-DF-005"},
    ),
    "apt-recommends-and-lists": (
        "FROM debian:12\nRUN apt-get update && apt-get -qq install curl\nUSER 1000\n",
        {"HS-DF-006", "HS-DF-007"},
    ),
    "apt-cache-mount": (
        "FROM debian:12\nRUN --mount=type=cache,target=/var/lib/apt "
        "--mount=type=cache,target=/var/cache/apt \\\n    apt-get update && "
        "apt-get install -y --no-install-recommends curl\nUSER 1000\n",
        set(),
    ),
    "apt-update-alone": (
        "FROM debian:12\nRUN apt-get update\nRUN apt-get install -y "
        "--no-install-recommends curl && rm -rf /var/lib/apt/lists/*\n"
        "USER 1000\n",
        {"HS-DF-007", "HS-DF-008"},
    ),
    "apt-not-apt-get": (
        "FROM debian:12\nRUN apt update && apt install -y "
        "--no-install-recommends curl && rm -rf /var/lib/apt/lists/*\n"
        "USER 1000\n",
        {"HS-DF-009"},
    ),
    "apt-lists-non-final-stage": (
        "FROM debian:12 AS build\nRUN apt-get update && apt-get "
        "install -y --no-install-recommends gcc\nRUN make\n"
        "FROM debian:12-slim\nCOPY --from=build /out /out\n"
        "USER 1000\n",
        set(),
    ),
    "apt-in-sh-c": (
        "FROM debian:12\nRUN sh -c 'apt-get update && apt-get install curl "
        "&& rm -rf /var/lib/apt/lists/*'\nUSER 1000\n",
        {"HS-DF-005", "HS-DF-006"},
    ),
    "apk-no-cache": (
        "FROM alpine:3.20\nRUN apk update && apk add curl\nUSER 1000\n",
        {"HS-DF-011"},
    ),
    "apk-good": ("FROM alpine:3.20\nRUN apk add --no-cache curl=8.9.0-r0\nUSER 1000\n", set()),
    "yum-bad": ("FROM centos:7\nRUN yum install httpd\nUSER 1000\n", {"HS-DF-012", "HS-DF-013"}),
    "yum-good": (
        "FROM centos:7\nRUN yum install -y httpd-2.4.6 && yum clean all\nUSER 1000\n",
        set(),
    ),
    "dnf-bad": ("FROM fedora:40\nRUN dnf install nginx\nUSER 1000\n", {"HS-DF-016", "HS-DF-017"}),
    "dnf-good": ("FROM fedora:40\nRUN dnf install -y nginx && dnf clean all\nUSER 1000\n", set()),
    "zypper-bad": (
        "FROM opensuse/leap:15.6\nRUN zypper install nginx\nUSER 1000\n",
        {"HS-DF-014", "HS-DF-015"},
    ),
    "zypper-good": (
        "FROM opensuse/leap:15.6\nRUN zypper -n install nginx && zypper clean\nUSER 1000\n",
        set(),
    ),
    "pip-cache": (
        "FROM python:3.12-slim\nRUN python3 -m pip install requests==2.32.3\nUSER 1000\n",
        {"HS-DF-018"},
    ),
    "pip-env-no-cache": (
        "FROM python:3.12-slim\nENV PIP_NO_CACHE_DIR=1\n"
        "RUN pip install -r requirements.txt\nUSER 1000\n",
        set(),
    ),
    "add-local": (
        "FROM alpine:3.20\nADD app.py /app/\nADD vendor.tar.gz /opt/\nUSER 1000\n",
        {"HS-DF-022"},
    ),
    "add-url": (
        "FROM alpine:3.20\nADD https://example.com/x.bin /x.bin\nUSER 1000\n",
        {"HS-DF-023"},
    ),
    "add-url-checksum": (
        "FROM alpine:3.20\nADD --checksum=sha256:"
        + "b" * 64
        + " https://example.com/x.bin /x.bin\nUSER 1000\n",
        set(),
    ),
    "curl-pipe-sh": (
        'FROM alpine:3.20\nSHELL ["/bin/ash", "-o", "pipefail", "-c"]\n'
        "RUN wget -qO- https://get.example.com | sudo sh\nUSER 1000\n",
        {"HS-DF-024", "HS-DF-025"},
    ),
    "curl-subst-bash": (
        'FROM debian:12\nRUN bash -c "$(curl -fsSL https://x.example/i.sh)"\nUSER 1000\n',
        {"HS-DF-024"},
    ),
    "curl-to-file-ok": (
        'FROM debian:12\nSHELL ["/bin/bash", "-o", "pipefail", "-c"]\n'
        "RUN curl -fsSL https://x.example/t.tgz | tar -xz -C /opt\nUSER 1000\n",
        set(),
    ),
    "secrets-env-arg": (
        "FROM alpine:3.20\nARG NPM_TOKEN\nENV API_KEY=abc123 \\\n"
        '    LOG_LEVEL=info\nENV DB_PASSWORD=""\nUSER 1000\n',
        {"HS-DF-026"},
    ),
    "secret-mount-ok": (
        "FROM alpine:3.20\nENV DB_PASSWORD_FILE=/run/secrets/db\n"
        "RUN --mount=type=secret,id=npmrc,target=/root/.npmrc "
        "cat /root/.npmrc > /dev/null\nUSER 1000\n",
        set(),
    ),
    "expose": (
        "FROM alpine:3.20\nEXPOSE 22/tcp 8080\nEXPOSE 70000\nEXPOSE ${PORT}\nUSER 1000\n",
        {"HS-DF-027", "HS-DF-028"},
    ),
    "workdir": (
        "FROM alpine:3.20\nWORKDIR app\nWORKDIR /srv\nWORKDIR $HOME/x\nUSER 1000\n",
        {"HS-DF-029"},
    ),
    "cd-in-run": ("FROM alpine:3.20\nRUN cd /tmp && make\nUSER 1000\n", {"HS-DF-030"}),
    "cmd-shell-form": ("FROM alpine:3.20\nUSER 1000\nENTRYPOINT /app --serve\n", {"HS-DF-031"}),
    "multi-cmd-entrypoint-hc": (
        'FROM alpine:3.20\nUSER 1000\nCMD ["a"]\nCMD ["b"]\n'
        'ENTRYPOINT ["x"]\nENTRYPOINT ["y"]\n'
        'HEALTHCHECK CMD ["true"]\nHEALTHCHECK NONE\n',
        {"HS-DF-032", "HS-DF-033", "HS-DF-034"},
    ),
    "multi-cmd-per-stage-ok": (
        'FROM alpine:3.20 AS a\nCMD ["a"]\nFROM alpine:3.20\nCMD ["b"]\nUSER 1000\n',
        set(),
    ),
    "copy-from-unknown": (
        "FROM alpine:3.20 AS build\nCOPY --from=biuld /a /a\n"
        "COPY --from=nginx:1.27 /etc/nginx /etc/nginx\nUSER 1000\n",
        {"HS-DF-035"},
    ),
    "copy-from-self": (
        "FROM alpine:3.20 AS build\nCOPY --from=build /a /b\nUSER 1000\n",
        {"HS-DF-036"},
    ),
    "copy-from-index-ok": (
        "FROM alpine:3.20\nRUN touch /a\nFROM alpine:3.20\nCOPY --from=0 /a /a\nUSER 1000\n",
        set(),
    ),
    "pipefail-missing": ("FROM debian:12\nRUN ls / | grep bin\nUSER 1000\n", {"HS-DF-037"}),
    "pipefail-inline": (
        "FROM debian:12\nRUN set -eo pipefail; ls / | grep bin\nUSER 1000\n",
        set(),
    ),
    "pipefail-powershell": (
        "FROM mcr.microsoft.com/windows/servercore:ltsc2022\n"
        'SHELL ["pwsh", "-Command"]\nRUN Get-ChildItem | Out-Null\n'
        "USER ContainerUser\n",
        set(),
    ),
    "maintainer": ("FROM alpine:3.20\nMAINTAINER a@b.c\nUSER 1000\n", {"HS-DF-038"}),
    "build-tools-single-stage": (
        "FROM debian:12\nRUN apt-get update && apt-get install -y "
        "--no-install-recommends build-essential && rm -rf "
        "/var/lib/apt/lists/*\nUSER 1000\n",
        {"HS-DF-039"},
    ),
    "build-tools-purged": (
        "FROM alpine:3.20\nRUN apk add --no-cache --virtual .deps gcc make "
        "&& make && apk del .deps\nUSER 1000\n",
        set(),
    ),
    "chmod-777": (
        "FROM alpine:3.20\nRUN chmod 777 /data && chmod -R o+w /srv\n"
        "COPY --chmod=0666 a /a\nRUN chmod 755 /bin/x\nUSER 1000\n",
        {"HS-DF-041"},
    ),
    "sudo-plain": ("FROM debian:12\nRUN sudo -u app touch /x\nUSER 1000\n", {"HS-DF-025"}),
    "useless-commands": ("FROM debian:12\nRUN service nginx start\nUSER 1000\n", {"HS-DF-044"}),
    "copy-relative-no-workdir": ("FROM alpine:3.20\nCOPY a.txt data/\nUSER 1000\n", {"HS-DF-047"}),
    "dup-stage-name": ("FROM alpine:3.20 AS x\nFROM alpine:3.20 AS x\nUSER 1000\n", {"HS-DF-043"}),
    "heredoc-run": (
        "# syntax=docker/dockerfile:1.7\nFROM debian:12\nRUN <<EOF\n"
        "apt-get update\napt-get install -y curl\nEOF\nUSER 1000\n",
        {"HS-DF-006", "HS-DF-007"},
    ),
    "heredoc-data-ok": (
        "FROM alpine:3.20\nCOPY <<EOF /etc/app.conf\nsudo = no\ncd = 1\nEOF\n"
        "RUN cat <<'X' > /a\napt-get install q\nX\nUSER 1000\n",
        set(),
    ),
}


def test_at_least_forty_dockerfiles() -> None:
    assert len(CASES) + len(list(FIXTURES.glob("*.Dockerfile"))) >= 40


@pytest.mark.parametrize("name", sorted(CASES))
def test_case(name: str) -> None:
    text, expected = CASES[name]
    assert ids(text) == expected


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.Dockerfile")), ids=lambda p: p.name)
def test_good_fixtures_are_clean(path: Path) -> None:
    assert lint_file(str(path)) == []


# --- off-by-default and configurable rules ----------------------------------------------


def test_off_by_default_rules_fire_when_enabled() -> None:
    text = (
        "FROM --platform=linux/amd64 debian:12.5\nRUN apt-get update && apt-get install -y "
        "--no-install-recommends curl wget && apt-get upgrade -y "
        "&& rm -rf /var/lib/apt/lists/*\n"
        "RUN pip install --no-cache-dir flask && npm install express && npm install\n"
        "RUN apk add --no-cache jq && yum install -y jq && yum clean all\n"
        "RUN curl -o /a https://x && wget https://y\nUSER app\n"
    )
    off = {
        "HS-DF-003",
        "HS-DF-010",
        "HS-DF-019",
        "HS-DF-020",
        "HS-DF-021",
        "HS-DF-040",
        "HS-DF-045",
        "HS-DF-046",
        "HS-DF-048",
        "HS-DF-049",
        "HS-DF-050",
        "HS-DF-051",
    }
    assert off <= ids(text, ALL_ON)
    assert not off & ids(text)
    assert "HS-DF-013" not in ids(text, ALL_ON)  # yum clean all is there


def test_pinned_packages_not_reported() -> None:
    text = (
        "FROM debian:12@sha256:" + "c" * 64 + "\nRUN apt-get update && apt-get install -y "
        "--no-install-recommends curl=7.88.1-10 && rm -rf /var/lib/apt/lists/*\n"
        "RUN pip install --no-cache-dir flask==3.0.3 'uvicorn>=0.30' -r req.txt\n"
        "RUN npm install express@4.19.2 @types/node@20.1.0 ./local\nUSER 1000\n"
        'HEALTHCHECK CMD ["true"]\n'
    )
    assert not {"HS-DF-003", "HS-DF-019", "HS-DF-020", "HS-DF-021"} & ids(text, ALL_ON)


def test_settings_disable_enable_severity() -> None:
    text = "FROM debian:latest\nMAINTAINER x\nUSER 1000\n"
    assert ids(text, CheckSettings(disabled=frozenset({"HS-DF-038"}))) == {"HS-DF-002"}
    assert "HS-DF-003" in ids(text, CheckSettings(enabled=frozenset({"HS-DF-003"})))
    f = lint_text(text, "x", CheckSettings(severity={"HS-DF-002": Severity.CRITICAL}))
    assert {x.id: x.severity for x in f}["HS-DF-002"] is Severity.CRITICAL


def test_trusted_registries() -> None:
    text = "FROM quay.io/org/app:1.0\nFROM alpine:3.20\nUSER 1\n"
    s = CheckSettings(trusted_registries=("docker.io/library",))
    assert at(text, s) & {("HS-DF-042", 1), ("HS-DF-042", 2)} == {("HS-DF-042", 1)}
    assert "HS-DF-042" not in ids(text)


# --- suppressions ----------------------------------------------------------------------


def test_inline_suppressions() -> None:
    text = (
        "FROM debian:latest\n# hullscan ignore=HS-DF-038\nMAINTAINER x\n"
        "# hadolint ignore=DL3003,DL3004\nRUN cd /x && sudo make\n"
        "RUN cd /y\nUSER 1000\n"
    )
    assert at(text) == {("HS-DF-002", 1), ("HS-DF-030", 6)}
    assert ids("# hullscan global ignore=DL3007\nFROM debian:latest\nUSER 1\n") == set()


# --- findings --------------------------------------------------------------------------


def test_finding_fields_and_masking() -> None:
    [f] = lint_text(
        "FROM alpine:3.20\nENV GITHUB_TOKEN=ghp_abcdef123456 MODE=prod\nUSER 1000\n",
        "build/Dockerfile.prod",
    )
    assert (f.id, f.path, f.line, f.kind) == (
        "HS-DF-026",
        "build/Dockerfile.prod",
        2,
        "misconfiguration",
    )
    assert "ghp_" not in f.evidence and "GITHUB_TOKEN=****" in f.evidence
    assert "MODE=prod" in f.evidence
    assert f.standards == ("CIS-Docker-4.10", "DL3064", "DS031") and f.remediation
    [root] = [x for x in lint_text("FROM a:1\nUSER root\n", "D") if x.id == "HS-DF-004"]
    assert root.standards == ("CIS-Docker-4.1", "DL3002", "DS002")
    assert root.severity is Severity.HIGH


def test_catalogue() -> None:
    checks = CATALOGUE.checks
    assert len(checks) >= 45
    assert all(k.startswith("HS-DF-") and c.title and c.remediation for k, c in checks.items())
    off = {k for k, c in checks.items() if not c.default_enabled}
    assert {"HS-DF-003", "HS-DF-008", "HS-DF-019"} & off == {"HS-DF-003", "HS-DF-019"}


def test_lint_file_and_stdin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    p = tmp_path / "Dockerfile"
    p.write_text("FROM debian:latest\nUSER 1\n")
    assert [f.id for f in lint_file(str(p))] == ["HS-DF-002"]
    monkeypatch.setattr("sys.stdin", io.StringIO("FROM debian\nUSER 1\n"))
    [f] = lint_file("-")
    assert (f.id, f.path) == ("HS-DF-001", "-")
    with pytest.raises(HullscanError, match="cannot read"):
        lint_file(str(tmp_path / "missing"))


# --- parser ----------------------------------------------------------------------------


def test_parser_errors_only_when_unbuildable() -> None:
    with pytest.raises(HullscanError, match=r"^x/Dockerfile:2: no FROM"):
        parse("ARG A=1\nARG B\n", "x/Dockerfile")
    with pytest.raises(HullscanError, match=r"^D:1: RUN before the first FROM"):
        parse("RUN echo\nFROM a\n", "D")
    with pytest.raises(HullscanError, match="no FROM"):
        parse("", "D")
    # lenient: unknown instructions, stray flags, bad JSON
    df = parse('FROM a:1\nFOO bar\nCMD ["unterminated\nRUN --weird x\n')
    assert [i.cmd for i in df.instructions] == ["FROM", "FOO", "CMD", "RUN"]
    assert df.instructions[2].json_form is None
    assert df.instructions[3].flags == {"weird": [""]}


def test_parser_continuations_and_comments() -> None:
    df = parse(
        "FROM a:1\nRUN apt-get update \\\n# a comment inside\n\n    && apt-get install"
        " -y \\\n    curl\nENV A=1\n"
    )
    run = df.instructions[1]
    assert (run.cmd, run.line, run.end_line) == ("RUN", 2, 6)
    assert run.args.split() == ["apt-get", "update", "&&", "apt-get", "install", "-y", "curl"]
    assert df.instructions[2].line == 7
    assert df.comments[3] == "# a comment inside"


def test_parser_escape_directive_backtick() -> None:
    text = (
        "# escape=`\n# syntax=docker/dockerfile:1\nFROM mcr.microsoft.com/windows:ltsc2022\n"
        "RUN dir C:\\ `\n    && echo done\nWORKDIR C:\\app\n"
    )
    df = parse(text)
    assert df.directives == {"escape": "`", "syntax": "docker/dockerfile:1"}
    assert df.escape == "`"
    run = df.instructions[1]
    assert run.args.split() == ["dir", "C:\\", "&&", "echo", "done"]
    assert (run.line, run.end_line) == (4, 5)
    assert "HS-DF-029" not in ids(text + "USER 1\n")
    # a directive after a comment is only a comment
    assert parse("# hello\n# escape=`\nFROM a\n").escape == "\\"


def test_parser_heredocs() -> None:
    text = (
        "FROM a:1\nRUN <<EOF\necho one\nEOF\n"
        "RUN <<-'A' cat > /x && cat <<\"B\" > /y\n\tfirst $HOME\n\tA\nsecond\nB\n"
        "COPY <<EOF /etc/conf\nkey=value\nEOF\nRUN python3 <<PY\nprint(1 << 2)\nPY\n"
        "USER 1\n"
    )
    df = parse(text)
    runs = df.instructions
    assert [i.cmd for i in runs] == ["FROM", "RUN", "RUN", "COPY", "RUN", "USER"]
    assert runs[1].heredocs == ["echo one\n"]
    assert runs[2].heredocs == ["first $HOME\n", "second\n"]
    assert runs[2].heredoc_names == ["A", "B"]
    assert (runs[2].line, runs[2].end_line) == (5, 9)
    assert runs[3].heredocs == ["key=value\n"]
    assert runs[5].line == 16
    # arithmetic shifts and here-strings are not heredocs
    assert parse("FROM a\nRUN echo $((1<<2)) && cat <<< hi\n").instructions[1].heredocs == []


def test_parser_json_vs_shell_form_and_flags() -> None:
    df = parse(
        "FROM --platform=$BUILDPLATFORM golang:1.22 AS Build\n"
        "RUN --mount=type=cache,target=/root/.cache --mount=type=secret,id=t "
        '["go", "build"]\nCMD go run .\nENTRYPOINT ["/app"]\n'
        'COPY --from=build --chown=1:1 ["a b", "/c"]\n'
    )
    run, cmd, ep, copy = df.instructions[1:]
    assert run.flags["mount"] == ["type=cache,target=/root/.cache", "type=secret,id=t"]
    assert run.json_form == ["go", "build"]
    assert cmd.json_form is None and cmd.args == "go run ."
    assert ep.json_form == ["/app"]
    assert copy.flag("from") == "build" and copy.flag("chown") == "1:1"
    assert copy.json_form == ["a b", "/c"]
    assert df.stages[0].name == "build" and df.stages[0].platform == "$BUILDPLATFORM"


def test_parser_stages_and_arg_substitution() -> None:
    df = parse(
        "ARG REG=docker.io\nARG V=3.20\nARG FULL=${REG}/alpine:$V\nFROM ${FULL} AS base\n"
        "ARG V=9\nFROM base AS second\nFROM ${MISSING:-debian}:12\nFROM $NOPE\n"
    )
    assert [s.image for s in df.stages] == ["docker.io/alpine:3.20", "base", "debian:12", ""]
    assert [s.name for s in df.stages] == ["base", "second", None, None]
    assert df.stages[1].parent == 0 and df.stages[2].parent is None
    assert df.stages[3].unresolved and not df.stages[2].unresolved
    assert df.stage_by_ref("BASE") is df.stages[0] and df.stage_by_ref("1") is df.stages[1]
    assert [i.stage for i in df.instructions] == [-1, -1, -1, 0, 0, 1, 2, 3]
    assert substitute("${A:+set}-${B-x}-${C:-y}-\\$D", {"A": "1", "C": ""}) == ("set-x-y-$D", False)


# --- shell -----------------------------------------------------------------------------


def argvs(script: str) -> list[tuple[str, ...]]:
    return [c.argv for c in parse_shell(script)]


def test_shell_chains_subshells_and_sh_c() -> None:
    cmds = argvs(
        'apt-get update && (cd /x || true); bash -c "apt-get install -y a; '
        "sh -c 'pip install b'\" || echo no"
    )
    assert ("apt-get", "update") in cmds and ("cd", "/x") in cmds and ("true",) in cmds
    assert ("apt-get", "install", "-y", "a") in cmds and ("pip", "install", "b") in cmds
    assert ("echo", "no") in cmds


def test_shell_pipes_and_pipefail() -> None:
    cmds = parse_shell("curl -s x | sh; set -o pipefail; a | b; set +o pipefail; c | d")
    flags = {c.argv[0]: (c.in_pipeline, c.pipefail, c.position) for c in cmds}
    assert flags["curl"] == (True, False, 0) and flags["sh"] == (True, False, 1)
    assert flags["a"] == (True, True, 0) and flags["c"] == (True, False, 0)
    assert parse_shell("x | y", pipefail=True)[0].pipefail
    inner = parse_shell("bash -o pipefail -c 'x | y'")
    assert [c.pipefail for c in inner if c.argv[0] == "x"] == [True]


def test_shell_fallback_never_crashes() -> None:
    # bashlex rejects these; the shlex tokenizer takes over
    assert ("apt-get", "install", "-y", "z") in argvs(
        "case $x in a) echo 1;; esac && apt-get install -y z"
    )
    assert argvs('echo "unterminated && ls')[-1] == ("ls",)
    for nasty in ("", "&&", "((((", "$(", "`", "'", "\\", "a | | b", "<<EOF", "} {"):
        parse_shell(nasty)


def test_apt_in_pipes_and_wrappers() -> None:
    text = (
        'FROM debian:12\nSHELL ["/bin/bash", "-o", "pipefail", "-c"]\n'
        "RUN yes | apt-get install --no-install-recommends curl && "
        "rm -rf /var/lib/apt/lists/*\n"
        "RUN env DEBIAN_FRONTEND=noninteractive apt-get install --no-install-recommends a "
        "&& rm -rf /var/lib/apt/lists/*\nUSER 1\n"
    )
    assert at(text) == {("HS-DF-005", 4)}


# --- the corpus's deliberately bad Dockerfile ------------------------------------------

# each truth.json problem → the hullscan ids any one of which finds it
TRUTH_MAP = {
    "FROM ubuntu:latest": {"HS-DF-002"},
    "MAINTAINER (deprecated)": {"HS-DF-038"},
    "secrets in ENV": {"HS-DF-026"},
    "ADD with remote URL": {"HS-DF-023"},
    "apt-get without pinning / no --no-install-recommends / no list cleanup": {
        "HS-DF-021",
        "HS-DF-006",
        "HS-DF-007",
    },
    "curl | bash": {"HS-DF-024"},
    "pip without pinning / --no-cache-dir": {"HS-DF-019", "HS-DF-018"},
    "chmod 777": {"HS-DF-041"},
    "no USER": {"HS-DF-004"},
    "relative WORKDIR": {"HS-DF-029"},
    "EXPOSE 22": {"HS-DF-027"},
    "CMD in shell form": {"HS-DF-031"},
    "no HEALTHCHECK": {"HS-DF-040"},
}


def test_corpus_bad_dockerfile() -> None:
    if not CORPUS_DOCKERFILE.exists() or not TRUTH.exists():
        pytest.skip("corpus Dockerfile or truth.json not available")
    expected = json.loads(TRUTH.read_text())["misconfig"]["iac_files_in_image"]["/app/Dockerfile"]
    found = {f.id for f in lint_file(str(CORPUS_DOCKERFILE), ALL_ON)}
    missing = [p for p in expected if not TRUTH_MAP.get(p, set()) & found]
    assert not missing, f"problems not found: {missing}"
    default = {f.id for f in lint_file(str(CORPUS_DOCKERFILE))}
    # with the default settings, everything except the off-by-default HEALTHCHECK rule
    assert not [p for p in expected if p != "no HEALTHCHECK" and not TRUTH_MAP[p] & default]


# --- hadolint accounting ----------------------------------------------------------------

#: hadolint codes hullscan deliberately does not report, and why
DELIBERATELY_NOT_MATCHED: dict[str, str] = {
    "SC*": "ShellCheck findings: shell style/correctness, not image security — out of scope",
    "DL3059": "consecutive RUNs: a layer-count style preference, irrelevant with BuildKit",
    "DL3047": "wget progress bar: build-log cosmetics",
    "DL3046": "useradd without -l: a build-time disk-usage issue with high UIDs, not security",
    "DL3060": "yarn cache clean: size optimisation not implemented (yarn berry has no cache)",
    "DL3028": "gem version pinning: not implemented",
    "DL3062": "go install version pinning: not implemented",
    "DL3010": "use ADD to extract archives: the opposite of CIS 4.9's advice",
    "DL3021": "COPY with several sources to a non-directory: BuildKit refuses to build it",
    "DL3061": "instruction order: hullscan's parser reports it as an error instead",
    "DL1001": "hadolint's inline-ignore pragma notice",
    "DL1000": "hadolint cannot parse the file (e.g. heredocs); hullscan can",
}
#: single places where hullscan deliberately disagrees with hadolint: (case, code) → why
KNOWN_DIFFERENCES: dict[tuple[str, str], str] = {
    (
        "pipefail-inline",
        "DL4006",
    ): "RUN set -o pipefail is honoured by hullscan (hadolint only looks at SHELL)",
    (
        "secret-mount-ok",
        "DL3064",
    ): "DB_PASSWORD_FILE names a file path (the right pattern), not a secret",
    (
        "secrets-env-arg",
        "DL3064",
    ): 'ENV DB_PASSWORD="" sets an empty value: nothing secret is stored',
}


def _hadolint() -> str | None:
    for cand in (
        os.environ.get("PEERS_BIN", "") and Path(os.environ["PEERS_BIN"]) / "hadolint",
        Path.home() / ".cache" / "hullscan-peers" / "bin" / "hadolint",
    ):
        if cand and Path(cand).is_file() and os.access(cand, os.X_OK):
            return str(cand)
    return shutil.which("hadolint")


def _all_dockerfiles(tmp: Path) -> dict[str, Path]:
    files = {p.name: p for p in FIXTURES.glob("*.Dockerfile")}
    for name, (text, _) in CASES.items():
        files[name] = tmp / f"{name}.Dockerfile"
        files[name].write_text(text)
    if CORPUS_DOCKERFILE.exists():
        files["corpus-misconfig"] = CORPUS_DOCKERFILE
    return files


def test_hadolint_accounting(tmp_path: Path) -> None:
    binary = _hadolint()
    if binary is None:
        pytest.skip("hadolint not installed")
    problems = []
    for name, path in sorted(_all_dockerfiles(tmp_path).items()):
        out = subprocess.run(
            [binary, "--no-fail", "-f", "json", str(path)],
            capture_output=True,
            text=True,
            check=False,
            cwd=tmp_path,
        )
        if out.returncode != 0 or not out.stdout.strip():
            continue  # hadolint could not parse it (e.g. newer syntax): nothing to compare
        ours = {(code, f.line) for f in lint_file(str(path), ALL_ON) for code in f.standards}
        for item in json.loads(out.stdout):
            code, line = item["code"], item["line"]
            if code in DELIBERATELY_NOT_MATCHED or (
                code.startswith("SC") and "SC*" in DELIBERATELY_NOT_MATCHED
            ):
                continue
            if (name, code) in KNOWN_DIFFERENCES:
                continue
            if (code, line) not in ours:
                problems.append(f"{name}:{line} {code} {item['message'][:60]}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ("80", None),
        ("8080-8090/udp", None),
        ("22", "ssh"),
        ("20-25/tcp", "ssh"),
        ("22/udp", None),
        ("0", "range"),
        ("65536", "range"),
        ("http", "range"),
        ("90-80", "range"),
        ("53/icmp", "range"),
    ],
)
def test_one_port_rule_for_images_and_dockerfiles(
    spec: str, problem: str | None, tmp_path: Path
) -> None:
    """EXPOSE in a Dockerfile and ExposedPorts in an image are judged by the same rule."""
    from hullscan.checks.ports import port_problem

    assert port_problem(spec) == problem
    df = tmp_path / "Dockerfile"
    df.write_text(f"FROM debian:12@sha256:{'a' * 64}\nUSER app\nEXPOSE {spec}\n")
    ids = {f.id for f in lint_file(str(df), CheckSettings())}
    assert ("HS-DF-028" in ids) == (problem == "range")
    assert ("HS-DF-027" in ids) == (problem == "ssh")
