"""The Dockerfile rules (``HS-DF-nnn``), cross-referenced to Hadolint, Trivy and the CIS
Docker Benchmark section 4. ``run_rules`` applies the active ones to a parsed file."""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from hullscan.checks.catalogue import Check, CheckSettings
from hullscan.checks.dockerfile.parser import (
    Dockerfile,
    Instruction,
    Stage,
    parse_arg,
    parse_env,
    parse_image,
)
from hullscan.checks.dockerfile.shell import (
    SHELLS,
    Command,
    is_posix_shell,
    parse_shell,
    shell_pipefail,
)
from hullscan.checks.ports import PORT_RANGE_ADVICE, SSH_ADVICE, port_problem
from hullscan.model import Finding, Severity

L, M, H = Severity.LOW, Severity.MEDIUM, Severity.HIGH


def _c(
    n: int,
    sev: Severity,
    title: str,
    remediation: str,
    *standards: str,
    on: bool = True,
    description: str = "",
) -> Check:
    return Check(
        id=f"HS-DF-{n:03d}",
        severity=sev,
        title=title,
        remediation=remediation,
        standards=standards,
        default_enabled=on,
        description=description,
    )


FROM_NO_TAG = _c(
    1,
    M,
    "Base image without a tag",
    "Name an explicit version tag, e.g. FROM debian:12.5-slim.",
    "DL3006",
)
FROM_LATEST = _c(
    2,
    M,
    "Base image uses the 'latest' tag",
    "Pin a version tag (and ideally a digest) instead of :latest.",
    "DL3007",
    "DS001",
)
FROM_NO_DIGEST = _c(
    3,
    L,
    "Base image not pinned by digest",
    "Pin the base image by digest: FROM image:tag@sha256:….",
    "CIS-Docker-4.2",
    on=False,
    description="Off by default: digest pins need a bot to update.",
)
USER_ROOT = _c(
    4,
    H,
    "Container runs as root",
    "Add a USER instruction with a non-root user (ideally a numeric UID) at the end "
    "of the final stage.",
    "CIS-Docker-4.1",
    "DL3002",
    "DS002",
)
APT_NO_YES = _c(
    5,
    L,
    "apt-get install without -y",
    "Use apt-get install -y so the build cannot stop at a prompt.",
    "DL3014",
    "DS021",
)
APT_RECOMMENDS = _c(
    6,
    L,
    "apt-get install without --no-install-recommends",
    "Add --no-install-recommends to avoid unneeded packages.",
    "CIS-Docker-4.3",
    "DL3015",
    "DS029",
)
APT_LISTS = _c(
    7,
    L,
    "apt lists not removed in the same RUN",
    "End the RUN with && rm -rf /var/lib/apt/lists/* (or use a cache mount).",
    "DL3009",
)
UPDATE_ALONE = _c(
    8,
    M,
    "Package index update alone in a RUN",
    "Combine the update with the install in one RUN; a cached update layer "
    "makes later installs use stale indexes.",
    "CIS-Docker-4.7",
    "DS017",
)
APT_NOT_APT_GET = _c(
    9,
    L,
    "apt used instead of apt-get",
    "Use apt-get (apt has no stable CLI for scripts).",
    "DL3027",
)
PKG_UPGRADE = _c(
    10,
    L,
    "Distribution upgrade in the Dockerfile",
    "Rebuild on an updated base image rather than upgrading packages in place.",
    "DL3005",
    "DS024",
    on=False,
    description="Off by default: upgrading does fix vulnerabilities.",
)
APK_CACHE = _c(11, L, "apk add without --no-cache", "Use apk add --no-cache.", "DL3019", "DS025")
YUM_YES = _c(12, L, "yum install without -y", "Use yum install -y.", "DL3030")
YUM_CLEAN = _c(
    13, L, "yum cache not cleaned", "End the RUN with && yum clean all.", "DL3032", "DS015"
)
ZYPPER_YES = _c(
    14,
    L,
    "zypper install without non-interactive mode",
    "Use zypper -n install (or install -y).",
    "DL3034",
)
ZYPPER_CLEAN = _c(
    15, L, "zypper cache not cleaned", "End the RUN with && zypper clean.", "DL3036", "DS020"
)
DNF_YES = _c(16, L, "dnf install without -y", "Use dnf install -y.", "DL3038")
DNF_CLEAN = _c(
    17, L, "dnf cache not cleaned", "End the RUN with && dnf clean all.", "DL3040", "DS019"
)
PIP_CACHE = _c(
    18,
    L,
    "pip install without --no-cache-dir",
    "Use pip install --no-cache-dir (or ENV PIP_NO_CACHE_DIR=1).",
    "DL3042",
)
PIP_PIN = _c(
    19,
    L,
    "pip package version not pinned",
    "Pin versions (pkg==1.2.3) or install from a locked requirements file.",
    "DL3013",
    on=False,
)
NPM_PIN = _c(
    20,
    L,
    "npm package version not pinned",
    "Pin versions: npm install pkg@1.2.3.",
    "DL3016",
    on=False,
)
APT_PIN = _c(
    21,
    L,
    "apt package version not pinned",
    "Pin versions: apt-get install pkg=1.2.3-1.",
    "DL3008",
    on=False,
    description="Off by default: pinned versions vanish from the archives.",
)
ADD_LOCAL = _c(
    22,
    L,
    "ADD used for local files",
    "Use COPY for files and directories; ADD only to extract local archives.",
    "CIS-Docker-4.9",
    "DL3020",
    "DS005",
)
ADD_URL = _c(
    23,
    M,
    "ADD downloads a remote URL without a checksum",
    "Download with curl and verify a checksum, or use ADD --checksum=sha256:….",
    "CIS-Docker-4.9",
    "CIS-Docker-4.11",
)
CURL_PIPE_SH = _c(
    24,
    H,
    "Remote script piped into a shell",
    "Download the script, verify its checksum or signature, then run it.",
    "CIS-Docker-4.11",
)
SUDO = _c(
    25,
    M,
    "sudo used in RUN",
    "RUN already runs as the current USER; switch with USER instead of sudo.",
    "DL3004",
    "DS010",
)
SECRET_ENV = _c(
    26,
    H,
    "Secret in ENV or ARG",
    "Never bake secrets into ENV/ARG (they stay in the image config and history); "
    "use RUN --mount=type=secret.",
    "CIS-Docker-4.10",
    "DL3064",
    "DS031",
)
EXPOSE_SSH = _c(27, M, "SSH port 22 exposed", SSH_ADVICE, "DS004")
EXPOSE_RANGE = _c(28, M, "Exposed port out of range", PORT_RANGE_ADVICE, "DL3011", "DS008")
WORKDIR_REL = _c(29, M, "Relative WORKDIR", "Use an absolute path in WORKDIR.", "DL3000", "DS009")
RUN_CD = _c(30, L, "cd in RUN", "Use WORKDIR to change directory.", "DL3003", "DS013")
SHELL_FORM_CMD = _c(
    31,
    L,
    "CMD/ENTRYPOINT in shell form",
    'Use the JSON form (CMD ["app", "arg"]) so the process gets signals.',
    "DL3025",
)
MULTI_CMD = _c(
    32,
    L,
    "Several CMD instructions in a stage",
    "Keep one CMD; only the last takes effect.",
    "DL4003",
    "DS016",
)
MULTI_ENTRYPOINT = _c(
    33,
    M,
    "Several ENTRYPOINT instructions in a stage",
    "Keep one ENTRYPOINT; only the last takes effect.",
    "DL4004",
    "DS007",
)
MULTI_HEALTHCHECK = _c(
    34,
    L,
    "Several HEALTHCHECK instructions in a stage",
    "Keep one HEALTHCHECK; only the last takes effect.",
    "DL3012",
    "DS023",
)
COPY_FROM_UNKNOWN = _c(
    35,
    M,
    "COPY --from names no earlier stage",
    "Reference a stage defined earlier (FROM … AS name), or a full image reference with a tag.",
    "DL3022",
)
COPY_FROM_SELF = _c(
    36, M, "COPY --from references its own stage", "Copy from an earlier stage.", "DL3023", "DS006"
)
NO_PIPEFAIL = _c(
    37,
    L,
    "Pipe without pipefail",
    'Use SHELL ["/bin/bash", "-o", "pipefail", "-c"] or set -o pipefail so '
    "a failing command in a pipe fails the build.",
    "DL4006",
)
MAINTAINER = _c(
    38,
    L,
    "MAINTAINER is deprecated",
    "Use LABEL org.opencontainers.image.authors=….",
    "DL4000",
    "DS022",
)
BUILD_TOOLS = _c(
    39,
    L,
    "Compilers or build tools in the final image",
    "Build in a separate stage and copy only the artefacts into the final one.",
    "CIS-Docker-4.3",
)
NO_HEALTHCHECK = _c(
    40,
    L,
    "No HEALTHCHECK in the final stage",
    "Add a HEALTHCHECK (or HEALTHCHECK NONE to say none is wanted).",
    "CIS-Docker-4.6",
    "DL3057",
    "DS026",
    on=False,
    description="Off by default: orchestrators (Kubernetes) ignore HEALTHCHECK "
    "and use their own probes.",
)
CHMOD_777 = _c(
    41,
    M,
    "World-writable permissions",
    "Grant only the permissions needed (e.g. 755 for programs, 644 for data) and set "
    "ownership with --chown.",
)
UNTRUSTED_REGISTRY = _c(
    42,
    M,
    "Base image from an untrusted registry",
    "Pull base images only from the registries in checks.trusted_registries.",
    "CIS-Docker-4.2",
    "DL3026",
    description="Only runs when checks.trusted_registries is configured.",
)
DUP_STAGE = _c(43, M, "Duplicate stage name", "Give every stage a unique name.", "DL3024", "DS012")
USELESS_CMD = _c(
    44,
    L,
    "Command that makes no sense in a container",
    "Do not run ssh, vim, shutdown, service, ps, free, top, kill, mount or ifconfig in a RUN.",
    "DL3001",
)
CURL_AND_WGET = _c(
    45,
    L,
    "Both wget and curl used",
    "Use one download tool to keep the image small.",
    "DL4001",
    "DS014",
    on=False,
)
USER_NAME = _c(
    46,
    L,
    "USER is a name, not a numeric UID",
    "Use a numeric UID (USER 10001) so runAsNonRoot policies can verify it.",
    "DL3066",
    on=False,
)
COPY_REL_NO_WORKDIR = _c(
    47,
    L,
    "COPY to a relative path without WORKDIR",
    "Set WORKDIR before copying to a relative destination.",
    "DL3045",
)
PLATFORM_FLAG = _c(
    48,
    L,
    "FROM --platform with a fixed platform",
    "Drop --platform or use $BUILDPLATFORM/$TARGETPLATFORM.",
    "DL3029",
    on=False,
)
NPM_INSTALL = _c(
    49,
    L,
    "npm install in the final image",
    "Use npm ci --omit=dev for reproducible installs without dev dependencies.",
    on=False,
)
APK_PIN = _c(
    50,
    L,
    "apk package version not pinned",
    "Pin versions: apk add pkg=1.2.3-r0.",
    "DL3018",
    on=False,
)
YUM_PIN = _c(
    51,
    L,
    "yum/dnf/zypper package version not pinned",
    "Pin versions: yum install pkg-1.2.3.",
    "DL3033",
    "DL3037",
    "DL3041",
    on=False,
)

