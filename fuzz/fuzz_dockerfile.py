"""Fuzz the Dockerfile parser, the shell parser behind RUN, and the lint rules over both."""

from __future__ import annotations

from contract import check_bounded, check_path, expect, instrumented, main, output_size

with instrumented():
    from hullscan.checks.dockerfile import lint_text
    from hullscan.checks.dockerfile.shell import parse_shell
    from hullscan.errors import HullscanError


def test_one_input(data: bytes) -> None:
    text = data.decode("utf-8", "replace")  # as lint_file reads it
    findings = expect(lambda: lint_text(text, "Dockerfile"), (HullscanError,))
    lines = text.count("\n") + 1
    for f in findings or ():
        if f.line is not None and not 1 <= f.line <= lines:
            raise AssertionError(f"{f.id} on line {f.line} of a {lines}-line file")
        check_path(f.path or "Dockerfile", f"finding {f.id}")
    check_bounded(
        output_size([f.to_dict() for f in findings or ()]), 64 * len(data) + 64 * 1024, "findings"
    )
    # RUN's shell form alone: every script parses to commands (or the fallback's words)
    commands = parse_shell(text)
    check_bounded(len(commands), len(text) + 1, "shell commands")


if __name__ == "__main__":
    main(test_one_input)
