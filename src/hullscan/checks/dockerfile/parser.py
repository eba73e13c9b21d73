"""A Dockerfile parser that follows BuildKit's frontend closely enough for linting.

It handles parser directives (``# escape=``, ``# syntax=``), line continuations with
the escape character (skipping comment and blank lines inside them, as BuildKit does),
heredocs (``<<EOF``, ``<<-EOF``, quoted delimiters, several per instruction), exec
(JSON) versus shell form, instruction flags, ``ARG`` before ``FROM`` with variable
substitution in ``FROM``, and multi-stage builds. It is lenient: only a file without
any ``FROM``, or with an instruction other than ``ARG`` before the first ``FROM``, is
an error (BuildKit refuses those too).
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field

from hullscan.errors import HullscanError

_DIRECTIVE = re.compile(r"^#\s*([A-Za-z][A-Za-z0-9_-]*)\s*=\s*(.*?)\s*$")
# <<EOF, <<-EOF, <<"EOF", <<'EOF' but not <<< (here-strings) nor 1<<2 (arithmetic)
_HEREDOC = re.compile(r"(?<![<\w])<<(-?)\s*([\"']?)([A-Za-z_][A-Za-z0-9_.-]*)\2")
_FLAG = re.compile(r"--([A-Za-z][A-Za-z0-9-]*)(?:=((?:\"[^\"]*\"|'[^']*'|\S)*))?(?:\s+|$)")
_VAR = re.compile(
    r"\\\$|\$(?:\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-+])([^}]*))?\}"
    r"|([A-Za-z_][A-Za-z0-9_]*))"
)

#: instructions whose arguments may carry heredocs (BuildKit 1.4+)
HEREDOC_COMMANDS = frozenset({"RUN", "COPY", "ADD"})
#: instructions whose arguments start with --flags
FLAG_COMMANDS = frozenset({"FROM", "RUN", "COPY", "ADD", "HEALTHCHECK"})
#: instructions that have an exec (JSON array) form
JSON_COMMANDS = frozenset(
    {"RUN", "CMD", "ENTRYPOINT", "SHELL", "COPY", "ADD", "VOLUME", "HEALTHCHECK"}
)


@dataclass
class Instruction:
    cmd: str
    args: str
    line: int
    end_line: int
    flags: dict[str, list[str]] = field(default_factory=dict)
    json_form: list[str] | None = None
    heredocs: list[str] = field(default_factory=list)
    #: the heredoc delimiters, in the order of ``heredocs``
    heredoc_names: list[str] = field(default_factory=list)
    #: the stage this instruction belongs to (-1 for ARGs before the first FROM)
    stage: int = -1

    def flag(self, name: str) -> str | None:
        """The last value given for ``--name`` (``""`` for a bare flag), else None."""
        values = self.flags.get(name)
        return values[-1] if values else None

    @property
    def text(self) -> str:
        """The instruction on one line, as a reader would quote it."""
        flags = " ".join(
            f"--{k}={v}" if v else f"--{k}" for k, vs in self.flags.items() for v in vs
        )
        body = " ".join(self.args.split())
        return " ".join(p for p in (self.cmd, flags, body) if p)


@dataclass
class Stage:
    index: int
    #: the ``AS`` name, lower-cased (stage names are case-insensitive); None if unnamed
    name: str | None
    #: the base image after substituting the global ARGs
    image: str
    image_raw: str
    #: True if a variable in FROM had no value (the base image is not known)
    unresolved: bool
    platform: str | None
    line: int
    #: the index of the earlier stage this one builds on, if any
    parent: int | None
    instructions: list[Instruction] = field(default_factory=list)


@dataclass
class Dockerfile:
    instructions: list[Instruction]
    stages: list[Stage]
    directives: dict[str, str]
    escape: str = "\\"
    #: comment text by line number (for inline suppressions)
    comments: dict[int, str] = field(default_factory=dict)
    #: ARGs declared before the first FROM, with their defaults
    global_args: dict[str, str | None] = field(default_factory=dict)

    def stage_by_ref(self, ref: str) -> Stage | None:
        """The stage a ``--from``/``FROM`` reference names (by name or index), if any."""
        ref_l = ref.lower()
        for s in self.stages:
            if s.name == ref_l:
                return s
        if ref.isdigit() and int(ref) < len(self.stages):
            return self.stages[int(ref)]
        return None

    @property
    def final_stage(self) -> Stage:
        return self.stages[-1]

    def lineage(self, stage: Stage) -> list[Stage]:
        """The stage and the stages it is built on, nearest first."""
        out = [stage]
        while out[-1].parent is not None and out[-1].parent not in [s.index for s in out]:
            out.append(self.stages[out[-1].parent])
        return out


def substitute(text: str, env: dict[str, str | None]) -> tuple[str, bool]:
    """Expand ``$VAR``, ``${VAR}``, ``${VAR:-default}``, ``${VAR:+alt}`` (and the forms
    without ``:``) like BuildKit. Returns the text and whether a variable was unset."""
    unresolved = False

    def repl(m: re.Match[str]) -> str:
        nonlocal unresolved
        if m.group(0) == "\\$":
            return "$"
        name = m.group(1) or m.group(4)
        op, word = m.group(2), m.group(3) or ""
        value = env.get(name)
        if op in (":-", "-"):
            if value is None or (op == ":-" and value == ""):
                return word
            return value
        if op in (":+", "+"):
            return word if value is not None and (op == "+" or value != "") else ""
        if value is None:
            unresolved = True
            return ""
        return value

    return _VAR.sub(repl, text), unresolved


def _split_flags(rest: str) -> tuple[dict[str, list[str]], str]:
    flags: dict[str, list[str]] = {}
    while rest.startswith("--"):
        m = _FLAG.match(rest)
        if not m:
            break
        value = m.group(2) or ""
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        flags.setdefault(m.group(1).lower(), []).append(value)
        rest = rest[m.end() :]
    return flags, rest


def _json_form(args: str) -> list[str] | None:
    s = args.strip()
    if not s.startswith("["):
        return None
    try:
        value = json.loads(s)
    except ValueError:
        return None
    if isinstance(value, list) and all(isinstance(x, str) for x in value):
        return value
    return None


def _read_heredocs(args: str, lines: list[str], i: int) -> tuple[list[str], list[str], int]:
    """Consume the bodies of the heredocs announced in ``args`` from ``lines[i:]``."""
    bodies: list[str] = []
    names: list[str] = []
    for m in _HEREDOC.finditer(args):
        strip_tabs, name = m.group(1) == "-", m.group(3)
        body: list[str] = []
        while i < len(lines):
            raw = lines[i]
            i += 1
            candidate = raw.lstrip("\t") if strip_tabs else raw
            if candidate.rstrip("\r") == name:
                break
            body.append(candidate)
        bodies.append("\n".join(body) + ("\n" if body else ""))
        names.append(name)
    return bodies, names, i


def _parse_directives(lines: list[str]) -> dict[str, str]:
    directives: dict[str, str] = {}
    for raw in lines:
        m = _DIRECTIVE.match(raw.strip())
        if not m:
            break
        key = m.group(1).lower()
        if key in directives:  # a repeated directive is treated as a comment
            break
        directives[key] = m.group(2)
    return directives


def parse(text: str, path: str = "Dockerfile") -> Dockerfile:
    """Parse Dockerfile ``text``; ``path`` is used in error messages only."""
    if text.startswith("\ufeff"):
        text = text[1:]
    lines = text.replace("\r\n", "\n").split("\n")
    directives = _parse_directives(lines)
    escape = directives.get("escape", "\\")
    if escape not in ("\\", "`"):
        escape = "\\"
    cont = re.compile(re.escape(escape) + r"[ \t]*$")

    instructions: list[Instruction] = []
    comments: dict[int, str] = {}
    i = 0
    while i < len(lines):
        raw = lines[i]
        stripped = raw.strip()
        i += 1
        if not stripped:
            continue
        if stripped.startswith("#"):
            comments[i] = stripped
            continue
        start = i
        parts: list[str] = []
        current = raw.lstrip()
        while True:
            m = cont.search(current)
            if not m or i >= len(lines):
                parts.append(current[: m.start()] if m else current)
                break
            parts.append(current[: m.start()])
            # comment lines and blank lines inside a continuation are dropped
            while i < len(lines) and (not lines[i].strip() or lines[i].lstrip().startswith("#")):
                if lines[i].strip():
                    comments[i + 1] = lines[i].strip()
                i += 1
            if i >= len(lines):
                break
            current = lines[i]
            i += 1
        logical = "".join(parts)
        end = i
        word, _, rest = logical.strip().partition(" ")
        if "\t" in word:
            word, _, more = word.partition("\t")
            rest = more + " " + rest
        cmd = word.upper()
        rest = rest.strip()
        flags: dict[str, list[str]] = {}
        if cmd in FLAG_COMMANDS:
            flags, rest = _split_flags(rest)
        json_form = _json_form(rest) if cmd in JSON_COMMANDS else None
        heredocs: list[str] = []
        names: list[str] = []
        if cmd in HEREDOC_COMMANDS and json_form is None and "<<" in rest:
            heredocs, names, i = _read_heredocs(rest, lines, i)
            end = i
        instructions.append(
            Instruction(
                cmd=cmd,
                args=rest,
                line=start,
                end_line=end,
                flags=flags,
                json_form=json_form,
                heredocs=heredocs,
                heredoc_names=names,
            )
        )
    return _build(instructions, directives, escape, comments, path)


def _build(
    instructions: list[Instruction],
    directives: dict[str, str],
    escape: str,
    comments: dict[int, str],
    path: str,
) -> Dockerfile:
    global_args: dict[str, str | None] = {}
    stages: list[Stage] = []
    for ins in instructions:
        if ins.cmd == "FROM":
            words = ins.args.split()
            raw_image = words[0] if words else ""
            name = words[2].lower() if len(words) >= 3 and words[1].lower() == "as" else None
            image, unresolved = substitute(raw_image, global_args)
            parent = None
            ref = image.lower()
            for s in stages:
                if s.name is not None and s.name == ref:
                    parent = s.index
            platform = ins.flag("platform")
            stages.append(
                Stage(
                    index=len(stages),
                    name=name,
                    image=image,
                    image_raw=raw_image,
                    unresolved=unresolved or not image,
                    platform=platform,
                    line=ins.line,
                    parent=parent,
                )
            )
        elif not stages:
            if ins.cmd != "ARG":
                raise HullscanError(
                    f"{path}:{ins.line}: {ins.cmd} before the first FROM "
                    "(only ARG may precede FROM)"
                )
            for name, value in parse_arg(ins.args):
                # a global ARG's default may refer to earlier global ARGs
                global_args[name] = None if value is None else substitute(value, global_args)[0]
            continue
        ins.stage = len(stages) - 1
        stages[-1].instructions.append(ins)
    if not stages:
        line = instructions[-1].line if instructions else 1
        raise HullscanError(f"{path}:{line}: no FROM instruction (not a Dockerfile?)")
    return Dockerfile(
        instructions=instructions,
        stages=stages,
        directives=directives,
        escape=escape,
        comments=comments,
        global_args=global_args,
    )


def _words(args: str) -> list[str]:
    try:
        return shlex.split(args, posix=True)
    except ValueError:
        return args.split()


def parse_arg(args: str) -> list[tuple[str, str | None]]:
    """``ARG A B=1`` → [("A", None), ("B", "1")]."""
    out: list[tuple[str, str | None]] = []
    for w in _words(args):
        name, eq, value = w.partition("=")
        out.append((name, value if eq else None))
    return out


def parse_env(args: str) -> list[tuple[str, str]]:
    """``ENV A=1 B="x y"`` and the legacy ``ENV A some value`` → [(name, value)]."""
    words = _words(args)
    if not words:
        return []
    if "=" not in words[0]:
        name, _, value = args.strip().partition(" ")
        return [(name, " ".join(_words(value)) if value.strip() else "")]
    out = []
    for w in words:
        name, _, value = w.partition("=")
        out.append((name, value))
    return out


def parse_image(ref: str) -> tuple[str, str | None, str | None]:
    """Split an image reference into (name, tag, digest)."""
    name, _, digest = ref.partition("@")
    last = name.rsplit("/", 1)[-1]
    tag = None
    if ":" in last:
        tag = last.split(":", 1)[1]
        name = name[: len(name) - len(tag) - 1]
    return name, tag, digest or None