ALL_CHECKS: tuple[Check, ...] = tuple(v for v in globals().values() if isinstance(v, Check))

# --- helpers ---------------------------------------------------------------------------

_SECRET_NAME = re.compile(
    r"(?i)(passw(or)?d|passphrase|secret|token|api[_-]?key|apikey|access[_-]?key|"
    r"private[_-]?key|credential|auth[_-]?key|^pwd$|_pwd$)"
)
_SECRET_NAME_EXCLUDE = re.compile(
    r"(?i)(_file|_path|_dir|_url|_uri|_length|_name|_header|"
    r"_endpoint|_id)$"
)
_ARCHIVE = re.compile(
    r"(?i)\.(tar|tar\.gz|tgz|tar\.bz2|tbz2?|tar\.xz|txz|tar\.zst|tzst|"
    r"tar\.lz|tlz|gz|bz2|xz)$"
)
_URL = re.compile(r"(?i)^(https?|ftp)://|^git@|\.git(#.*)?$")
_BUILD_TOOLS = frozenset(
    {
        "gcc",
        "g++",
        "gcc-c++",
        "clang",
        "make",
        "cmake",
        "build-essential",
        "build-base",
        "autoconf",
        "automake",
        "libtool",
        "ninja-build",
        "meson",
        "cpp",
        "c++",
        "gfortran",
    }
)
_USELESS = frozenset(
    {"ssh", "vim", "shutdown", "service", "ps", "free", "top", "kill", "mount", "ifconfig"}
)
_DOWNLOADERS = frozenset({"curl", "wget", "fetch"})
_INTERPRETERS = SHELLS | {"python", "python3", "perl", "ruby", "node", "php"}
_SUBST_DOWNLOAD = re.compile(r"(?:<\(|\$\(|`)\s*(?:curl|wget)\b")


