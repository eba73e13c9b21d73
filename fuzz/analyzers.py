"""The contract of a layer analyzer (inventory, binaries, secrets): what one file's bytes
may turn into. Imported by harnesses inside their ``instrumented()`` block."""

from __future__ import annotations

import io
import json
from collections.abc import Callable

from hullscan.analyzer import Analyzer, AnalyzerInputError, AnalyzerResult
from hullscan.model import FileInfo, FileType

from contract import ContractViolation, check_bounded, check_path, expect, output_size

#: serialized output per input byte, plus a constant: parsers copy, they do not invent
RATIO = 64
SLACK = 64 * 1024


def run_analyzer(
    analyzer: Analyzer, path: str, data: bytes, *, mode: int = 0o755, ratio: int = RATIO
) -> AnalyzerResult | None:
    """Give ``data`` to ``analyzer`` as the file ``path``; check what comes back."""
    info = FileInfo(path, FileType.REG, len(data), mode)
    if not analyzer.required(path, info):
        return None  # a harness may pass inputs too small for the analyzer: not read
    result = expect(lambda: analyzer.analyze(path, info, io.BytesIO(data)), (AnalyzerInputError,))
    if result is None:
        return None
    check_result(result, len(data), ratio)
    return result


def check_result(result: AnalyzerResult, size: int, ratio: int = RATIO) -> None:
    doc = result.to_dict()
    check_bounded(output_size(doc), ratio * size + SLACK, "serialized result")
    check_bounded(len(result.packages), size + 16, "packages")
    for p in result.packages:
        for loc in p.locations:
            check_path(loc.path, f"{p.name} location")
    for name, paths in result.owned_files.items():
        for owned in paths:
            check_path(owned, f"file owned by {name}")
    for f in result.findings:
        if f.path is not None:
            check_path(f.path, f"finding {f.id}")
    # the per-layer cache stores results as JSON: what it reads back must be the same
    encoded = json.dumps(doc, separators=(",", ":")).encode("utf-8", "surrogateescape")
    again = AnalyzerResult.from_dict(json.loads(encoded)).to_dict()
    if again != doc:
        raise ContractViolation("result does not survive the cache's JSON round trip")


def harness(
    analyzer: Analyzer, paths: list[str], *, mode: int = 0o755, ratio: int = RATIO
) -> Callable[[bytes], None]:
    """A ``test_one_input`` for one analyzer: with several ``paths``, the input's first
    byte picks the file name (so one harness covers each file kind the parser reads)."""

    def test_one_input(data: bytes) -> None:
        if len(paths) > 1:
            if not data:
                return
            path, data = paths[data[0] % len(paths)], data[1:]
        else:
            path = paths[0]
        run_analyzer(analyzer, path, data, mode=mode, ratio=ratio)

    return test_one_input
