"""The contract every fuzz harness checks, and the one entry point they share.

A harness is a module ``fuzz/fuzz_<name>.py`` with ``test_one_input(data: bytes)`` that
feeds ``data`` to one parser and checks, beyond "no crash":

- only the documented error types escape (``allowed``); anything else is a bug;
- outputs stay bounded (``check_bounded``): a few bytes of input never turn into an
  unbounded number of packages, files or findings;
- no path escapes the root (``check_path``): every path a parser reports is normalized,
  relative and free of ``..``;
- a mutated digest-bearing input is refused (``mutate``: the harness flips a byte of the
  content a digest names and expects the parser's digest error).

Run as a script it fuzzes with atheris (coverage-guided, libFuzzer); with ``--replay
FILE|DIR...`` it runs the inputs once each without atheris, which is what the regression
tests and the coverage measurement use.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, TypeVar

import atheris

T = TypeVar("T")
FUZZ_DIR = Path(__file__).resolve().parent
SEEDS = FUZZ_DIR / "seeds"
#: inputs that once broke a contract; every harness replays its own in the test suite
REGRESSIONS = FUZZ_DIR / "regressions"


class ContractViolation(AssertionError):
    """A parser broke its contract on some input (the fuzzer reports it as a crash)."""


def replaying() -> bool:
    return "--replay" in sys.argv


def instrumented() -> AbstractContextManager[Any]:
    """Import hullscan's modules with atheris' coverage hooks when fuzzing (not on replay,
    where coverage.py measures the plain bytecode)."""
    if replaying() or os.environ.get("HULLSCAN_FUZZ_NO_INSTRUMENT"):
        return contextlib.nullcontext()
    return atheris.instrument_imports(include=["hullscan"])


#: between the parts of one input that stands for several documents (manifest, config, ...)
SEP = b"\n--8<--\n"


def scratch_dir(prefix: str) -> Path:
    """A directory for the files a harness writes per input: in memory where possible
    (some writers fsync, which on a disk would cost milliseconds per execution)."""
    import tempfile

    shm = "/dev/shm"
    base = shm if os.path.isdir(shm) and os.access(shm, os.W_OK) else None
    return Path(tempfile.mkdtemp(prefix=f"hullscan-fuzz-{prefix}-", dir=base))


def expect(fn: Callable[[], T], allowed: tuple[type[BaseException], ...]) -> T | None:
    """Run ``fn``; a documented error is a fine answer (None), anything else escapes."""
    try:
        return fn()
    except allowed:
        return None
    except (MemoryError, RecursionError) as e:  # the parser must bound its own input
        raise ContractViolation(f"unbounded: {type(e).__name__}") from e


def check_path(path: str, what: str = "path") -> None:
    if not isinstance(path, str):
        raise ContractViolation(f"{what} is not a string: {path!r}")
    if path.startswith("/") or "\x00" in path or ".." in path.split("/"):
        raise ContractViolation(f"{what} escapes the root: {path!r}")


def check_bounded(count: int, limit: int, what: str) -> None:
    if count > limit:
        raise ContractViolation(f"{what}: {count}, more than the bound {limit}")


def output_size(value: Any) -> int:
    return len(json.dumps(value, default=str, ensure_ascii=False))


def mutate(data: bytes, position: int) -> bytes:
    """``data`` with one byte flipped: same length, other digest."""
    i = position % len(data)
    return data[:i] + bytes([data[i] ^ 0x01]) + data[i + 1 :]


def os_release_layer() -> bytes:
    """A real one-file layer tar (``etc/os-release``), for harnesses that need a layer."""
    import io
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        data = b'ID=debian\nVERSION_ID="12"\n'
        info = tarfile.TarInfo("etc/os-release")
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


# -- running ---------------------------------------------------------------------------------


def _inputs(args: Iterable[str]) -> Iterator[Path]:
    for arg in args:
        p = Path(arg)
        if p.is_dir():
            yield from sorted(f for f in p.rglob("*") if f.is_file())
        elif p.is_file():
            yield p


def replay(test_one_input: Callable[[bytes], None], args: Iterable[str]) -> int:
    count = 0
    for path in _inputs(args):
        try:
            test_one_input(path.read_bytes())
        except BaseException:
            print(f"failing input: {path}", file=sys.stderr)
            raise
        count += 1
    print(f"replayed {count} inputs", file=sys.stderr)
    return count


def main(test_one_input: Callable[[bytes], None]) -> None:
    """``python fuzz_x.py [libFuzzer args] [CORPUS_DIR...]`` or ``--replay PATH...``."""
    if replaying():
        replay(test_one_input, [a for a in sys.argv[1:] if a != "--replay"])
        return
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