def is_secret_name(name: str) -> bool:
    return bool(_SECRET_NAME.search(name)) and not _SECRET_NAME_EXCLUDE.search(name)


def evidence(ins: Instruction) -> str:
    """The instruction on one line, with secret values masked, at most 200 characters."""
    if ins.cmd in ("ENV", "ARG"):
        pairs: list[tuple[str, str | None]] = list(
            parse_env(ins.args) if ins.cmd == "ENV" else parse_arg(ins.args)
        )
        shown = " ".join(
            n if v is None else f"{n}={'****' if is_secret_name(n) and v else v}" for n, v in pairs
        )
        text = f"{ins.cmd} {shown}"
    else:
        text = ins.text
    return text if len(text) <= 200 else text[:197] + "..."


def _subcommand(args: tuple[str, ...], valued: frozenset[str]) -> tuple[str, list[str], list[str]]:
    """(subcommand, options, operands) of a package-manager argv tail."""
    sub = ""
    opts: list[str] = []
    operands: list[str] = []
    skip = False
    for a in args:
        if skip:
            opts.append(a)
            skip = False
        elif a.startswith("-"):
            opts.append(a)
            skip = a in valued
        elif not sub:
            sub = a
        else:
            operands.append(a)
    return sub, opts, operands


_APT_VALUED = frozenset({"-o", "-t", "-c", "--option", "--target-release", "--config-file"})
_YUM_VALUED = frozenset(
    {
        "-c",
        "--config",
        "--setopt",
        "--enablerepo",
        "--disablerepo",
        "-x",
        "--exclude",
        "--installroot",
        "--releasever",
        "--repo",
    }
)


