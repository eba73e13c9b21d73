"""Shell-form ``RUN`` commands as simple commands (argv lists).

``bashlex`` does the parsing; commands are collected across ``&&``, ``||``, ``;``,
pipes, subshells, ``if``/``for`` bodies, command substitutions and ``sh -c '...'``
(recursively). bashlex rejects some valid syntax (``case``, some expansions), so a
``shlex`` tokenizer takes over then, and a plain split after that: never an exception.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from typing import Any

import bashlex  # type: ignore[import-untyped]

SHELLS = frozenset({"sh", "bash", "ash", "dash", "zsh", "ksh", "busybox"})
#: wrappers that run the rest of the argv as a command
_WRAPPERS = frozenset(
    {
        "sudo",
        "env",
        "nohup",
        "time",
        "exec",
        "command",
        "nice",
        "su-exec",
        "gosu",
        "doas",
        "xargs",
        "stdbuf",
        "timeout",
        "chroot",
    }
)
_MAX_DEPTH = 5


@dataclass(frozen=True)
class Command:
    argv: tuple[str, ...]
    #: True if this command is one side of a ``|``
    in_pipeline: bool = False
    #: whether ``pipefail`` is on when this command runs
    pipefail: bool = False
    #: commands of the same pipeline share an id (None outside pipelines)
    pipeline: int | None = None
    #: position within its pipeline (0 = the first)
    position: int = 0

    @property
    def name(self) -> str:
        return self.argv[0].rsplit("/", 1)[-1] if self.argv else ""

    def effective(self) -> tuple[str, ...]:
        """The argv with wrappers (``sudo -E``, ``env A=1``, ``timeout 5``) removed."""
        return unwrap(self.argv)


def unwrap(argv: tuple[str, ...]) -> tuple[str, ...]:
    out = argv
    for _ in range(4):
        if not out:
            return out
        head = out[0].rsplit("/", 1)[-1]
        if head not in _WRAPPERS:
            return out
        rest = list(out[1:])
        while rest and (
            rest[0].startswith("-")
            or "=" in rest[0]
            or (head == "timeout" and rest[0][:1].isdigit())
        ):
            opt = rest.pop(0)
            if head == "sudo" and opt in ("-u", "-g") and rest:
                rest.pop(0)
        out = tuple(rest)
    return out


@dataclass
class _State:
    pipefail: bool
    next_pipeline: int = 0


def parse_shell(script: str, *, pipefail: bool = False) -> list[Command]:
    """The simple commands of ``script``; ``pipefail`` says if SHELL already enables it."""
    state = _State(pipefail=pipefail)
    out: list[Command] = []
    _parse(script, state, out, 0)
    return out


def _parse(script: str, state: _State, out: list[Command], depth: int) -> None:
    if depth > _MAX_DEPTH or not script.strip():
        return
    try:
        trees = bashlex.parse(script)
    except Exception:  # bashlex raises several error types, and sometimes worse
        _fallback(script, state, out, depth)
        return
    mark = len(out)
    try:
        for tree in trees:
            _walk(tree, state, out, depth, None, 0)
    except Exception:
        del out[mark:]
        _fallback(script, state, out, depth)


def _emit(
    argv: list[str],
    state: _State,
    out: list[Command],
    depth: int,
    pipeline: int | None,
    position: int,
) -> None:
    if not argv:
        return
    cmd = Command(tuple(argv), pipeline is not None, state.pipefail, pipeline, position)
    out.append(cmd)
    eff = cmd.effective()
    if not eff:
        return
    head = eff[0].rsplit("/", 1)[-1]
    if head == "set":
        _apply_set(eff[1:], state)
    elif head in SHELLS:
        args = list(eff[1:])
        if head == "busybox" and args and args[0] in SHELLS:
            args = args[1:]
        for j, a in enumerate(args):
            if a.startswith("-") and not a.startswith("--") and "c" in a[1:] and j + 1 < len(args):
                inner = _State(
                    pipefail=_has_pipefail_opts(args[: j + 1]) or False,
                    next_pipeline=state.next_pipeline + 1000,
                )
                _parse(args[j + 1], inner, out, depth + 1)
                state.next_pipeline = inner.next_pipeline
                break


def _has_pipefail_opts(args: list[str]) -> bool | None:
    """Read ``-o pipefail`` / ``+o pipefail`` (also in ``-euo pipefail``) from set/sh args."""
    result: bool | None = None
    for k, a in enumerate(args):
        if (
            len(a) > 1
            and a[0] in "-+"
            and a[1] != "-"
            and a.endswith("o")
            and k + 1 < len(args)
            and args[k + 1] == "pipefail"
        ):
            result = a[0] == "-"
    return result


def _apply_set(args: tuple[str, ...], state: _State) -> None:
    value = _has_pipefail_opts(list(args))
    if value is not None:
        state.pipefail = value


def _walk(
    node: Any, state: _State, out: list[Command], depth: int, pipeline: int | None, position: int
) -> None:
    kind = node.kind
    if kind == "command":
        argv: list[str] = []
        for part in node.parts:
            if part.kind == "word":
                if not argv and "=" in part.word and not part.word.startswith("="):
                    # a leading VAR=value assignment (bashlex may call it a word)
                    name = part.word.split("=", 1)[0]
                    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
                        _walk_substitutions(part, state, out, depth)
                        continue
                argv.append(part.word)
                _walk_substitutions(part, state, out, depth)
            elif part.kind == "assignment":
                _walk_substitutions(part, state, out, depth)
            elif part.kind == "redirect":
                target = getattr(part, "output", None)
                if target is not None and not isinstance(target, int):
                    _walk_substitutions(target, state, out, depth)
        _emit(argv, state, out, depth, pipeline, position)
    elif kind == "pipeline":
        pid = state.next_pipeline
        state.next_pipeline += 1
        pos = 0
        for part in node.parts:
            if part.kind == "pipe":
                continue
            _walk(part, state, out, depth, pid, pos)
            pos += 1
    elif kind in (
        "operator",
        "reservedword",
        "pipe",
        "word",
        "tilde",
        "parameter",
        "heredoc",
        "redirect",
    ):
        return
    else:  # list, compound, if, for, while, until, function: walk the children
        for attr in ("parts", "list"):
            for child in getattr(node, attr, None) or []:
                _walk(child, state, out, depth, pipeline, position)
        body = getattr(node, "body", None)
        if body is not None:
            _walk(body, state, out, depth, pipeline, position)


def _walk_substitutions(node: Any, state: _State, out: list[Command], depth: int) -> None:
    for part in getattr(node, "parts", None) or []:
        if part.kind in ("commandsubstitution", "processsubstitution"):
            sub = _State(pipefail=state.pipefail, next_pipeline=state.next_pipeline + 500)
            _walk(part.command, sub, out, depth + 1, None, 0)
            state.next_pipeline = sub.next_pipeline
        else:
            _walk_substitutions(part, state, out, depth)


_OPS = {"&&", "||", ";", "|", "&", "(", ")", ";;", "|&", "\n"}


def _fallback(script: str, state: _State, out: list[Command], depth: int) -> None:
    """Tokenize with shlex (punctuation-aware); a plain split if quoting is broken."""
    try:
        lex = shlex.shlex(script.replace("\n", " ; "), posix=True, punctuation_chars=";&|()")
        lex.whitespace_split = True
        lex.commenters = ""
        tokens = list(lex)
    except ValueError:
        tokens = re.split(r"\s+|(&&|\|\||[;|()])", script)
        tokens = [t for t in tokens if t]
    segments: list[tuple[list[str], str]] = []  # (argv, operator after it)
    current: list[str] = []
    for tok in tokens:
        if tok in _OPS or (tok and set(tok) <= set(";&|()")):
            segments.append((current, tok))
            current = []
        else:
            current.append(tok)
    segments.append((current, ""))
    pipeline: int | None = None
    position = 0
    previous_op = ""
    for argv, op in segments:
        if op in ("|", "|&") or previous_op in ("|", "|&"):
            if pipeline is None:
                pipeline, position = state.next_pipeline, 0
                state.next_pipeline += 1
            _emit(argv, state, out, depth, pipeline, position)
            position += 1
        else:
            _emit(argv, state, out, depth, None, 0)
        if op not in ("|", "|&"):
            pipeline = None
        previous_op = op


def shell_pipefail(shell: list[str] | None) -> bool:
    """Whether a ``SHELL ["/bin/bash", "-o", "pipefail", "-c"]`` enables pipefail."""
    return bool(shell) and bool(_has_pipefail_opts(list(shell or [])[1:]))


def is_posix_shell(shell: list[str] | None) -> bool:
    """False for SHELL ["pwsh", ...] / ["cmd", "/S", "/C"], where pipefail means nothing."""
    if not shell:
        return True
    head = shell[0].replace("\\", "/").rsplit("/", 1)[-1].lower().removesuffix(".exe")
    return head in SHELLS