def _short_has(opts: list[str], letter: str) -> bool:
    return any(o.startswith("-") and not o.startswith("--") and letter in o[1:] for o in opts)


@dataclass
class RunInfo:
    ins: Instruction
    commands: list[Command]
    #: the shell text the commands came from (for text searches)
    script: str
    shell_form: bool
    posix_shell: bool
    cache_targets: list[str] = field(default_factory=list)
    secret_mount: bool = False

    def named(self, *names: str) -> list[tuple[Command, tuple[str, ...]]]:
        """Commands whose program (after sudo/env wrappers) is one of ``names``, with their
        unwrapped argv; ``python -m pip`` counts as ``pip``."""
        out = []
        for c in self.commands:
            eff = c.effective()
            if not eff:
                continue
            head = eff[0].rsplit("/", 1)[-1]
            if re.fullmatch(r"python[0-9.]*", head) and len(eff) > 2 and eff[1] == "-m":
                eff, head = eff[2:], eff[2]
            if re.fullmatch(r"pip[0-9.]*", head):
                head = "pip"
            if head in names:
                out.append((c, eff))
        return out

    def mentions(self, pattern: str) -> bool:
        return re.search(pattern, self.script) is not None

    def cached(self, path: str) -> bool:
        return any(
            t.rstrip("/").startswith(path) or path.startswith(t.rstrip("/"))
            for t in self.cache_targets
            if t
        )


_HEREDOC_MARK = re.compile(r"(?<![<\w])<<-?\s*([\"']?)[A-Za-z_][A-Za-z0-9_.-]*\1")


def _run_info(ins: Instruction, shell: list[str]) -> RunInfo:
    posix = is_posix_shell(shell)
    pipefail = shell_pipefail(shell)
    mounts = ins.flags.get("mount", [])
    targets: list[str] = []
    secret = False
    for m in mounts:
        opts = dict(p.partition("=")[::2] for p in m.split(","))
        if opts.get("type") == "cache":
            targets.append(opts.get("target") or opts.get("dst") or opts.get("destination", ""))
        if opts.get("type") == "secret":
            secret = True
    if ins.json_form is not None:
        argv = ins.json_form
        head = argv[0].rsplit("/", 1)[-1] if argv else ""
        if head in SHELLS and "-c" in argv[:-1]:
            script = argv[argv.index("-c") + 1]
            cmds = parse_shell(script, pipefail=shell_pipefail(argv))
        else:
            script = " ".join(argv)
            cmds = [Command(tuple(argv))] if argv else []
        return RunInfo(ins, cmds, script, False, posix, targets, secret)
    script = _HEREDOC_MARK.sub("", ins.args)
    cmds = parse_shell(script, pipefail=pipefail) if posix else []
    texts = [script]
    # RUN <<EOF (or RUN bash <<EOF): the heredoc is the script
    first = cmds[0].effective() if cmds else ()
    if (
        ins.heredocs
        and posix
        and (not cmds or (len(cmds) == 1 and first and first[0].rsplit("/", 1)[-1] in SHELLS))
    ):
        for body in ins.heredocs:
            if body.startswith("#!") and not re.match(r"#!\S*\b(ba|da|a|z|k)?sh\b", body):
                continue
            cmds += parse_shell(body, pipefail=pipefail)
            texts.append(body)
    return RunInfo(ins, cmds, "\n".join(texts), True, posix, targets, secret)


# --- the linter ------------------------------------------------------------------------


@dataclass
class Linter:
    df: Dockerfile
    path: str
    settings: CheckSettings
    findings: list[Finding] = field(default_factory=list)
    runs: dict[int, RunInfo] = field(default_factory=dict)

    def report(
        self, check: Check, ins: Instruction, *, severity: Severity | None = None, note: str = ""
    ) -> None:
        if not self.settings.active(check):
            return
        details = {"note": note} if note else None
        self.findings.append(
            check.finding(
                evidence(ins), path=self.path, line=ins.line, severity=severity, details=details
            )
        )

    def stage_runs(self, stage: Stage) -> list[RunInfo]:
        return [self.runs[id(i)] for i in stage.instructions if id(i) in self.runs]

    def final_lineage(self) -> list[Stage]:
        return self.df.lineage(self.df.final_stage)


def _prepare(lint: Linter) -> None:
    shells: dict[int, list[str]] = {}
    for stage in lint.df.stages:
        shell = (
            shells.get(stage.parent, ["/bin/sh", "-c"])
            if stage.parent is not None
            else ["/bin/sh", "-c"]
        )
        for ins in stage.instructions:
            if ins.cmd == "SHELL" and ins.json_form:
                shell = ins.json_form
            elif ins.cmd == "RUN":
                lint.runs[id(ins)] = _run_info(ins, shell)
        shells[stage.index] = shell


Rule = Callable[[Linter], None]
RULES: list[Rule] = []


def rule(fn: Rule) -> Rule:
    RULES.append(fn)
    return fn


@rule
def _from_rules(lint: Linter) -> None:
    seen_names: set[str] = set()
    trusted = lint.settings.trusted_registries
    for st in lint.df.stages:
        ins = (
            st.instructions[0]
            if st.instructions and st.instructions[0].cmd == "FROM"
            else next(i for i in lint.df.instructions if i.line == st.line)
        )
        if st.name:
            if st.name in seen_names:
                lint.report(DUP_STAGE, ins)
            seen_names.add(st.name)
        if st.platform and "$" not in st.platform:
            lint.report(PLATFORM_FLAG, ins)
        if st.parent is not None or st.unresolved or st.image.lower() == "scratch":
            continue
        name, tag, digest = parse_image(st.image)
        if tag == "latest":
            lint.report(FROM_LATEST, ins)
        elif tag is None and digest is None:
            lint.report(FROM_NO_TAG, ins)
        if digest is None:
            lint.report(FROM_NO_DIGEST, ins)
        if trusted:
            full = _normalize_image(name)
            if not any(
                full == t or full.startswith(t.rstrip("/") + "/")
                for t in (_normalize_registry(x) for x in trusted)
            ):
                lint.report(UNTRUSTED_REGISTRY, ins, note=f"registry of {full}")


def _normalize_image(name: str) -> str:
    first, _, rest = name.partition("/")
    if not rest:
        return f"docker.io/library/{name}"
    if "." in first or ":" in first or first == "localhost":
        return name if first != "index.docker.io" else "docker.io/" + rest
    return f"docker.io/{name}"


def _normalize_registry(text: str) -> str:
    return (
        "docker.io" + text[len("index.docker.io") :] if text.startswith("index.docker.io") else text
    )


def _is_root(user: str) -> bool:
    return user.split(":", 1)[0] in ("root", "0")


@rule
def _user_rules(lint: Linter) -> None:
    last: Instruction | None = None
    for st in lint.final_lineage():
        users = [i for i in st.instructions if i.cmd == "USER"]
        for u in users:
            if not re.fullmatch(r"\d+(:\d+)?|\$.*", u.args.strip()):
                lint.report(USER_NAME, u)
        if users:
            last = users[-1]
            break
    if last is not None:
        if _is_root(last.args.strip()):
            lint.report(USER_ROOT, last)
        return
    final = lint.final_lineage()[-1]
    _, tag, _ = parse_image(final.image)
    if "nonroot" in (tag or "") or "nonroot" in final.image.rsplit("/", 1)[-1]:
        return
    from_ins = next(i for i in lint.df.instructions if i.line == lint.df.final_stage.line)
    lint.report(
        USER_ROOT,
        from_ins,
        severity=Severity.MEDIUM,
        note="no USER instruction: the container runs as the base image's user (root)",
    )


def _each_run(lint: Linter) -> Iterable[tuple[Stage, RunInfo]]:
    for st in lint.df.stages:
        for r in lint.stage_runs(st):
            yield st, r


@rule
def _apt_rules(lint: Linter) -> None:
    final_ids = {s.index for s in lint.final_lineage()}
    for st, r in _each_run(lint):
        installs = False
        updates: list[Instruction] = []
        for c, eff in r.named("apt-get", "apt", "aptitude"):
            sub, opts, pkgs = _subcommand(eff[1:], _APT_VALUED)
            if eff[0].rsplit("/", 1)[-1] == "apt" and sub:
                lint.report(APT_NOT_APT_GET, r.ins)
            if sub == "update":
                updates.append(r.ins)
            elif sub in ("upgrade", "dist-upgrade", "full-upgrade"):
                installs = True
                lint.report(PKG_UPGRADE, r.ins)
            elif sub == "install":
                installs = True
                yes = (
                    _short_has(opts, "y")
                    or "--yes" in opts
                    or "--assume-yes" in opts
                    or "-qq" in opts
                    or any("assume-yes=true" in o.lower() for o in opts)
                    or (c.pipeline is not None and c.position > 0)
                )
                if not yes:
                    lint.report(APT_NO_YES, r.ins)
                norec = (
                    "--no-install-recommends" in opts
                    or any(re.search(r"(?i)install-recommends=(false|0)", o) for o in opts)
                    or _earlier_mentions(lint, st, r.ins, "Install-Recommends")
                )
                if not norec:
                    lint.report(APT_RECOMMENDS, r.ins)
                unpinned = [
                    p for p in pkgs if "=" not in p and not p.endswith(".deb") and "$" not in p
                ]
                if unpinned:
                    lint.report(APT_PIN, r.ins, note=", ".join(unpinned))
        if (
            (installs or updates)
            and st.index in final_ids
            and not (r.mentions(r"\brm\b[^;&|]*/var/lib/apt/lists") or r.cached("/var/lib/apt"))
        ):
            lint.report(APT_LISTS, r.ins)
        _update_alone(lint, r, updates, installs)


def _update_alone(lint: Linter, r: RunInfo, updates: list[Instruction], installs: bool) -> None:
    if updates and not installs:
        lint.report(UPDATE_ALONE, r.ins)


def _earlier_mentions(lint: Linter, stage: Stage, upto: Instruction, text: str) -> bool:
    for st in reversed(lint.df.lineage(stage)):
        for i in st.instructions:
            if i is upto:
                return False
            if text in i.args or any(text in h for h in i.heredocs):
                return True
    return False


@rule
def _apk_rules(lint: Linter) -> None:
    for _, r in _each_run(lint):
        added = False
        update = False
        for _c2, eff in r.named("apk"):
            sub, opts, pkgs = _subcommand(
                eff[1:], frozenset({"-X", "--repository", "-t", "--virtual", "-p", "--root"})
            )
            if sub == "update":
                update = True
            elif sub in ("add", "upgrade"):
                added = True
                if "--no-cache" not in opts and not (
                    r.cached("/var/cache/apk")
                    or r.cached("/etc/apk/cache")
                    or r.mentions(r"\brm\b[^;&|]*/var/cache/apk")
                ):
                    lint.report(APK_CACHE, r.ins)
                unpinned = [
                    p
                    for p in pkgs
                    if not re.search(r"[=<>~]", p) and "$" not in p and not p.startswith(".")
                ]
                if sub == "add" and unpinned:
                    lint.report(APK_PIN, r.ins, note=", ".join(unpinned))
        _update_alone(lint, r, [r.ins] if update else [], added)


@rule
def _rpm_rules(lint: Linter) -> None:
    for _, r in _each_run(lint):
        for tool, yes_check, clean_check in (
            ("yum", YUM_YES, YUM_CLEAN),
            ("dnf", DNF_YES, DNF_CLEAN),
            ("microdnf", DNF_YES, DNF_CLEAN),
        ):
            cmds = r.named(tool)
            installed = False
            cleaned = r.cached(f"/var/cache/{tool}") or r.mentions(
                rf"\brm\b[^;&|]*/var/cache/({tool}|dnf|yum)"
            )
            for _c2, eff in cmds:
                sub, opts, pkgs = _subcommand(eff[1:], _YUM_VALUED)
                if sub in (
                    "install",
                    "groupinstall",
                    "localinstall",
                    "reinstall",
                    "upgrade",
                    "update",
                ):
                    installed = True
                    if tool != "microdnf" and not (_short_has(opts, "y") or "--assumeyes" in opts):
                        lint.report(yes_check, r.ins)
                    unpinned = [
                        p for p in pkgs if not re.search(r"-\d|[=<>]|\.rpm$", p) and "$" not in p
                    ]
                    if sub == "install" and unpinned:
                        lint.report(YUM_PIN, r.ins, note=", ".join(unpinned))
                elif sub == "clean":
                    cleaned = True
            if installed and not cleaned:
                lint.report(clean_check, r.ins)
        installed = False
        cleaned = r.cached("/var/cache/zypp") or r.mentions(r"\brm\b[^;&|]*/var/cache/zypp")
        for _c2, eff in r.named("zypper"):
            sub, opts, pkgs = _subcommand(eff[1:], frozenset({"--root", "-R", "-D"}))
            if sub in ("install", "in", "update", "up", "dist-upgrade", "dup", "patch"):
                installed = True
                if not (
                    {"-n", "--non-interactive", "-y", "--no-confirm"} & set(opts)
                    or _short_has(opts, "n")
                    or _short_has(opts, "y")
                ):
                    lint.report(ZYPPER_YES, r.ins)
                unpinned = [p for p in pkgs if not re.search(r"[=<>]", p) and "$" not in p]
                if sub in ("install", "in") and unpinned:
                    lint.report(YUM_PIN, r.ins, note=", ".join(unpinned))
            elif sub in ("clean", "cc"):
                cleaned = True
        if installed and not cleaned:
            lint.report(ZYPPER_CLEAN, r.ins)


def _stage_env(lint: Linter, stage: Stage, upto: Instruction) -> dict[str, str]:
    env: dict[str, str] = {}
    for st in reversed(lint.df.lineage(stage)):
        for i in st.instructions:
            if i is upto:
                return env
            if i.cmd == "ENV":
                env.update(parse_env(i.args))
    return env


_PIN_SPEC = re.compile(r"==|>=|<=|~=|!=|===|@|<|>")


@rule
def _lang_rules(lint: Linter) -> None:
    final_ids = {s.index for s in lint.final_lineage()}
    for st, r in _each_run(lint):
        for _c2, eff in r.named("pip"):
            sub, opts, pkgs = _subcommand(
                eff[1:],
                frozenset(
                    {
                        "-r",
                        "--requirement",
                        "-c",
                        "--constraint",
                        "-e",
                        "--editable",
                        "-i",
                        "--index-url",
                        "-t",
                        "--target",
                        "--extra-index-url",
                        "--prefix",
                        "--root",
                    }
                ),
            )
            if sub != "install":
                continue
            env = _stage_env(lint, st, r.ins)
            if not (
                "--no-cache-dir" in opts
                or "PIP_NO_CACHE_DIR" in env
                or r.cached("/root/.cache/pip")
                or r.cached("/root/.cache")
                or any(t.endswith(".cache/pip") for t in r.cache_targets)
            ):
                lint.report(PIP_CACHE, r.ins)
            unpinned = [
                p
                for p in pkgs
                if not _PIN_SPEC.search(p)
                and "$" not in p
                and not p.startswith((".", "/", "git+", "http"))
                and not p.endswith((".whl", ".tar.gz", ".zip"))
            ]
            if unpinned:
                lint.report(PIP_PIN, r.ins, note=", ".join(unpinned))
        for _c2, eff in r.named("npm"):
            sub, opts, pkgs = _subcommand(eff[1:], frozenset({"--prefix", "-w", "--workspace"}))
            if sub not in ("install", "i", "add", "in", "isntall"):
                continue
            if not pkgs and st.index in final_ids:
                lint.report(NPM_INSTALL, r.ins)
            unpinned = [
                p
                for p in pkgs
                if "@" not in p.lstrip("@")
                and "$" not in p
                and not p.startswith((".", "/", "git", "http", "file:"))
                and not p.endswith((".tgz", ".tar.gz"))
            ]
            if unpinned:
                lint.report(NPM_PIN, r.ins, note=", ".join(unpinned))


@rule
def _run_rules(lint: Linter) -> None:
    final = lint.df.final_stage
    downloaders_by_stage: dict[int, set[str]] = {}
    for st, r in _each_run(lint):
        names = [c.effective()[0].rsplit("/", 1)[-1] for c in r.commands if c.effective()]
        raw_names = [c.name for c in r.commands]
        if "sudo" in raw_names:
            lint.report(SUDO, r.ins)
        if "cd" in names:
            lint.report(RUN_CD, r.ins)
        useless = sorted(set(names) & _USELESS)
        if useless:
            lint.report(USELESS_CMD, r.ins, note=", ".join(useless))
        downloaders_by_stage.setdefault(st.index, set()).update(set(names) & {"curl", "wget"})
        # curl ... | sh, and sh -c "$(curl ...)" / bash <(curl ...)
        pipes: dict[int, list[Command]] = {}
        for c in r.commands:
            if c.pipeline is not None:
                pipes.setdefault(c.pipeline, []).append(c)
        piped = any(
            any(
                a.effective()
                and a.effective()[0].rsplit("/", 1)[-1] in _DOWNLOADERS
                and b.position > a.position
                and b.effective()
                and b.effective()[0].rsplit("/", 1)[-1] in _INTERPRETERS
                for a in p
                for b in p
            )
            for p in pipes.values()
        )
        substituted = any(
            c.effective()
            and c.effective()[0].rsplit("/", 1)[-1] in SHELLS
            and any(_SUBST_DOWNLOAD.search(a) for a in c.effective()[1:])
            for c in r.commands
        )
        if piped or substituted:
            lint.report(CURL_PIPE_SH, r.ins)
        if (
            r.posix_shell
            and r.shell_form
            and any(c.in_pipeline and not c.pipefail for c in r.commands)
        ):
            lint.report(NO_PIPEFAIL, r.ins)
        if any(_world_writable_chmod(eff) for _c2, eff in r.named("chmod")):
            lint.report(CHMOD_777, r.ins)
        if st.index == final.index:
            tools: set[str] = set()
            for _c2, eff in r.named("apt-get", "apt", "apk", "yum", "dnf", "microdnf", "zypper"):
                sub, _opts, pkgs = _subcommand(eff[1:], _APT_VALUED | _YUM_VALUED)
                if sub in ("install", "add", "in", "groupinstall"):
                    tools |= {p.split("=")[0] for p in pkgs} & _BUILD_TOOLS
                    if "Development Tools" in " ".join(eff):
                        tools.add("Development Tools")
            removed = r.named("apt-get", "apk", "yum", "dnf")
            removes = any(
                _subcommand(e[1:], _APT_VALUED)[0]
                in ("purge", "remove", "del", "autoremove", "erase")
                for _c2, e in removed
            )
            if tools and not removes:
                lint.report(BUILD_TOOLS, r.ins, note=", ".join(sorted(tools)))
    for idx, tools in downloaders_by_stage.items():
        if len(tools) == 2:
            st = lint.df.stages[idx]
            for r in lint.stage_runs(st):
                if {"wget"} & {
                    c.effective()[0].rsplit("/", 1)[-1] for c in r.commands if c.effective()
                }:
                    lint.report(CURL_AND_WGET, r.ins)
                    break


def _world_writable_chmod(argv: tuple[str, ...]) -> bool:
    for a in argv[1:]:
        if re.fullmatch(r"0?[0-7]?[0-7][0-7][2367]", a):
            return True
        if re.fullmatch(r"[ugoa]*[ao][ugoa]*[+=][rwxXst]*w[rwxXst]*(,.*)?", a) or re.search(
            r"(^|,)[ugo]*[ao][ugo]*[+=][rwxXst]*w", a
        ):
            return True
    return False


@rule
def _instruction_rules(lint: Linter) -> None:
    for st in lint.df.stages:
        counts: dict[str, int] = {}
        workdir = any(i.cmd == "WORKDIR" for s in lint.df.lineage(st)[1:] for i in s.instructions)
        for ins in st.instructions:
            counts[ins.cmd] = counts.get(ins.cmd, 0) + 1
            if ins.cmd == "MAINTAINER":
                lint.report(MAINTAINER, ins)
            elif ins.cmd in ("CMD", "ENTRYPOINT"):
                if ins.json_form is None and ins.args.strip():
                    lint.report(SHELL_FORM_CMD, ins)
                if counts[ins.cmd] > 1:
                    lint.report(MULTI_CMD if ins.cmd == "CMD" else MULTI_ENTRYPOINT, ins)
            elif ins.cmd == "HEALTHCHECK" and counts[ins.cmd] > 1:
                lint.report(MULTI_HEALTHCHECK, ins)
            elif ins.cmd == "WORKDIR":
                workdir = True
                p = ins.args.strip().strip("\"'")
                if not re.match(r"^(/|\$|[A-Za-z]:[\\/]|\\)", p):
                    lint.report(WORKDIR_REL, ins)
            elif ins.cmd == "EXPOSE":
                _expose(lint, ins)
            elif ins.cmd in ("ENV", "ARG"):
                _secrets(lint, ins)
            elif ins.cmd in ("COPY", "ADD"):
                _copy_add(lint, st, ins, workdir)


def _expose(lint: Linter, ins: Instruction) -> None:
    for word in ins.args.split():
        port = word.split("/", 1)[0]
        if "$" in port:
            continue
        problem = port_problem(word)
        if problem == "range":
            lint.report(EXPOSE_RANGE, ins, note=word)
        elif problem == "ssh":
            lint.report(EXPOSE_SSH, ins)


def _secrets(lint: Linter, ins: Instruction) -> None:
    pairs: list[tuple[str, str | None]] = list(
        parse_env(ins.args) if ins.cmd == "ENV" else parse_arg(ins.args)
    )
    valued = [n for n, v in pairs if is_secret_name(n) and v]
    # a bare build argument: the value passed with --build-arg lands in the history
    bare = [n for n, v in pairs if is_secret_name(n) and v is None and ins.cmd == "ARG"]
    if valued:
        lint.report(SECRET_ENV, ins, note=", ".join(valued))
    elif bare:
        lint.report(SECRET_ENV, ins, severity=Severity.MEDIUM, note=", ".join(bare))


def _copy_add(lint: Linter, st: Stage, ins: Instruction, workdir: bool) -> None:
    if ins.json_form is not None:
        words = ins.json_form
    else:
        try:
            words = shlex.split(_HEREDOC_MARK.sub("HEREDOC", ins.args))
        except ValueError:
            words = ins.args.split()
    if len(words) < 2:
        return
    sources, dest = words[:-1], words[-1]
    chmod = ins.flag("chmod")
    if chmod and re.fullmatch(r"0?[0-7]?[0-7][0-7][2367]", chmod):
        lint.report(CHMOD_777, ins)
    if (
        not workdir
        and not re.match(r"^(/|\$|[A-Za-z]:[\\/]|\\)", dest)
        and ins.flag("from") is None
        and not ins.heredocs
    ):
        lint.report(COPY_REL_NO_WORKDIR, ins)
    if ins.cmd == "ADD":
        urls = [s for s in sources if _URL.search(s)]
        if (
            urls
            and ins.flag("checksum") is None
            and not any(s.endswith(".git") or s.startswith("git@") for s in urls)
        ):
            lint.report(ADD_URL, ins)
        if not ins.heredocs and any(not _URL.search(s) and not _ARCHIVE.search(s) for s in sources):
            lint.report(ADD_LOCAL, ins)
    ref = ins.flag("from")
    if ins.cmd == "COPY" and ref and "$" not in ref:
        target = lint.df.stage_by_ref(ref)
        if target is not None and target.index == st.index:
            lint.report(COPY_FROM_SELF, ins)
        elif target is not None and target.index > st.index:
            lint.report(COPY_FROM_UNKNOWN, ins, note="refers to a later stage")
        elif target is None and not re.search(r"[:/@.]", ref):
            lint.report(
                COPY_FROM_UNKNOWN,
                ins,
                note=f"no stage named {ref!r}; BuildKit would pull an image {ref!r}",
            )


@rule
def _healthcheck_rule(lint: Linter) -> None:
    if not any(i.cmd == "HEALTHCHECK" for s in lint.final_lineage() for i in s.instructions):
        final = lint.df.final_stage
        from_ins = next(i for i in lint.df.instructions if i.line == final.line)
        lint.report(NO_HEALTHCHECK, from_ins)


def run_rules(df: Dockerfile, path: str, settings: CheckSettings) -> list[Finding]:
    lint = Linter(df, path, settings)
    _prepare(lint)
    for fn in RULES:
        fn(lint)
    return lint.findings
